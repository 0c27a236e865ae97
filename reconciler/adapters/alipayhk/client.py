"""The typed AlipayHK iPass client: `create_template` and `create_pass`, correct to the byte.

Retry rules (the only automatic repeats; everything else goes back to the caller):

* Not sent (connection refused, DNS failure, connect timeout): repeated up to
  `connect_attempts` times with exponential backoff, each attempt re-signed with a fresh
  Request-Time. A TLS certificate failure is not repeated: it will not fix itself.
* HTTP 429: repeated after `Retry-After` (default: the backoff) when that fits under
  `max_retry_after` and the overall deadline, up to `rate_limit_attempts` in all. Safe because a
  429 says the request was refused, not processed; the repeat carries the same body and key.
* REQUEST_TRAFFIC_EXCEED_LIMIT: *not* repeated. The vendor documents it with status U ("unknown"),
  so it is raised as `RateLimited`, an outcome-unknown error, and the caller decides.
* Anything after the request was sent: never repeated here. The caller may retry, always with the
  same idempotency key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import NoReturn, Self
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.adapters.alipayhk.encryption import (
    ENCRYPT_HEADER,
    SCHEME,
    EncryptionError,
    decrypt_body,
    encrypt_body,
)
from reconciler.adapters.alipayhk.errors import (
    CallContext,
    HtmlResponse,
    IdempotencyKey,
    MalformedResponse,
    NotSent,
    RateLimited,
    ResponseNotVerified,
    ServerError,
    UnexpectedRedirect,
    UnexpectedStatus,
    vendor_text,
)
from reconciler.adapters.alipayhk.results import (
    Body,
    PassCreated,
    TemplateCreated,
    parse_envelope,
    pass_created,
    raise_for_result,
    template_created,
)
from reconciler.adapters.alipayhk.signing import (
    RsaSha256Signer,
    SignatureError,
    Signer,
    parse_timestamp,
    verify_response,
)
from reconciler.adapters.alipayhk.transport import (
    RawResponse,
    SignedRequestAuth,
    Timeouts,
    make_session,
    parse_retry_after,
    send_once,
)
from reconciler.domain.contract.codes import ResultStatus
from reconciler.domain.contract.endpoints import CREATE_PASS_PATH, CREATE_TEMPLATE_PATH
from reconciler.domain.contract.envelope import PassCreatedBody, ResultBody, TemplateCreatedBody
from reconciler.domain.contract.identifiers import is_loopback_host
from reconciler.errors import InvalidInput

log = logging.getLogger("ipass." + __name__.rsplit(".", 1)[-1])

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    client_id: str
    key_version: int | None
    signer: Signer
    platform_public_key: rsa.RSAPublicKey
    encrypt: bool = False
    encrypt_key_version: int | None = None
    connect_timeout: float = 5
    read_timeout: float = 30
    deadline: float = 60
    response_time_window: timedelta = timedelta(minutes=5)
    max_response_bytes: int = 1_048_576
    connect_attempts: int = 3
    rate_limit_attempts: int = 3
    max_retry_after: float = 10
    backoff: float = 0.25

    def __post_init__(self) -> None:
        _check_base_url(self.base_url)
        if not self.client_id or not self.client_id.isprintable() or " " in self.client_id:
            raise InvalidInput("client_id must be the non-empty Client-Id issued by AlipayHK")
        for name in ("key_version", "encrypt_key_version"):
            version = getattr(self, name)
            if version is not None and version < 0:
                raise InvalidInput(f"{name} must be a non-negative integer, not {version}")
        for name in ("connect_timeout", "read_timeout", "deadline", "max_retry_after"):
            if not getattr(self, name) > 0:
                raise InvalidInput(f"{name} must be a positive number of seconds")
        if self.response_time_window <= timedelta(0):
            raise InvalidInput("response_time_window must be positive")
        if (
            self.max_response_bytes <= 0
            or self.connect_attempts < 1
            or self.rate_limit_attempts < 1
        ):
            raise InvalidInput("max_response_bytes and the attempt counts must be at least 1")
        if self.encrypt and not isinstance(self.signer, RsaSha256Signer):
            raise InvalidInput("RSA_AES encryption needs an RSA merchant key to decrypt responses")


def _check_base_url(base_url: str) -> None:
    parts = urlsplit(base_url)
    if parts.query or parts.fragment or parts.username or parts.password or not parts.hostname:
        raise InvalidInput(f"base_url {base_url!r} must be scheme://host[:port][/prefix] only")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return  # the local sandbox and tests; nothing leaves the machine
    raise InvalidInput(
        f"base_url {base_url!r} must use https (plain http only for loopback)",
        hint="use https://open.alipay.hk or https://business.dl.alipaydev.com",
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ServerTime:
    """A response's `Response-Time` and this machine's clock when the response arrived.

    Taken before the response is verified: when verification failed, the time is only what the
    other side claims. `allowed` is the skew beyond which this client refuses a response.
    """

    response_time: datetime
    received_at: datetime
    allowed: timedelta

    @property
    def skew(self) -> timedelta:
        """How far the server's clock is ahead of this machine's (negative: behind)."""
        return self.response_time - self.received_at

    @property
    def within_allowed(self) -> bool:
        return abs(self.skew) <= self.allowed


class AlipayClient:
    """Signed, verified, bounded calls to createTemplate and createPass.

    Thread-safe for concurrent calls when the session's pool is sized for the workers
    (`make_session(workers=N)`). `close()` closes the session only if the client made it.
    """

    def __init__(
        self,
        config: ClientConfig,
        session: requests.Session | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        sleep: Callable[[float], None] = time.sleep,
        workers: int = 1,
    ) -> None:
        if session is not None and session.trust_env:
            raise ValueError("session.trust_env must be False; build sessions with make_session()")
        self._config = config
        self._owns_session = session is None
        # `workers` threads may call at once: the pool keeps a connection for each.
        self._session = make_session(workers=workers) if session is None else session
        self._clock = clock
        self._sleep = sleep
        self._base_url = config.base_url.rstrip("/")
        self._auth = SignedRequestAuth(
            config.signer, client_id=config.client_id, key_version=config.key_version, clock=clock
        )
        signer = config.signer
        self._decrypt_key = signer.private_key if isinstance(signer, RsaSha256Signer) else None
        self._last_server_time: ServerTime | None = None

    @property
    def last_server_time(self) -> ServerTime | None:
        """The `Response-Time` of the latest response received (None: none yet, or unreadable)."""
        return self._last_server_time

    def create_template(self, body: bytes, *, request_id: str) -> TemplateCreated:
        context = CallContext("createTemplate", IdempotencyKey("requestId", request_id))
        answer, tracer_id = self._call(CREATE_TEMPLATE_PATH, body, context, TemplateCreatedBody)
        return template_created(answer, context, tracer_id)

    def create_pass(self, body: bytes, *, biz_serial_id: str) -> PassCreated:
        context = CallContext("createPass", IdempotencyKey("bizSerialId", biz_serial_id))
        answer, tracer_id = self._call(CREATE_PASS_PATH, body, context, PassCreatedBody)
        return pass_created(answer, context, tracer_id)

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- one logical call ------------------------------------------------------------------

    def _call(
        self, path: str, body: bytes, context: CallContext, model: type[Body]
    ) -> tuple[Body, str | None]:
        if not isinstance(body, bytes):
            raise TypeError("body must be the exact canonical JSON bytes")
        config = self._config
        timeouts = Timeouts(
            connect=config.connect_timeout,
            read=config.read_timeout,
            deadline_at=time.monotonic() + config.deadline,
        )
        payload, headers = self._payload(body)
        url = self._base_url + path
        not_sent = rate_limited = 0
        while True:
            try:
                raw = send_once(
                    self._session,
                    url=url,
                    body=payload,
                    headers=headers,
                    auth=self._auth,
                    timeouts=timeouts,
                    max_bytes=config.max_response_bytes,
                    context=context,
                )
            except NotSent as exc:
                not_sent += 1
                self._wait_or_give_up(exc, not_sent, timeouts)
                continue
            self._last_server_time = self._server_time(raw)
            if raw.status != 429:
                return self._interpret(raw, context, model)
            rate_limited += 1
            self._wait_or_raise_rate_limited(raw, rate_limited, timeouts, context)

    def _server_time(self, raw: RawResponse) -> ServerTime | None:
        header = raw.headers.get("Response-Time")
        if not header:
            return None
        try:
            response_time = parse_timestamp(header)
        except SignatureError:
            return None
        return ServerTime(response_time, self._clock(), self._config.response_time_window)

    def _wait_or_give_up(self, exc: NotSent, attempts: int, timeouts: Timeouts) -> None:
        """Back off before repeating a request that never left, or raise the final `NotSent`."""
        delay = self._config.backoff * 2 ** (attempts - 1)
        if (
            not exc.retryable
            or attempts >= self._config.connect_attempts
            or not self._fits(delay, timeouts)
        ):
            raise NotSent(
                exc.context, reason=exc.reason, attempts=attempts, retryable=exc.retryable
            ) from None
        log.warning("%s: not sent (%s); retrying in %.2fs", exc.context, exc.reason, delay)
        self._sleep(delay)

    def _wait_or_raise_rate_limited(
        self, raw: RawResponse, attempts: int, timeouts: Timeouts, context: CallContext
    ) -> None:
        """HTTP 429: wait as asked (within the cap and the deadline), or raise `RateLimited`."""
        config = self._config
        retry_after = parse_retry_after(raw.headers.get("Retry-After"), self._clock())
        delay = config.backoff * 2 ** (attempts - 1) if retry_after is None else retry_after
        if (
            attempts >= config.rate_limit_attempts
            or delay > config.max_retry_after
            or not self._fits(delay, timeouts)
        ):
            raise RateLimited(
                context,
                detail=f"HTTP 429 ({attempts} attempts)",
                retry_after=retry_after,
                tracer_id=raw.tracer_id,
                http_status=429,
            )
        log.warning("%s: HTTP 429; retrying in %.2fs as asked", context, delay)
        self._sleep(delay)

    def _fits(self, delay: float, timeouts: Timeouts) -> bool:
        return time.monotonic() + delay < timeouts.deadline_at

    def _payload(self, body: bytes) -> tuple[bytes, dict[str, str]]:
        config = self._config
        if not config.encrypt:
            return body, {"Content-Type": JSON_CONTENT_TYPE}
        ciphertext, encrypt_header = encrypt_body(
            body, config.platform_public_key, config.encrypt_key_version
        )
        return ciphertext, {"Content-Type": SCHEME.content_type, ENCRYPT_HEADER: encrypt_header}

    # -- reading the answer ----------------------------------------------------------------

    def _interpret(
        self, raw: RawResponse, context: CallContext, model: type[Body]
    ) -> tuple[Body, str | None]:
        status, tracer_id = raw.status, raw.tracer_id
        if 300 <= status < 400:
            location = vendor_text(raw.headers.get("Location", "?"))
            raise UnexpectedRedirect(
                context,
                detail=f"HTTP {status} to {location}",
                tracer_id=tracer_id,
                http_status=status,
            )
        if status >= 500:
            raise ServerError(
                context, detail=f"HTTP {status}", tracer_id=tracer_id, http_status=status
            )
        if status != 200:
            self._raise_for_other(raw, context)
        if _looks_like_html(raw):
            raise HtmlResponse(
                context,
                detail=f"Content-Type {vendor_text(raw.headers.get('Content-Type', '-'))}",
                tracer_id=tracer_id,
                http_status=status,
            )
        plaintext = self._verified_plaintext(raw, context)
        try:
            answer = parse_envelope(plaintext, model)
        except ValueError as exc:
            raise MalformedResponse(
                context, detail=str(exc), tracer_id=tracer_id, http_status=status
            ) from None
        retry_header = raw.headers.get("Retry-After")
        retry_after = parse_retry_after(retry_header, self._clock()) if retry_header else None
        raise_for_result(
            answer.result, context, tracer_id=tracer_id, http_status=status, retry_after=retry_after
        )
        return answer, tracer_id

    def _raise_for_other(self, raw: RawResponse, context: CallContext) -> NoReturn:
        """A 4xx other than 429 counts as a rejection only if it carries a verified `F` result."""
        unexpected = UnexpectedStatus(
            context, detail=f"HTTP {raw.status}", tracer_id=raw.tracer_id, http_status=raw.status
        )
        try:
            answer = parse_envelope(self._verified_plaintext(raw, context), ResultBody)
        except (ResponseNotVerified, MalformedResponse, ValueError):
            raise unexpected from None
        if answer.result.resultStatus is not ResultStatus.F:
            raise unexpected
        raise_for_result(
            answer.result,
            context,
            tracer_id=raw.tracer_id,
            http_status=raw.status,
            retry_after=None,
        )
        raise unexpected

    def _verified_plaintext(self, raw: RawResponse, context: CallContext) -> bytes:
        config = self._config
        failure = ""
        try:
            verify_response(
                config.platform_public_key,
                path=raw.path,
                client_id=config.client_id,
                headers=raw.headers,
                body=raw.body,
                now=self._clock(),
                window=config.response_time_window,
            )
        except SignatureError as exc:
            failure = str(exc)
        if failure:
            raise ResponseNotVerified(
                context, detail=failure, tracer_id=raw.tracer_id, http_status=raw.status
            )
        encrypt_header = raw.headers.get(ENCRYPT_HEADER)
        if not encrypt_header:
            return raw.body
        if self._decrypt_key is None:
            failure = "encrypted response, but no RSA merchant key to decrypt it"
        else:
            try:
                return decrypt_body(raw.body, encrypt_header, self._decrypt_key)
            except EncryptionError as exc:
                failure = str(exc)
        raise MalformedResponse(
            context, detail=failure, tracer_id=raw.tracer_id, http_status=raw.status
        )


def _looks_like_html(raw: RawResponse) -> bool:
    content_type = raw.headers.get("Content-Type", "").lower()
    return "html" in content_type or raw.body.lstrip()[:1] == b"<"
