"""The response envelope: verified bytes -> the contract's response model -> a value or an error.

Only called on bodies whose signature has been verified; the bytes are parsed, never re-encoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError

from reconciler.adapters.alipayhk.errors import (
    CallContext,
    MalformedResponse,
    RateLimited,
    Rejected,
    ResultUnknown,
)
from reconciler.domain.contract.codes import ResultCode, ResultStatus, describe, shown
from reconciler.domain.contract.envelope import (
    PassCreatedBody,
    ResultBody,
    ResultInfo,
    TemplateCreatedBody,
)

Body = TypeVar("Body", bound=ResultBody)


@dataclass(frozen=True)
class TemplateCreated:
    template_code: str
    # The vendor documents `status` but not its value on create; None when it is absent, rather
    # than losing a template code we do have.
    status: str | None
    tracer_id: str | None


@dataclass(frozen=True)
class PassCreated:
    pass_id: str
    tracer_id: str | None


class EnvelopeError(ValueError):
    """The body is not the JSON envelope; the message is safe to show."""


def parse_envelope(body: bytes, model: type[Body]) -> Body:
    """Parse the JSON envelope as `model`; raise `EnvelopeError` if it is not one."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise EnvelopeError(f"body is not JSON ({len(body)} bytes)") from None
    if not isinstance(data, dict):
        raise EnvelopeError(f"body is JSON {type(data).__name__}, not an object")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise EnvelopeError(_not_an_envelope(error)) from None


def _not_an_envelope(error: ValidationError) -> str:
    """What is wrong, without repeating more than a few characters of what AlipayHK sent."""
    first = error.errors(include_url=False)[0]
    loc = first["loc"]
    if loc == ("result", "resultStatus"):
        value = first["input"]
        if first["type"] == "missing":
            status = "missing"
        else:
            status = shown(value) if isinstance(value, str) else describe(value)
        return f"resultStatus is {status}, not S, F or U"
    if loc[:1] == ("result",):
        return "body has no result object (result / resultInfo)"
    where = ".".join(str(part) for part in loc)
    return f"body is not the response envelope ({where}: {first['type']})"


def raise_for_result(
    result: ResultInfo,
    context: CallContext,
    *,
    tracer_id: str | None,
    http_status: int,
    retry_after: float | None,
) -> None:
    """Return on `S`; raise `Rejected` on `F`, `RateLimited` / `ResultUnknown` on `U`.

    REQUEST_TRAFFIC_EXCEED_LIMIT is documented with status U, so whatever its status it is
    reported as `RateLimited`, an outcome-unknown error, and never retried automatically.
    """
    if result.code is ResultCode.REQUEST_TRAFFIC_EXCEED_LIMIT:
        raise RateLimited(
            context,
            detail=f"{result.resultCode} (status {result.resultStatus})",
            retry_after=retry_after,
            tracer_id=tracer_id,
            http_status=http_status,
        )
    if result.resultStatus is ResultStatus.S:
        return
    if result.resultStatus is ResultStatus.F:
        raise Rejected(
            context,
            result_code=result.resultCode,
            result_message=result.resultMessage,
            tracer_id=tracer_id,
            http_status=http_status,
        )
    raise ResultUnknown(
        context,
        result_code=result.resultCode,
        result_message=result.resultMessage,
        tracer_id=tracer_id,
        http_status=http_status,
    )


def template_created(
    body: TemplateCreatedBody, context: CallContext, tracer_id: str | None
) -> TemplateCreated:
    code = _required_id(body.templateCode, "templateCode", context, tracer_id)
    return TemplateCreated(code, body.status, tracer_id)


def pass_created(body: PassCreatedBody, context: CallContext, tracer_id: str | None) -> PassCreated:
    return PassCreated(_required_id(body.passId, "passId", context, tracer_id), tracer_id)


def _required_id(value: str | None, name: str, context: CallContext, tracer_id: str | None) -> str:
    if value is not None and value.strip():
        return value
    # Success without the ID: something was created and we cannot say what. Outcome unknown.
    raise MalformedResponse(
        context,
        detail=f"result S but no {name} in the response",
        tracer_id=tracer_id,
        http_status=200,
    )
