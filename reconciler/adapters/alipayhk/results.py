"""The response envelope: `result` (or `resultInfo`) -> success value or a typed error.

Only called on bodies whose signature has been verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from reconciler.adapters.alipayhk.errors import (
    CallContext,
    MalformedResponse,
    RateLimited,
    Rejected,
    ResultUnknown,
)

TRAFFIC_LIMIT_CODE = "REQUEST_TRAFFIC_EXCEED_LIMIT"


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


@dataclass(frozen=True)
class Envelope:
    result_status: str
    result_code: str
    result_message: str
    fields: dict[str, Any] = field(repr=False)


def parse_envelope(body: bytes) -> Envelope:
    """Parse the JSON envelope; raise `EnvelopeError` if it is not one."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise EnvelopeError(f"body is not JSON ({len(body)} bytes)") from None
    if not isinstance(data, dict):
        raise EnvelopeError(f"body is JSON {type(data).__name__}, not an object")
    result = data.get("result")
    if result is None:
        result = data.get("resultInfo")
    if not isinstance(result, dict):
        raise EnvelopeError("body has no result object (result / resultInfo)")
    status = result.get("resultStatus")
    if status not in ("S", "F", "U"):
        raise EnvelopeError(f"resultStatus is {status!r}, not S, F or U")
    return Envelope(
        result_status=status,
        result_code=str(result.get("resultCode", "")),
        result_message=str(result.get("resultMessage", "")),
        fields=data,
    )


def raise_for_result(
    envelope: Envelope,
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
    if envelope.result_code == TRAFFIC_LIMIT_CODE:
        raise RateLimited(
            context,
            detail=f"{TRAFFIC_LIMIT_CODE} (status {envelope.result_status})",
            retry_after=retry_after,
            tracer_id=tracer_id,
            http_status=http_status,
        )
    if envelope.result_status == "S":
        return
    if envelope.result_status == "F":
        raise Rejected(
            context,
            result_code=envelope.result_code,
            result_message=envelope.result_message,
            tracer_id=tracer_id,
            http_status=http_status,
        )
    raise ResultUnknown(
        context,
        result_code=envelope.result_code,
        result_message=envelope.result_message,
        tracer_id=tracer_id,
        http_status=http_status,
    )


def template_created(
    envelope: Envelope, context: CallContext, tracer_id: str | None
) -> TemplateCreated:
    code = _required_id(envelope, "templateCode", context, tracer_id)
    status = envelope.fields.get("status")
    return TemplateCreated(code, status if isinstance(status, str) else None, tracer_id)


def pass_created(envelope: Envelope, context: CallContext, tracer_id: str | None) -> PassCreated:
    return PassCreated(_required_id(envelope, "passId", context, tracer_id), tracer_id)


def _required_id(envelope: Envelope, name: str, context: CallContext, tracer_id: str | None) -> str:
    value = envelope.fields.get(name)
    if isinstance(value, str) and value.strip():
        return value
    # Success without the ID: something was created and we cannot say what. Outcome unknown.
    raise MalformedResponse(
        context,
        detail=f"result S but no {name} in the response",
        tracer_id=tracer_id,
        http_status=200,
    )
