"""createTemplate and createPass as AlipayHK answers them, over the sandbox's store.

The field rules are the shared ones (`reconciler.domain.contract.rules`), the same code the client
runs at plan time. What only a server can know (existing templates, users, serial numbers,
idempotency) is checked here, inside the caller's transaction, in this order:

- createTemplate: merchant of the caller, requestId replay (same body: the original answer; other
  body: PARAM_ILLEGAL), then the field rules, then the insert.
- createPass: merchant of the caller, the field rules, template exists for this merchant, `type`,
  `product`, the user, `bizSerialId` unused, then the insert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from reconciler.adapters.sandbox.records import UserRecord
from reconciler.adapters.sandbox.store import Transaction
from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.contract.codes import MESSAGES, ResultCode, Violation
from reconciler.domain.contract.envelope import (
    PassCreatedBody,
    ResultBody,
    ResultInfo,
    TemplateCreatedBody,
)
from reconciler.domain.contract.passes import PassRequest
from reconciler.domain.contract.rules import check_pass_request, check_template_request

TEMPLATE_STATUS_ON_CREATE: Final = "valid"


@dataclass(frozen=True)
class Caller:
    """The authenticated client a request came from."""

    client_id: str
    merchant_id: str | None


@dataclass(frozen=True)
class Outcome:
    """The answer to one request: the response body, and the idempotency key it concerned."""

    response: ResultBody
    key: str | None = None  # requestId / bizSerialId, for the request log

    @classmethod
    def of(cls, code: ResultCode, message: str | None = None, *, key: str | None = None) -> Outcome:
        """An answer that carries only its result: every refusal, and U."""
        return cls(ResultBody.answer(code, message or MESSAGES[code]), key)

    @classmethod
    def template_created(cls, template_code: str, status: str, *, key: str) -> Outcome:
        body = TemplateCreatedBody(
            result=ResultInfo.of(ResultCode.SUCCESS), templateCode=template_code, status=status
        )
        return cls(body, key)

    @classmethod
    def pass_created(cls, pass_id: str, *, key: str) -> Outcome:
        return cls(PassCreatedBody(result=ResultInfo.of(ResultCode.SUCCESS), passId=pass_id), key)

    @property
    def code(self) -> ResultCode:
        return ResultCode(self.response.result.resultCode)  # the sandbox answers known codes only

    @property
    def message(self) -> str:
        return self.response.result.resultMessage


def _text(data: Mapping[str, object], name: str) -> str | None:
    value = data.get(name)
    return value if isinstance(value, str) else None


def _rejected(violations: tuple[Violation, ...], key: str | None) -> Outcome:
    message = "; ".join(f"{_where(v)}{v.message}" for v in violations)
    return Outcome.of(violations[0].code, message, key=key)


def _where(violation: Violation) -> str:
    loc = ".".join(str(part) for part in violation.loc)
    return f"{loc}: " if loc else ""


def _foreign_merchant(caller: Caller, merchant_id: str | None) -> Outcome | None:
    if caller.merchant_id is None or merchant_id is None or merchant_id == caller.merchant_id:
        return None
    return Outcome.of(
        ResultCode.ACCESS_DENIED,
        f"merchantId {merchant_id} is not the merchant of client {caller.client_id}",
    )


def create_template(
    tx: Transaction, caller: Caller, data: Mapping[str, object], body: str, *, now_ms: int
) -> Outcome:
    merchant_id = _text(data, "merchantId")
    request_id = _text(data, "requestId")
    denied = _foreign_merchant(caller, merchant_id)
    if denied is not None:
        return denied
    body_sha256 = sha256_hex(canonical_json(data))
    if merchant_id is not None and request_id is not None:
        # Before the rules: a replay must get its original answer even after startDate passed.
        existing = tx.template_by_request(merchant_id, request_id)
        if existing is not None:
            if existing.body_sha256 != body_sha256:
                return Outcome.of(
                    ResultCode.PARAM_ILLEGAL,
                    f"requestId {request_id} was already used with a different body",
                    key=request_id,
                )
            return Outcome.template_created(existing.template_code, existing.status, key=request_id)
    checked = check_template_request(data, now_ms=now_ms)
    if checked.value is None or checked.violations:
        return _rejected(checked.violations, request_id)
    request = checked.value
    code = tx.insert_template(
        merchant_id=request.merchantId,
        request_id=request.requestId,
        client_id=caller.client_id,
        type=str(request.type),
        product=str(request.product),
        status=TEMPLATE_STATUS_ON_CREATE,
        body_sha256=body_sha256,
        body=body,
        at_ms=now_ms,
    )
    return Outcome.template_created(code, TEMPLATE_STATUS_ON_CREATE, key=request.requestId)


def create_pass(
    tx: Transaction, caller: Caller, data: Mapping[str, object], body: str, *, now_ms: int
) -> Outcome:
    serial = _text(data, "bizSerialId")
    denied = _foreign_merchant(caller, _text(data, "merchantId"))
    if denied is not None:
        return denied
    checked = check_pass_request(data)
    if checked.value is None or checked.violations:
        return _rejected(checked.violations, serial)
    request = checked.value
    user = _pass_preconditions(tx, request)
    if isinstance(user, Outcome):
        return user
    pass_id = tx.insert_pass(
        merchant_id=request.merchantId,
        biz_serial_id=request.bizSerialId,
        template_code=request.templateCode,
        user_id=user.user_id,
        client_id=caller.client_id,
        type=str(request.type),
        product=str(request.product),
        body=body,
        at_ms=now_ms,
    )
    return Outcome.pass_created(pass_id, key=request.bizSerialId)


def _pass_preconditions(tx: Transaction, request: PassRequest) -> UserRecord | Outcome:
    """The user to issue to, or the refusal: the checks only the server's data can make."""
    serial = request.bizSerialId
    template = tx.template_kind(request.templateCode, request.merchantId)
    if template is None:
        return Outcome.of(ResultCode.PASS_TEMPLATE_HAS_NOT_EXIT, key=serial)
    if str(request.type) != template.type:
        return Outcome.of(
            ResultCode.PASS_TYPE_NOT_MATCH,
            f"type {request.type} differs from the template's {template.type}",
            key=serial,
        )
    if str(request.product) != template.product:
        return Outcome.of(
            ResultCode.PASS_PRODUCT_TYPE_NOT_MATCH,
            f"product {request.product} differs from the template's {template.product}",
            key=serial,
        )
    user = tx.user(user_id=request.userId, open_id=request.openId)
    if user is None:
        return Outcome.of(ResultCode.USER_NOT_EXIST, key=serial)
    if tx.pass_exists(request.merchantId, serial):
        return Outcome.of(ResultCode.PASS_HAS_EXIST, key=serial)
    return user
