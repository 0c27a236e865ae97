"""A real HTTP server on 127.0.0.1:0 that plays AlipayHK, and misbehaves on request.

Not a mock of `requests`: the client under test opens real sockets. Each test sets a `handler`
that turns the recorded request into a `Reply`; a reply can sign itself with the platform key
(the default), or reset the connection, stall, drip, truncate or redirect.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from reconciler.adapters.alipayhk.signing import RsaSha256Signer, content_to_sign, sign_content


@dataclass(frozen=True)
class Recorded:
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    sign: bool = True
    response_time: str | None = None  # default: now, HKT
    signature: str | None = None  # override the Signature header value
    content_length: int | None = None  # override (larger than the body = truncated)
    close_delimited: bool = False  # no Content-Length: the body ends when the server closes
    delay: float = 0.0  # before the status line
    drip: float = 0.0  # between body bytes
    reset: bool = False  # read the request, then RST instead of answering


Handler = Callable[[Recorded], Reply]
HKT = dt.timezone(dt.timedelta(hours=8))


def no_handler(_: Recorded) -> Reply:
    raise AssertionError("no handler set")


class FakeAlipay:
    def __init__(
        self,
        platform_key: rsa.RSAPrivateKey,
        *,
        client_id: str = "4Q5Y8W0WSG45P907917",
        tls: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        self.signer = RsaSha256Signer(platform_key)
        self.client_id = client_id
        self.handler: Handler = no_handler
        self.requests: list[Recorded] = []
        self.connections = 0
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.scheme = "https" if tls else "http"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def signed_headers(self, path: str, body: bytes, response_time: str | None) -> dict[str, str]:
        moment = response_time or dt.datetime.now(HKT).isoformat(timespec="seconds")
        content = content_to_sign(path, self.client_id, moment, body)
        return {"Response-Time": moment, "Signature": sign_content(self.signer, 1, content)}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                fake.connections += 1

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                recorded = Recorded(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                fake.requests.append(recorded)
                self._answer(recorded, fake.handler(recorded))

            def _answer(self, request: Recorded, reply: Reply) -> None:
                if reply.reset:
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()
                    self.close_connection = True
                    return
                if reply.delay and fake.stopping.wait(reply.delay):
                    return
                headers = {"Content-Type": "application/json; charset=UTF-8"}
                headers["Tracer-Id"] = "tracer-" + request.headers.get("request-time", "?")
                if reply.sign:
                    headers.update(
                        fake.signed_headers(request.path, reply.body, reply.response_time)
                    )
                if reply.signature is not None:
                    headers["Signature"] = reply.signature
                headers.update(reply.headers)
                length = len(reply.body) if reply.content_length is None else reply.content_length
                self.send_response(reply.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if reply.close_delimited:
                    self.send_header("Connection", "close")
                else:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                self._write_body(reply)
                if length != len(reply.body) or reply.close_delimited:
                    self.close_connection = True

            def _write_body(self, reply: Reply) -> None:
                try:
                    if not reply.drip:
                        self.wfile.write(reply.body)
                        return
                    for index in range(len(reply.body)):
                        self.wfile.write(reply.body[index : index + 1])
                        self.wfile.flush()
                        if fake.stopping.wait(reply.drip):
                            return
                except OSError:
                    return  # the client gave up, as it should

        return _Handler


def self_signed_context(folder: Path) -> ssl.SSLContext:
    """A server TLS context with a throwaway self-signed certificate for 127.0.0.1."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context.load_cert_chain(cert_path, key_path)
    return context
