"""What can go wrong when calling AlipayHK, sorted by what the caller must do next.

* `Rejected` / `NotSent` (`VendorRejected`, exit 4): AlipayHK definitely did not act on the
  request. Fix the cause; creating again is safe.
* `AmbiguousOutcome` and its subclasses (`OutcomeUnknown`, exit 5): the request left this machine
  and AlipayHK may have acted on it. Never treat these as failures: reconcile, or retry with the
  *same* idempotency key.

Every error carries the operation, the idempotency key and the Tracer-Id when one came back, and
nothing secret: no key material, no headers, no signatures, no response bodies.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.domain.contract.codes import ResultCode
from reconciler.errors import OutcomeUnknown, VendorRejected

_MAX_VENDOR_TEXT = 300


@dataclass(frozen=True)
class IdempotencyKey:
    """The field that makes a create safe to repeat: `requestId` or `bizSerialId`."""

    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}={self.value}"


@dataclass(frozen=True)
class CallContext:
    """Which call an error belongs to; every error message starts with it."""

    operation: str
    key: IdempotencyKey

    def __str__(self) -> str:
        return f"{self.operation} ({self.key})"


def vendor_text(text: object) -> str:
    """Vendor-supplied text made safe to print: one line, no control characters, bounded."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in str(text))
    if len(cleaned) > _MAX_VENDOR_TEXT:
        cleaned = cleaned[:_MAX_VENDOR_TEXT] + "..."
    return cleaned


def _tracer_note(tracer_id: str | None) -> str:
    return f" [Tracer-Id {vendor_text(tracer_id)}]" if tracer_id else ""


class Rejected(VendorRejected):
    """Result status `F`: AlipayHK refused the request and did not act on it."""

    def __init__(
        self,
        context: CallContext,
        *,
        result_code: str,
        result_message: str,
        tracer_id: str | None,
        http_status: int,
    ) -> None:
        self.context = context
        self.result_code = vendor_text(result_code)
        self.result_message = vendor_text(result_message)
        self.tracer_id = tracer_id
        self.http_status = http_status
        code = ResultCode.known(self.result_code)
        if code is not None and code.is_credential_refusal:
            hint = (
                "check the Client-Id, the merchant key and its keyVersion registered in the "
                "AlipayHK console"
            )
        elif code is ResultCode.PASS_HAS_EXIST:
            hint = (
                f"a pass with {context.key} already exists; if an earlier attempt's outcome was "
                "unknown, it probably succeeded"
            )
        else:
            hint = "fix the request; creating again with the same content will be refused again"
        super().__init__(
            f"{context}: AlipayHK rejected the request: {self.result_code}: "
            f"{self.result_message}{_tracer_note(tracer_id)}",
            hint=hint,
        )


class NotSent(VendorRejected):
    """The request provably never left this machine (refused, DNS, connect timeout, TLS)."""

    def __init__(
        self, context: CallContext, *, reason: str, attempts: int, retryable: bool
    ) -> None:
        self.context = context
        self.reason = reason
        self.attempts = attempts
        self.retryable = retryable
        super().__init__(
            f"{context}: request not sent ({self.detail})",
            hint="nothing reached AlipayHK; check the base URL and the network, then run again",
        )

    @property
    def detail(self) -> str:
        """Why and after how many attempts, without the call (the message adds that)."""
        plural = "attempt" if self.attempts == 1 else "attempts"
        return f"{self.reason}; {self.attempts} {plural}"


class AmbiguousOutcome(OutcomeUnknown):
    """The request was sent and may have taken effect; the base of every 'outcome unknown'."""

    what = "outcome unknown"

    def __init__(
        self,
        context: CallContext,
        *,
        detail: str,
        tracer_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.context = context
        self.detail = detail
        self.tracer_id = tracer_id
        self.http_status = http_status
        super().__init__(
            f"{context}: {self.reason}",
            hint=(
                "AlipayHK may have acted on this request. Do not treat it as failed: reconcile, "
                f"or retry only with the same {context.key}"
            ),
        )

    @property
    def idempotency_key(self) -> IdempotencyKey:
        return self.context.key

    @property
    def reason(self) -> str:
        """What happened, without the call it happened to (the message adds that)."""
        return f"{self.what}: {self.detail}{_tracer_note(self.tracer_id)}"


class ResultUnknown(AmbiguousOutcome):
    """Result status `U` (for example UNKNOWN_EXCEPTION)."""

    what = "AlipayHK answered with result status U"

    def __init__(
        self,
        context: CallContext,
        *,
        result_code: str,
        result_message: str,
        tracer_id: str | None,
        http_status: int,
    ) -> None:
        self.result_code = vendor_text(result_code)
        self.result_message = vendor_text(result_message)
        super().__init__(
            context,
            detail=f"{self.result_code}: {self.result_message}",
            tracer_id=tracer_id,
            http_status=http_status,
        )


class RateLimited(AmbiguousOutcome):
    """HTTP 429 after the allowed waits, or result code REQUEST_TRAFFIC_EXCEED_LIMIT.

    It sits under 'outcome unknown' on purpose: REQUEST_TRAFFIC_EXCEED_LIMIT is documented with
    status U, so AlipayHK does not promise the request was not processed.
    """

    what = "rate limited by AlipayHK"

    def __init__(
        self,
        context: CallContext,
        *,
        detail: str,
        retry_after: float | None,
        tracer_id: str | None,
        http_status: int,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(context, detail=detail, tracer_id=tracer_id, http_status=http_status)


class ServerError(AmbiguousOutcome):
    """HTTP 5xx."""

    what = "AlipayHK answered with a server error"


class UnexpectedRedirect(AmbiguousOutcome):
    """HTTP 3xx: never followed, because the create was already sent to the first address."""

    what = "AlipayHK answered with a redirect (not followed)"


class UnexpectedStatus(AmbiguousOutcome):
    """Any other HTTP status that is not 200 and carries no verified rejection."""

    what = "unexpected HTTP status"


class ResponseTimeout(AmbiguousOutcome):
    """The read timeout or the overall deadline passed after the request was sent."""

    what = "timed out after the request was sent"


class ConnectionLost(AmbiguousOutcome):
    """The connection was reset or closed after the request was sent."""

    what = "connection lost after the request was sent"


class TruncatedResponse(AmbiguousOutcome):
    """The body ended before its declared length (or its last chunk)."""

    what = "truncated response"


class ResponseTooLarge(AmbiguousOutcome):
    """The body exceeded the response-size cap; reading stopped there."""

    what = "response too large"


class MalformedResponse(AmbiguousOutcome):
    """A signed body that is not the JSON envelope expected (not JSON, wrong shape, no ID)."""

    what = "malformed response"


class HtmlResponse(MalformedResponse):
    """An HTML page where AlipayHK JSON was expected (a proxy, portal or error page)."""

    what = "HTML page instead of an AlipayHK response"


class ResponseNotVerified(AmbiguousOutcome):
    """Missing or bad response signature, or a Response-Time outside the allowed window."""

    what = "response failed verification"
