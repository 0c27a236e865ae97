"""The AlipayHK client against a real HTTP server on loopback: every outcome class."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from httpfake import FakeAlipay, Recorded, Reply, self_signed_context

from reconciler.adapters.alipayhk import errors
from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.encryption import decrypt_body, encrypt_body
from reconciler.adapters.alipayhk.results import PassCreated, TemplateCreated
from reconciler.adapters.alipayhk.signing import (
    Ecc224Signer,
    RsaSha256Signer,
    content_to_sign,
    verify_content,
)
from reconciler.adapters.alipayhk.transport import USER_AGENT, make_session
from reconciler.domain.contract.endpoints import CREATE_PASS_PATH, CREATE_TEMPLATE_PATH
from reconciler.errors import ExitCode, InvalidInput, OutcomeUnknown, VendorRejected

VECTORS = json.loads((Path(__file__).parent / "data/signatures.json").read_text())
CLIENT_ID = "4Q5Y8W0WSG45P907917"
TEMPLATE_BODY = VECTORS["requests"][0]["body"].encode()
PASS_BODY = VECTORS["requests"][1]["body"].encode()  # non-ASCII: sent as exact UTF-8 bytes


def _private(pem_field: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(VECTORS[pem_field].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


MERCHANT = _private("merchant_private_key_pkcs1_pem")
PLATFORM = _private("platform_private_key_pkcs8_pem")


def ok(**fields: Any) -> bytes:
    result = {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}
    return json.dumps({"result": result, **fields}, separators=(",", ":")).encode()


def result(status: str, code: str, message: str = "msg", name: str = "result") -> bytes:
    return json.dumps(
        {name: {"resultCode": code, "resultStatus": status, "resultMessage": message}}
    ).encode()


TEMPLATE_OK = ok(templateCode="22024112800135606000000001424755", status="valid")
PASS_OK = ok(passId="2026112319027102160530200000039")


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakeAlipay]:
    with FakeAlipay(PLATFORM, client_id=CLIENT_ID) as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def config(base_url: str, **overrides: Any) -> ClientConfig:
    settings: dict[str, Any] = {
        "base_url": base_url,
        "client_id": CLIENT_ID,
        "key_version": 1,
        "signer": RsaSha256Signer(MERCHANT),
        "platform_public_key": PLATFORM.public_key(),
        "connect_timeout": 0.5,
        "read_timeout": 0.5,
        "deadline": 3,
        **overrides,
    }
    return ClientConfig(**settings)


@pytest.fixture
def client_for(sleeps: Sleeps) -> Iterator[Callable[..., AlipayClient]]:
    made: list[AlipayClient] = []

    def build(
        base_url: str, *, clock: Callable[[], datetime] | None = None, **kw: Any
    ) -> AlipayClient:
        settings = config(base_url, **kw)
        client = (
            AlipayClient(settings, make_session(), sleep=sleeps)
            if clock is None
            else AlipayClient(settings, make_session(), sleep=sleeps, clock=clock)
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


def verify_request(request: Recorded, path: str) -> None:
    content = content_to_sign(path, CLIENT_ID, request.headers["request-time"], request.body)
    verify_content(MERCHANT.public_key(), content, request.headers["signature"])


# -- success -------------------------------------------------------------------------------


def test_create_template_sends_exact_signed_bytes(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    fake.handler = lambda _: Reply(body=TEMPLATE_OK)
    created = client_for(fake.url).create_template(TEMPLATE_BODY, request_id="a1b2c3")
    assert created == TemplateCreated(
        "22024112800135606000000001424755", "valid", created.tracer_id
    )
    assert created.tracer_id is not None
    assert created.tracer_id.startswith("tracer-")
    [request] = fake.requests
    assert request.path == CREATE_TEMPLATE_PATH
    assert request.body == TEMPLATE_BODY
    assert request.headers["client-id"] == CLIENT_ID
    assert request.headers["content-type"] == "application/json; charset=UTF-8"
    assert request.headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith(f"ipass/0.1.0 python-requests/{requests.__version__}")
    assert request.headers["accept-encoding"] == "identity"
    assert request.headers["signature"].startswith("algorithm=RSA256,keyVersion=1,signature=")
    assert "encrypt" not in request.headers
    datetime.fromisoformat(request.headers["request-time"]).utcoffset()
    verify_request(request, CREATE_TEMPLATE_PATH)


def test_create_pass_reads_result_info_and_keeps_non_ascii_bytes(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    body = result("S", "SUCCESS", name="resultInfo")[:-1] + b',"passId":"P-1"}'
    fake.handler = lambda _: Reply(body=body)
    created = client_for(fake.url).create_pass(PASS_BODY, biz_serial_id="order-0001")
    assert created == PassCreated("P-1", created.tracer_id)
    [request] = fake.requests
    assert request.path == CREATE_PASS_PATH
    assert request.body == PASS_BODY
    verify_request(request, CREATE_PASS_PATH)


def test_fields_added_later_are_tolerated_and_odd_ones_count_as_absent(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    body = ok(templateCode="T-1", status=["valid"], extendInfo={"later": True})
    body = body.replace(b'"resultMessage":"success"', b'"resultMessage":"success","x":1')
    fake.handler = lambda _: Reply(body=body)
    created = client_for(fake.url).create_template(TEMPLATE_BODY, request_id="r-1")
    assert (created.template_code, created.status) == ("T-1", None)


def test_null_result_falls_back_to_result_info(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    info = {"resultCode": "SUCCESS", "resultStatus": "S"}
    fake.handler = lambda _: Reply(
        body=json.dumps({"result": None, "resultInfo": info, "passId": "P-1"}).encode()
    )
    assert client_for(fake.url).create_pass(PASS_BODY, biz_serial_id="o-1").pass_id == "P-1"


def test_connections_are_pooled(fake: FakeAlipay, client_for: Callable[..., AlipayClient]) -> None:
    fake.handler = lambda _: Reply(body=PASS_OK)
    client = client_for(fake.url)
    for n in range(3):
        client.create_pass(PASS_BODY, biz_serial_id=f"order-{n}")
    assert fake.connections == 1


def test_base_url_prefix_is_part_of_the_signed_path(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    fake.handler = lambda _: Reply(body=PASS_OK)
    client_for(fake.url + "/gw/").create_pass(PASS_BODY, biz_serial_id="order-1")
    [request] = fake.requests
    assert request.path == "/gw" + CREATE_PASS_PATH
    verify_request(request, "/gw" + CREATE_PASS_PATH)


def test_encrypted_round_trip(fake: FakeAlipay, client_for: Callable[..., AlipayClient]) -> None:
    def handler(request: Recorded) -> Reply:
        plaintext = decrypt_body(request.body, request.headers["encrypt"], PLATFORM)
        assert plaintext == PASS_BODY
        body, header = encrypt_body(PASS_OK, MERCHANT.public_key(), 1)
        return Reply(body=body, headers={"Encrypt": header, "Content-Type": "text/plain"})

    fake.handler = handler
    client = client_for(fake.url, encrypt=True, encrypt_key_version=2)
    assert client.create_pass(PASS_BODY, biz_serial_id="order-1").pass_id == (
        "2026112319027102160530200000039"
    )
    [request] = fake.requests
    assert request.headers["content-type"] == "text/plain; charset=UTF-8"
    assert request.headers["encrypt"].startswith("algorithm=RSA_AES,keyVersion=2,symmetricKey=")
    assert PASS_BODY not in request.body
    verify_request(request, CREATE_PASS_PATH)  # encrypt, then sign: the ciphertext is signed


def test_encrypted_response_that_does_not_decrypt_is_unknown(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body, header = encrypt_body(PASS_OK, stranger.public_key(), 1)
    fake.handler = lambda _: Reply(body=body, headers={"Encrypt": header})
    with pytest.raises(errors.MalformedResponse, match=r"symmetricKey|decrypt"):
        client_for(fake.url, encrypt=True).create_pass(PASS_BODY, biz_serial_id="o-1")


# -- definite rejection --------------------------------------------------------------------


def test_result_f_is_a_rejection_with_the_vendor_code(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    fake.handler = lambda _: Reply(body=result("F", "PASS_HAS_EXIST", "Pass has been created."))
    with pytest.raises(errors.Rejected) as caught:
        client_for(fake.url).create_pass(PASS_BODY, biz_serial_id="order-0001")
    exc = caught.value
    assert isinstance(exc, VendorRejected)
    assert exc.exit_code == ExitCode.VENDOR_REJECTED
    assert (exc.result_code, exc.result_message) == ("PASS_HAS_EXIST", "Pass has been created.")
    assert exc.tracer_id is not None
    assert str(exc).startswith("createPass (bizSerialId=order-0001): AlipayHK rejected")
    assert exc.tracer_id in str(exc)
    assert exc.hint is not None
    assert "already exists" in exc.hint


def test_unknown_key_version_is_a_rejection_pointing_at_the_keys(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    fake.handler = lambda _: Reply(body=result("F", "KEY_NOT_FOUND", "key not found"))
    with pytest.raises(errors.Rejected, match="KEY_NOT_FOUND") as caught:
        client_for(fake.url, key_version=9).create_template(TEMPLATE_BODY, request_id="r-1")
    assert caught.value.hint is not None
    assert "keyVersion" in caught.value.hint
    assert "keyVersion=9," in fake.requests[0].headers["signature"]


@pytest.mark.parametrize("code", ["INVALID_SIGNATURE", "INVALID_CLIENT", "ACCESS_DENIED"])
def test_credential_refusals_point_at_the_keys(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient], code: str
) -> None:
    fake.handler = lambda _: Reply(body=result("F", code, "refused"))
    with pytest.raises(errors.Rejected) as caught:
        client_for(fake.url).create_template(TEMPLATE_BODY, request_id="r-1")
    assert caught.value.hint is not None
    assert "Client-Id, the merchant key" in caught.value.hint


def test_a_rejection_with_a_code_added_later_keeps_it(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    body = json.dumps(
        {"result": {"resultCode": "NEW_CODE", "resultStatus": "F"}, "templateCode": 7}
    ).encode()
    fake.handler = lambda _: Reply(body=body)
    with pytest.raises(errors.Rejected) as caught:
        client_for(fake.url).create_template(TEMPLATE_BODY, request_id="r-1")
    assert (caught.value.result_code, caught.value.result_message) == ("NEW_CODE", "")
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("fix the request")


def test_ecc224_signer_plugs_into_the_client(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    key = ec.generate_private_key(ec.SECP224R1())
    fake.handler = lambda _: Reply(body=PASS_OK)
    client_for(fake.url, signer=Ecc224Signer(key)).create_pass(PASS_BODY, biz_serial_id="o-1")
    [request] = fake.requests
    assert request.headers["signature"].startswith("algorithm=ECC224,keyVersion=1,signature=")
    content = content_to_sign(
        CREATE_PASS_PATH, CLIENT_ID, request.headers["request-time"], request.body
    )
    verify_content(key.public_key(), content, request.headers["signature"])


def test_4xx_counts_as_rejection_only_with_a_verified_f(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    client = client_for(fake.url)
    fake.handler = lambda _: Reply(status=400, body=result("F", "PARAM_ILLEGAL"))
    with pytest.raises(errors.Rejected, match="PARAM_ILLEGAL"):
        client.create_template(TEMPLATE_BODY, request_id="r-1")
    fake.handler = lambda _: Reply(status=400, body=result("F", "PARAM_ILLEGAL"), sign=False)
    with pytest.raises(errors.UnexpectedStatus, match="HTTP 400"):
        client.create_template(TEMPLATE_BODY, request_id="r-1")
    fake.handler = lambda _: Reply(status=404, body=b"not found", sign=False)
    with pytest.raises(errors.UnexpectedStatus, match="HTTP 404"):
        client.create_template(TEMPLATE_BODY, request_id="r-1")


# -- outcome unknown -----------------------------------------------------------------------


UNKNOWN_CASES: list[tuple[str, Reply, type[errors.AmbiguousOutcome], str]] = [
    ("status U", Reply(body=result("U", "UNKNOWN_EXCEPTION")), errors.ResultUnknown, "UNKNOWN_EXC"),
    ("5xx", Reply(status=502, body=b"bad gateway", sign=False), errors.ServerError, "HTTP 502"),
    (
        "3xx",
        Reply(status=307, headers={"Location": "https://elsewhere.example/x"}),
        errors.UnexpectedRedirect,
        "HTTP 307 to https://elsewhere.example/x",
    ),
    ("non-JSON", Reply(body=b"{not json"), errors.MalformedResponse, "not JSON"),
    ("JSON array", Reply(body=b"[]"), errors.MalformedResponse, "not an object"),
    ("no result", Reply(body=b'{"passId":"1"}'), errors.MalformedResponse, "no result object"),
    ("odd status", Reply(body=result("X", "?")), errors.MalformedResponse, "resultStatus"),
    ("S without id", Reply(body=ok()), errors.MalformedResponse, "no passId"),
    (
        "HTML with 200",
        Reply(body=b"<html><body>Login</body></html>", headers={"Content-Type": "text/html"}),
        errors.HtmlResponse,
        "text/html",
    ),
    (
        "truncated",
        Reply(body=PASS_OK, content_length=len(PASS_OK) + 40),
        errors.TruncatedResponse,
        "ended early",
    ),
    (
        "huge (declared)",
        Reply(body=b"x", content_length=2 * 1024 * 1024),
        errors.ResponseTooLarge,
        "Content-Length 2097152",
    ),
    (
        "huge (streamed)",
        Reply(body=b" " * 300_000, close_delimited=True),
        errors.ResponseTooLarge,
        "exceeds the 200000-byte cap",
    ),
    ("reset after the request", Reply(reset=True), errors.ConnectionLost, "connection lost"),
    ("timeout after send", Reply(body=PASS_OK, delay=2), errors.ResponseTimeout, "read timeout"),
    (
        "missing signature",
        Reply(body=PASS_OK, sign=False),
        errors.ResponseNotVerified,
        "no Signature",
    ),
    (
        "tampered signature",
        Reply(body=PASS_OK, signature=VECTORS["responses"][2]["signature_header"]),
        errors.ResponseNotVerified,
        "does not verify",
    ),
    (
        "stale Response-Time",
        Reply(body=PASS_OK, response_time="2020-01-01T00:00:00+08:00"),
        errors.ResponseNotVerified,
        "away from our clock",
    ),
    (
        "traffic limit (status U)",
        Reply(body=result("U", "REQUEST_TRAFFIC_EXCEED_LIMIT"), headers={"Retry-After": "2"}),
        errors.RateLimited,
        "REQUEST_TRAFFIC_EXCEED_LIMIT",
    ),
]


@pytest.mark.parametrize("case", [pytest.param(case[1:], id=case[0]) for case in UNKNOWN_CASES])
def test_every_ambiguous_answer_is_outcome_unknown_and_never_retried(
    fake: FakeAlipay,
    client_for: Callable[..., AlipayClient],
    sleeps: Sleeps,
    case: tuple[Reply, type[errors.AmbiguousOutcome], str],
) -> None:
    reply, error, detail = case
    fake.handler = lambda _: reply
    client = client_for(fake.url, max_response_bytes=200_000)
    with pytest.raises(error) as caught:
        client.create_pass(PASS_BODY, biz_serial_id="order-0001")
    exc = caught.value
    assert type(exc) is error
    assert isinstance(exc, OutcomeUnknown)
    assert exc.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert detail in str(exc)
    assert exc.idempotency_key == errors.IdempotencyKey("bizSerialId", "order-0001")
    assert "bizSerialId=order-0001" in str(exc)
    assert exc.hint is not None
    assert "same bizSerialId=order-0001" in exc.hint
    if not reply.reset and not reply.delay:
        assert exc.tracer_id is not None
        assert exc.tracer_id in str(exc)
    for secret in ("-----BEGIN", fake.requests[0].headers["signature"], "signature="):
        assert secret not in str(exc)
    assert len(fake.requests) == 1, "sent once: repeating after send is the caller's decision"
    assert sleeps == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (ok(templateCode=22024112800135606), "result S but no templateCode in the response"),
        (ok(templateCode="   "), "result S but no templateCode in the response"),
        (
            result("S" * 5000, "SUCCESS"),
            "resultStatus is 'SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS...'",
        ),
        (result("s", "SUCCESS"), "resultStatus is 's', not S, F or U"),
        (b'{"result":{"resultCode":"SUCCESS"}}', "resultStatus is missing, not S, F or U"),
        (b'{"result":{"resultStatus":null}}', "resultStatus is null, not S, F or U"),
        (b'{"result":["S"]}', "body has no result object (result / resultInfo)"),
        (b'"S"', "body is JSON str, not an object"),
        (b"\xff\xfe{", "body is not JSON (3 bytes)"),
    ],
)
def test_a_malformed_envelope_is_reported_safely(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient], body: bytes, detail: str
) -> None:
    fake.handler = lambda _: Reply(body=body)
    with pytest.raises(errors.MalformedResponse) as caught:
        client_for(fake.url).create_template(TEMPLATE_BODY, request_id="r-1")
    assert caught.value.detail.startswith(detail)
    assert len(caught.value.detail) < 120
    assert str(caught.value) == f"createTemplate (requestId=r-1): {caught.value.reason}"


def test_traffic_limit_carries_retry_after(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    fake.handler = lambda _: Reply(
        body=result("U", "REQUEST_TRAFFIC_EXCEED_LIMIT"), headers={"Retry-After": "7"}
    )
    with pytest.raises(errors.RateLimited) as caught:
        client_for(fake.url).create_template(TEMPLATE_BODY, request_id="r-1")
    assert caught.value.retry_after == 7.0
    assert caught.value.idempotency_key.field == "requestId"


def test_slow_drip_is_cut_at_the_overall_deadline(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    fake.handler = lambda _: Reply(body=PASS_OK, drip=0.05)  # ~4 s in all, each byte in time
    started = time.monotonic()
    with pytest.raises(errors.ResponseTimeout, match="overall deadline"):
        client_for(fake.url, read_timeout=0.5, deadline=1.0).create_pass(
            PASS_BODY, biz_serial_id="o-1"
        )
    assert time.monotonic() - started < 2.5  # the drip alone would take over 5 s


def test_wrong_platform_key_fails_verification(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    fake.handler = lambda _: Reply(body=PASS_OK)
    with pytest.raises(errors.ResponseNotVerified, match="does not verify"):
        client_for(fake.url, platform_public_key=other).create_pass(PASS_BODY, biz_serial_id="o")


def test_body_swapped_under_a_valid_signature_fails(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient]
) -> None:
    def handler(request: Recorded) -> Reply:
        honest = fake.signed_headers(request.path, result("F", "PROCESS_FAIL"), None)
        return Reply(body=PASS_OK, sign=False, headers=honest)

    fake.handler = handler
    with pytest.raises(errors.ResponseNotVerified, match="does not verify"):
        client_for(fake.url).create_pass(PASS_BODY, biz_serial_id="o-1")


# -- rate limiting -------------------------------------------------------------------------


def stepping_clock() -> Callable[[], datetime]:
    start = datetime.now(UTC)
    ticks = iter(range(1_000_000))
    return lambda: start + timedelta(seconds=next(ticks))


def test_429_waits_as_asked_and_resigns(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient], sleeps: Sleeps
) -> None:
    replies = iter(
        [
            Reply(status=429, headers={"Retry-After": "1"}, sign=False),
            Reply(status=429, headers={"Retry-After": "2"}, sign=False),
            Reply(body=TEMPLATE_OK),
        ]
    )
    fake.handler = lambda _: next(replies)
    client = client_for(fake.url, clock=stepping_clock())
    created = client.create_template(TEMPLATE_BODY, request_id="r-1")
    assert created.template_code == "22024112800135606000000001424755"
    assert sleeps == [1.0, 2.0]
    assert len({r.headers["request-time"] for r in fake.requests}) == 3
    for request in fake.requests:
        assert request.body == TEMPLATE_BODY  # same body, same requestId
        verify_request(request, CREATE_TEMPLATE_PATH)


def test_429_beyond_the_cap_is_raised_at_once(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient], sleeps: Sleeps
) -> None:
    fake.handler = lambda _: Reply(status=429, headers={"Retry-After": "120"}, sign=False)
    with pytest.raises(errors.RateLimited) as caught:
        client_for(fake.url).create_pass(PASS_BODY, biz_serial_id="o-1")
    assert caught.value.retry_after == 120.0
    assert caught.value.http_status == 429
    assert sleeps == []
    assert len(fake.requests) == 1


def test_429_gives_up_after_the_allowed_attempts(
    fake: FakeAlipay, client_for: Callable[..., AlipayClient], sleeps: Sleeps
) -> None:
    fake.handler = lambda _: Reply(status=429, sign=False)
    with pytest.raises(errors.RateLimited, match="3 attempts") as caught:
        client_for(fake.url).create_pass(PASS_BODY, biz_serial_id="o-1")
    assert caught.value.retry_after is None
    assert sleeps == [0.25, 0.5]
    assert len(fake.requests) == 3


# -- never sent ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_refused_connection_is_retried_then_not_sent(
    client_for: Callable[..., AlipayClient], sleeps: Sleeps
) -> None:
    client = client_for(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(errors.NotSent) as caught:
        client.create_pass(PASS_BODY, biz_serial_id="o-1")
    exc = caught.value
    assert isinstance(exc, VendorRejected)
    assert exc.exit_code == ExitCode.VENDOR_REJECTED
    assert exc.attempts == 3
    assert sleeps == [0.25, 0.5]
    assert "connection refused" in str(exc)
    assert str(exc) == f"createPass (bizSerialId=o-1): request not sent ({exc.detail})"
    assert exc.detail.endswith("; 3 attempts")


def test_recovers_when_the_server_comes_up_between_attempts(sleeps: Sleeps) -> None:
    port = free_port()
    started: list[FakeAlipay] = []

    def start_server_then_sleep(seconds: float) -> None:
        sleeps(seconds)
        server = FakeAlipay(PLATFORM, client_id=CLIENT_ID, port=port).__enter__()
        server.handler = lambda _: Reply(body=PASS_OK)
        started.append(server)

    client = AlipayClient(
        config(f"http://127.0.0.1:{port}"), make_session(), sleep=start_server_then_sleep
    )
    try:
        assert client.create_pass(PASS_BODY, biz_serial_id="o-1").pass_id
    finally:
        client.close()
        for server in started:
            server.__exit__(None, None, None)
    assert sleeps == [0.25]
    assert len(started[0].requests) == 1


def test_connect_timeout_is_retried_then_not_sent(
    client_for: Callable[..., AlipayClient], sleeps: Sleeps
) -> None:
    # A listener with a full backlog drops SYNs: the connect times out, nothing is sent.
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        port = listener.getsockname()[1]
        client = client_for(f"http://127.0.0.1:{port}", connect_timeout=0.2)
        with pytest.raises(errors.NotSent, match="connect timed out") as caught:
            client.create_pass(PASS_BODY, biz_serial_id="o-1")
    assert caught.value.attempts == 3
    assert sleeps == [0.25, 0.5]


def test_dns_failure_is_not_sent(
    client_for: Callable[..., AlipayClient], sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_such_host(*_: object, **__: object) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(errors.NotSent, match="host not found") as caught:
        client_for("https://ipass-test.invalid").create_pass(PASS_BODY, biz_serial_id="o-1")
    assert caught.value.attempts == 3


def test_tls_failure_is_not_sent_and_not_retried(
    tmp_path: Path, client_for: Callable[..., AlipayClient], sleeps: Sleeps
) -> None:
    with FakeAlipay(PLATFORM, client_id=CLIENT_ID, tls=self_signed_context(tmp_path)) as server:
        server.handler = lambda _: Reply(body=PASS_OK)
        with pytest.raises(errors.NotSent, match="TLS certificate") as caught:
            client_for(server.url).create_pass(PASS_BODY, biz_serial_id="o-1")
        assert server.requests == []
    assert caught.value.attempts == 1
    assert sleeps == []


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    ["http://open.alipay.hk", "ftp://127.0.0.1", "https://open.alipay.hk?x=1", "https://u:p@h"],
)
def test_base_url_must_be_https_except_loopback(base_url: str) -> None:
    with pytest.raises(InvalidInput, match="base_url"):
        config(base_url)


def test_sessions_that_trust_the_environment_are_refused() -> None:
    with requests.Session() as session, pytest.raises(ValueError, match="trust_env"):
        AlipayClient(config("https://open.alipay.hk"), session)


def test_body_must_be_bytes(fake: FakeAlipay, client_for: Callable[..., AlipayClient]) -> None:
    text: Any = PASS_BODY.decode()
    client = client_for(fake.url)
    with pytest.raises(TypeError, match="bytes"):
        client.create_pass(text, biz_serial_id="o")
    assert fake.requests == []


def test_client_owns_and_closes_its_session(fake: FakeAlipay) -> None:
    fake.handler = lambda _: Reply(body=PASS_OK)
    with AlipayClient(config(fake.url)) as client:
        client.create_pass(PASS_BODY, biz_serial_id="o")
    assert len(fake.requests) == 1
