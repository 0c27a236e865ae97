"""Bounded HTTP for signed creates: one session factory, one signer, one send.

Decisions (RELIABILITY.md invariant 10):

* TLS verification is always on: every request passes ``verify=True`` explicitly, which wins
  over whatever a session says, so there is no switch to turn it off.
* ``trust_env`` is off: ``HTTPS_PROXY``, ``REQUESTS_CA_BUNDLE`` and ``.netrc`` in the
  environment cannot redirect or re-anchor signed traffic. Sessions with ``trust_env`` on are
  refused by the client. (A deployment that must use a proxy needs an explicit setting added
  here, reviewed as such.)
* No redirects (the adapter sends; `Session.send` is bypassed) and no urllib3 retries
  (``max_retries=0``): the one retry loop is the client's, and it only repeats requests that
  provably never left.
* ``Accept-Encoding: identity``: the body signed is the body received, and a small compressed
  response cannot expand past the size cap.
* The body is streamed with ``read1`` so a slow drip cannot hold a read open past the overall
  deadline; reading stops at ``max_bytes``.
* Cookies are never stored or sent back.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

import requests
import urllib3.exceptions as u3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.util.ssl_match_hostname import CertificateError

from reconciler import __version__
from reconciler.adapters.alipayhk.errors import (
    AmbiguousOutcome,
    CallContext,
    ConnectionLost,
    NotSent,
    ResponseTimeout,
    ResponseTooLarge,
    TruncatedResponse,
)
from reconciler.adapters.alipayhk.signing import (
    Signer,
    content_to_sign,
    format_timestamp,
    sign_content,
)

USER_AGENT = f"ipass/{__version__} python-requests/{requests.__version__}"
_READ_CHUNK = 64 * 1024


def make_session(*, workers: int = 1) -> requests.Session:
    """The one way to build a session for AlipayHK; the pool keeps one connection per worker."""
    session = requests.Session()
    session.trust_env = False
    session.verify = True
    session.headers.update(
        {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "identity"}
    )
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(1, workers), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class SignedRequestAuth(requests.auth.AuthBase):
    """Adds Client-Id, Request-Time and Signature over the exact prepared body.

    `requests` calls it on every prepare, so each attempt is signed with a fresh Request-Time.
    """

    def __init__(
        self,
        signer: Signer,
        *,
        client_id: str,
        key_version: int | None,
        clock: Callable[[], datetime],
    ) -> None:
        self._signer = signer
        self._client_id = client_id
        self._key_version = key_version
        self._clock = clock

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body
        if not isinstance(body, bytes):
            raise TypeError("signed requests need the exact body as bytes")
        timestamp = format_timestamp(self._clock())
        content = content_to_sign(r.path_url, self._client_id, timestamp, body)
        r.headers["Client-Id"] = self._client_id
        r.headers["Request-Time"] = timestamp
        r.headers["Signature"] = sign_content(self._signer, self._key_version, content)
        return r


@dataclass(frozen=True)
class Timeouts:
    connect: float
    read: float
    deadline_at: float  # time.monotonic() value after which nothing more is attempted


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: CaseInsensitiveDict[str]
    body: bytes = field(repr=False)
    path: str  # the path that was signed, for the response signature

    @property
    def tracer_id(self) -> str | None:
        return self.headers.get("Tracer-Id") or None


def send_once(
    session: requests.Session,
    *,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    auth: requests.auth.AuthBase,
    timeouts: Timeouts,
    max_bytes: int,
    context: CallContext,
) -> RawResponse:
    """POST once and read the whole (capped) body. Raises `NotSent` or an `AmbiguousOutcome`."""
    remaining = timeouts.deadline_at - time.monotonic()
    if remaining <= 0:
        raise NotSent(
            context, reason="overall deadline reached before sending", attempts=1, retryable=False
        )
    # Prepared by the session (its headers, then our auth signs the exact body), but sent by the
    # adapter directly: `Session.send` would read a whole 3xx body to look for a redirect, with
    # no size cap, and would merge proxy settings we do not want.
    prepared = session.prepare_request(
        requests.Request("POST", url, data=body, headers=dict(headers), auth=auth)
    )
    try:
        response = session.get_adapter(url).send(
            prepared,
            stream=True,
            timeout=(min(timeouts.connect, remaining), min(timeouts.read, remaining)),
            verify=True,
            proxies={},
        )
    except requests.RequestException as exc:
        raise _classify_send_failure(exc, context) from exc
    with response:
        tracer_id = response.headers.get("Tracer-Id") or None
        data = _read_body(response, timeouts, max_bytes, context, tracer_id)
        return RawResponse(
            status=response.status_code,
            headers=response.headers,
            body=data,
            path=response.request.path_url,
        )


def _classify_send_failure(exc: requests.RequestException, context: CallContext) -> Exception:
    causes = list(_causes(exc))
    if any(isinstance(c, ssl.SSLCertVerificationError | CertificateError) for c in causes):
        # The handshake failed, so no request bytes were written; repeating will not help.
        return NotSent(
            context, reason="TLS certificate verification failed", attempts=1, retryable=False
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _never_connected(causes):
        reason = "connection refused or host not found"
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            reason = "connect timed out"
        return NotSent(context, reason=reason, attempts=1, retryable=True)
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return ResponseTimeout(context, detail="no response within the read timeout")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return ConnectionLost(context, detail=_short(causes[-1]))
    return AmbiguousOutcome(context, detail=f"transport error {type(exc).__name__}")


def _never_connected(causes: list[BaseException]) -> bool:
    # NewConnectionError (refused, unreachable, DNS failure) and ConnectTimeoutError are raised
    # while opening the socket, before urllib3 writes a byte of the request.
    return any(isinstance(c, u3.NewConnectionError | u3.ConnectTimeoutError) for c in causes)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack and len(seen) < 32:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        linked = [*current.args, reason, current.__cause__, current.__context__]
        stack.extend(item for item in linked if isinstance(item, BaseException))


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:120]}" if str(exc) else type(exc).__name__


def _read_body(
    response: requests.Response,
    timeouts: Timeouts,
    max_bytes: int,
    context: CallContext,
    tracer_id: str | None,
) -> bytes:
    status = response.status_code
    declared = _content_length(response.headers)
    if declared is not None and declared > max_bytes:
        raise ResponseTooLarge(
            context,
            detail=f"Content-Length {declared} exceeds the {max_bytes}-byte cap",
            tracer_id=tracer_id,
            http_status=status,
        )
    raw = response.raw
    chunks: list[bytes] = []
    total = 0
    while True:
        remaining = timeouts.deadline_at - time.monotonic()
        if remaining <= 0:
            raise ResponseTimeout(
                context,
                detail=f"overall deadline passed while reading the response ({total} bytes in)",
                tracer_id=tracer_id,
                http_status=status,
            )
        _set_read_timeout(raw, min(timeouts.read, remaining))
        try:
            chunk = raw.read1(_READ_CHUNK, decode_content=False)
        except u3.ReadTimeoutError:
            late = time.monotonic() >= timeouts.deadline_at
            raise ResponseTimeout(
                context,
                detail=(
                    f"overall deadline passed while reading the response ({total} bytes in)"
                    if late
                    else f"response body stalled ({total} bytes in)"
                ),
                tracer_id=tracer_id,
                http_status=status,
            ) from None
        except u3.ProtocolError as exc:
            if any(isinstance(c, http.client.IncompleteRead) for c in _causes(exc)):
                raise TruncatedResponse(
                    context,
                    detail=f"body ended early ({total} bytes of {declared or 'chunked'})",
                    tracer_id=tracer_id,
                    http_status=status,
                ) from None
            raise ConnectionLost(
                context, detail="while reading the body", tracer_id=tracer_id, http_status=status
            ) from None
        except (u3.HTTPError, OSError):
            raise ConnectionLost(
                context, detail="while reading the body", tracer_id=tracer_id, http_status=status
            ) from None
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise ResponseTooLarge(
                context,
                detail=f"body exceeds the {max_bytes}-byte cap",
                tracer_id=tracer_id,
                http_status=status,
            )
        chunks.append(chunk)
        if total == declared:
            break  # complete: urllib3 has already handed the connection back to the pool
    if declared is not None and total != declared:
        raise TruncatedResponse(
            context,
            detail=f"body has {total} bytes, Content-Length says {declared}",
            tracer_id=tracer_id,
            http_status=status,
        )
    return b"".join(chunks)


def _content_length(headers: Mapping[str, str]) -> int | None:
    value = headers.get("Content-Length")
    if value is None:
        return None
    try:
        return max(0, int(value.strip()))
    except ValueError:
        return None


def _set_read_timeout(raw: object, seconds: float) -> None:
    """Shrink the socket timeout to what is left of the deadline (urllib3 resets it on reuse)."""
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.utcoffset() is None:
        return None
    return max(0.0, (when - now).total_seconds())
