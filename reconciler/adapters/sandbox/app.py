"""The sandbox as a WSGI application: AlipayHK's two iPass paths plus a loopback-only admin path.

Per request, in order: route (`INVALID_API`), method (`METHOD_NOT_SUPPORTED`), content type
(`MEDIA_TYPE_NOT_ACCEPTABLE`), gateway checks (`INVALID_CLIENT`, `INVALID_SIGNATURE`,
`KEY_NOT_FOUND`, Request-Time window), faults, decryption, JSON, then the operation and its
request-log row in one transaction. Every answer is HTTP 200 with a signed `result` object,
except the faults that exist to break that promise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from werkzeug.http import parse_options_header

from reconciler.adapters.sandbox import operations
from reconciler.adapters.sandbox.errors import SandboxError
from reconciler.adapters.sandbox.faults import (
    NO_FAULT,
    FaultDecision,
    FaultInjector,
    FaultKind,
    FaultPlan,
)
from reconciler.adapters.sandbox.gateway import Gateway, Refusal, Verified
from reconciler.adapters.sandbox.ids import iso_timestamp
from reconciler.adapters.sandbox.operations import Outcome
from reconciler.adapters.sandbox.records import RequestLogEntry
from reconciler.adapters.sandbox.store import SandboxStore, Transaction
from reconciler.domain.contract.codes import ResultCode
from reconciler.domain.contract.endpoints import CREATE_PASS_PATH, CREATE_TEMPLATE_PATH

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = logging.getLogger("ipass." + __name__.rsplit(".", 1)[-1])

ADMIN_FAULTS_PATH: Final = "/__sandbox/faults"
ADMIN_HEALTH_PATH: Final = "/__sandbox/health"
MAX_BODY_BYTES: Final = 1_048_576
_STATUS_TEXT: Final = {
    200: "200 OK",
    403: "403 Forbidden",
    404: "404 Not Found",
    400: "400 Bad Request",
    405: "405 Method Not Allowed",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
}
_HTML_500: Final = (
    b"<html><head><title>500 Internal Server Error</title></head>"
    b"<body><h1>Internal Server Error</h1></body></html>"
)
_JSON_TYPES: Final = frozenset({"application/json"})
_ENCRYPTED_TYPES: Final = frozenset({"text/plain", "application/json"})
_UTF8: Final = frozenset({"utf-8", "utf8"})

Operation = Callable[[Transaction, operations.Caller, Mapping[str, object], str], Outcome]


def _create_template(
    tx: Transaction, caller: operations.Caller, data: Mapping[str, object], body: str
) -> Outcome:
    return operations.create_template(tx, caller, data, body, now_ms=_now_ms())


def _create_pass(
    tx: Transaction, caller: operations.Caller, data: Mapping[str, object], body: str
) -> Outcome:
    return operations.create_pass(tx, caller, data, body, now_ms=_now_ms())


OPERATIONS: Final[Mapping[str, Operation]] = {
    CREATE_TEMPLATE_PATH: _create_template,
    CREATE_PASS_PATH: _create_pass,
}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DropConnection(ConnectionAbortedError):
    """Raised after the socket was shut: werkzeug treats it as a dropped connection, silently."""


@dataclass
class _Exchange:
    """What one request has established so far (for the answer and the request-log row)."""

    environ: WSGIEnvironment
    path: str
    received: datetime
    started: float = field(default_factory=time.perf_counter)
    client_id: str = ""
    verified: Verified | None = None
    faults: FaultDecision = NO_FAULT

    def log_entry(self, outcome: Outcome | None, http_status: int) -> RequestLogEntry:
        return RequestLogEntry(
            received_at=iso_timestamp(int(self.received.timestamp() * 1000)),
            remote_addr=str(self.environ.get("REMOTE_ADDR", "")),
            method=str(self.environ.get("REQUEST_METHOD", "")),
            path=self.path,
            client_id=self.client_id or None,
            idempotency_key=None if outcome is None else outcome.key,
            result_code=None if outcome is None else str(outcome.code),
            http_status=http_status,
            faults=self.faults.label,
            elapsed_ms=round((time.perf_counter() - self.started) * 1000, 3),
        )


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def is_loopback_peer(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class SandboxApp:
    """The WSGI callable. Thread-safe: state lives in the store, the gateway and the injector."""

    def __init__(
        self,
        store: SandboxStore,
        gateway: Gateway,
        faults: FaultInjector,
        *,
        stopping: threading.Event | None = None,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.faults = faults
        # Set on shutdown so injected sleeps end early instead of holding the server open.
        self._stopping = stopping or threading.Event()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/__sandbox/"):
            reply = self._admin(environ, path)
        else:
            reply = self._vendor(environ, path)
        start_response(
            _STATUS_TEXT.get(reply.status, f"{reply.status} Status"),
            [*reply.headers, ("Content-Length", str(len(reply.body)))],
        )
        return [reply.body]

    # -- the vendor paths ---------------------------------------------------------------------

    def _vendor(self, environ: WSGIEnvironment, path: str) -> _Reply:
        exchange = _Exchange(environ, path, datetime.now(UTC))
        try:
            return self._handle(exchange)
        except Refusal as refusal:
            return self._answer(exchange, refusal.outcome, log_separately=True)
        except DropConnection:
            raise
        except Exception:
            log.exception("sandbox: unexpected error on %s", path)
            outcome = Outcome.of(ResultCode.UNKNOWN_EXCEPTION, "sandbox internal error")
            return self._answer(exchange, outcome, log_separately=True)

    def _handle(self, exchange: _Exchange) -> _Reply:
        environ, path = exchange.environ, exchange.path
        operation = OPERATIONS.get(path)
        exchange.client_id = str(environ.get("HTTP_CLIENT_ID", "")).strip()
        if operation is None:
            raise Refusal(Outcome.of(ResultCode.INVALID_API, f"no API at {path}"))
        if environ.get("REQUEST_METHOD") != "POST":
            raise Refusal(Outcome.of(ResultCode.METHOD_NOT_SUPPORTED))
        encrypt = environ.get("HTTP_ENCRYPT")
        _check_content_type(str(environ.get("CONTENT_TYPE", "")), encrypted=encrypt is not None)
        body = _read_body(environ)
        exchange.verified = verified = self.gateway.authenticate(
            path=path,
            client_id=exchange.client_id,
            request_time=environ.get("HTTP_REQUEST_TIME"),
            signature=environ.get("HTTP_SIGNATURE"),
            encrypt=encrypt,
            body=body,
            now=exchange.received,
        )
        exchange.faults = faults = self.faults.decide(path)
        if faults.latency_s:
            self._stopping.wait(faults.latency_s)
        early = faults.outcome
        if early is not None and not early.after_commit and early.kind in _EARLY:
            return self._early_fault(exchange, early.kind, early.seconds, early.http_status)
        data, text = _parse_json(verified.body)
        with self.store.transaction() as tx:
            outcome = operation(tx, verified.caller, data, text)
            tx.log_request(exchange.log_entry(outcome, _status_sent_after_commit(faults)))
        return self._after_commit(exchange, outcome)

    def _early_fault(
        self, exchange: _Exchange, kind: FaultKind, seconds: float, http_status: int
    ) -> _Reply:
        if kind is FaultKind.HTTP_500:
            self.store.log_request(exchange.log_entry(None, 500))
            return _Reply(500, [("Content-Type", "text/html; charset=UTF-8")], _HTML_500)
        if kind is FaultKind.RATE_LIMIT:
            outcome = Outcome.of(ResultCode.REQUEST_TRAFFIC_EXCEED_LIMIT)
            reply = self._answer(exchange, outcome, log_separately=True, status=http_status)
            retry_after = str(max(1, round(seconds)))
            return _Reply(reply.status, [*reply.headers, ("Retry-After", retry_after)], reply.body)
        outcome = Outcome.of(ResultCode.UNKNOWN_EXCEPTION)
        return self._answer(exchange, outcome, log_separately=True)

    def _after_commit(self, exchange: _Exchange, outcome: Outcome) -> _Reply:
        fault = exchange.faults.outcome
        if fault is None:
            return self._answer(exchange, outcome)
        if fault.kind is FaultKind.DROP_AFTER_COMMIT:
            _drop(exchange.environ)
        elif fault.kind is FaultKind.SLOW_AFTER_COMMIT:
            self._stopping.wait(fault.seconds)
        elif fault.kind is FaultKind.HTTP_500:
            return _Reply(500, [("Content-Type", "text/html; charset=UTF-8")], _HTML_500)
        elif fault.kind is FaultKind.UNKNOWN_EXCEPTION:
            outcome = Outcome.of(ResultCode.UNKNOWN_EXCEPTION, key=outcome.key)
        return self._answer(exchange, outcome)

    def _answer(
        self,
        exchange: _Exchange,
        outcome: Outcome,
        *,
        log_separately: bool = False,
        status: int = 200,
    ) -> _Reply:
        payload = outcome.response.to_json()
        sealed = self.gateway.seal(
            path=exchange.path,
            client_id=exchange.client_id,
            payload=payload,
            encrypt_for=exchange.verified,
            now=datetime.now(UTC),
            corrupt_signature=exchange.faults.bad_signature,
        )
        headers = [*sealed.headers, ("Tracer-Id", uuid.uuid4().hex)]
        if log_separately:
            self.store.log_request(exchange.log_entry(outcome, status))
        return _Reply(status, headers, sealed.body)

    # -- the admin path -----------------------------------------------------------------------

    def _admin(self, environ: WSGIEnvironment, path: str) -> _Reply:
        if not is_loopback_peer(str(environ.get("REMOTE_ADDR", ""))):
            return _json_reply(403, {"error": "the sandbox admin API answers loopback peers only"})
        method = environ.get("REQUEST_METHOD")
        if path == ADMIN_HEALTH_PATH:
            return _json_reply(200, {"ok": True})
        if path != ADMIN_FAULTS_PATH:
            return _json_reply(404, {"error": f"no admin API at {path}"})
        if method == "POST":
            try:
                plan = FaultPlan.from_json(_read_body(environ))
            except (SandboxError, Refusal) as error:
                return _json_reply(400, {"error": str(error)})
            self.faults.replace(plan)
        elif method == "DELETE":
            self.faults.replace(FaultPlan())
        elif method != "GET":
            return _json_reply(405, {"error": "use GET, POST or DELETE"})
        return _json_reply(200, self.fault_status())

    def fault_status(self) -> dict[str, object]:
        plan = self.faults.plan
        return {**plan.model_dump(mode="json"), "remaining": self.faults.remaining()}


_EARLY: Final = frozenset({FaultKind.HTTP_500, FaultKind.RATE_LIMIT, FaultKind.UNKNOWN_EXCEPTION})


def _status_sent_after_commit(faults: FaultDecision) -> int:
    """The HTTP status the request log records for a request that reached its operation."""
    kind = None if faults.outcome is None else faults.outcome.kind
    if kind is FaultKind.DROP_AFTER_COMMIT:
        return 0  # no answer at all
    if kind is FaultKind.HTTP_500:
        return 500
    return 200


def _json_reply(status: int, data: object) -> _Reply:
    body = json.dumps(data, separators=(",", ":")).encode()
    return _Reply(status, [("Content-Type", "application/json")], body)


def _check_content_type(value: str, *, encrypted: bool) -> None:
    mimetype, options = parse_options_header(value)
    accepted = _ENCRYPTED_TYPES if encrypted else _JSON_TYPES
    charset = options.get("charset")
    if mimetype.lower() in accepted and (charset is None or charset.lower() in _UTF8):
        return
    wanted = "text/plain" if encrypted else "application/json"
    raise Refusal(
        Outcome.of(
            ResultCode.MEDIA_TYPE_NOT_ACCEPTABLE,
            f"Content-Type {value or '(none)'!r} is not accepted; send {wanted}; charset=UTF-8",
        )
    )


def _read_body(environ: WSGIEnvironment) -> bytes:
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        body: bytes = stream.read(MAX_BODY_BYTES + 1)
    else:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise Refusal(Outcome.of(ResultCode.PARAM_ILLEGAL, "Content-Length is not a number"))
        body = stream.read(min(length, MAX_BODY_BYTES + 1)) if length else b""
    if len(body) > MAX_BODY_BYTES:
        raise Refusal(
            Outcome.of(ResultCode.PARAM_ILLEGAL, f"body larger than {MAX_BODY_BYTES} bytes")
        )
    return body


def _parse_json(body: bytes) -> tuple[Mapping[str, object], str]:
    try:
        text = body.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise Refusal(Outcome.of(ResultCode.PARAM_ILLEGAL, "body is not UTF-8 JSON")) from None
    if not isinstance(data, dict):
        raise Refusal(Outcome.of(ResultCode.PARAM_ILLEGAL, "body is not a JSON object"))
    return data, text


def _drop(environ: WSGIEnvironment) -> None:
    """Close the connection without an answer: the create happened, the client never hears."""
    connection = environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        with contextlib.suppress(OSError):  # the client already went away: dropped either way
            connection.shutdown(socket.SHUT_RDWR)
    raise DropConnection("sandbox fault: connection dropped after commit")
