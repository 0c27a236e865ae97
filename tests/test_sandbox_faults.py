"""Fault injection: each mode over real HTTP, targeting, counts, seeds, the admin endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from test_sandbox_support import (
    CREATE_PASS_PATH,
    CREATE_TEMPLATE_PATH,
    SignedClient,
    pass_body,
    running_sandbox,
    template_body,
)
from werkzeug.test import Client as WsgiClient

from reconciler.adapters.sandbox.app import ADMIN_FAULTS_PATH
from reconciler.adapters.sandbox.errors import SandboxError
from reconciler.adapters.sandbox.faults import FaultKind, FaultPlan, FaultRule
from reconciler.adapters.sandbox.server import SandboxServer


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[SandboxServer, SignedClient]]:
    with running_sandbox(tmp_path) as running:
        yield running


def rule(kind: str, **options: Any) -> FaultRule:
    return FaultRule.model_validate({"kind": kind, **options})


def test_latency_delays_the_answer(sandbox: tuple[SandboxServer, SignedClient]) -> None:
    server, client = sandbox
    server.set_faults([rule("latency", seconds=0.3)])

    started = time.monotonic()
    answer = client.create_template(template_body())

    assert time.monotonic() - started >= 0.28
    assert answer.code == "SUCCESS"
    assert server.store.requests()[-1].faults == "latency"


def test_unknown_exception_before_commit_changes_nothing(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    server.set_faults([rule("unknown_exception")])

    answer = client.create_template(template_body())

    assert answer.verified
    assert (answer.code, answer.result_status) == ("UNKNOWN_EXCEPTION", "U")
    assert server.store.templates() == []
    (logged,) = server.store.requests()
    assert (logged.result_code, logged.faults) == ("UNKNOWN_EXCEPTION", "unknown_exception")


def test_unknown_exception_after_commit_created_the_template(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    server.set_faults([rule("unknown_exception", after_commit=True, count=1)])
    body = template_body("REQ-U")

    answer = client.create_template(body)
    retry = client.create_template(body)

    assert (answer.code, answer.result_status) == ("UNKNOWN_EXCEPTION", "U")
    (stored,) = server.store.templates()
    assert retry.code == "SUCCESS"
    assert retry.data["templateCode"] == stored.template_code
    logged = server.store.requests()[0]
    assert (logged.result_code, logged.faults) == ("SUCCESS", "unknown_exception_after_commit")


def test_http_500_is_an_unsigned_html_page(sandbox: tuple[SandboxServer, SignedClient]) -> None:
    server, client = sandbox
    server.set_faults([rule("http_500")])

    answer = client.create_template(template_body())

    assert answer.status == 500
    assert answer.headers["Content-Type"].startswith("text/html")
    assert answer.raw.startswith(b"<html>")
    assert "Signature" not in answer.headers
    assert server.store.templates() == []
    logged = server.store.requests()[-1]
    assert (logged.http_status, logged.result_code, logged.faults) == (500, None, "http_500")


def test_http_500_after_commit(sandbox: tuple[SandboxServer, SignedClient]) -> None:
    server, client = sandbox
    server.set_faults([rule("http_500", after_commit=True)])

    answer = client.create_template(template_body())

    assert answer.status == 500
    assert len(server.store.templates()) == 1
    logged = server.store.requests()[-1]
    assert (logged.http_status, logged.result_code) == (500, "SUCCESS")


@pytest.mark.parametrize("http_status", [200, 429])
def test_rate_limit_answers_traffic_exceeded_with_retry_after(
    sandbox: tuple[SandboxServer, SignedClient], http_status: int
) -> None:
    server, client = sandbox
    server.set_faults([rule("rate_limit", seconds=2, http_status=http_status)])

    answer = client.create_pass(pass_body("22024112800135606000000001424755", "S-1"))

    assert answer.status == http_status
    assert answer.verified
    assert answer.headers["Retry-After"] == "2"
    assert (answer.code, answer.result_status) == ("REQUEST_TRAFFIC_EXCEED_LIMIT", "U")
    assert server.store.requests()[-1].faults == "rate_limit"


def test_drop_after_commit_closes_the_socket_unanswered(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    code = client.template_code()
    server.set_faults([rule("drop_after_commit", path="createPass")])

    with pytest.raises(requests.ConnectionError):
        client.create_pass(pass_body(code, "S-DROP"))

    server.set_faults()
    assert [p.biz_serial_id for p in server.store.passes()] == ["S-DROP"]
    assert client.create_pass(pass_body(code, "S-DROP")).code == "PASS_HAS_EXIST"
    dropped = server.store.requests()[1]
    assert (dropped.result_code, dropped.http_status, dropped.faults) == (
        "SUCCESS",
        0,
        "drop_after_commit",
    )


def test_slow_after_commit_answers_after_the_client_gave_up(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    server.set_faults([rule("slow_after_commit", seconds=1.0, count=1)])
    body = template_body("REQ-SLOW")

    with pytest.raises(requests.ReadTimeout):
        client.create_template(body, timeout=0.3)

    assert len(server.store.templates()) == 1
    retry = client.create_template(body)
    assert retry.data["templateCode"] == server.store.templates()[0].template_code


def test_slow_after_commit_still_answers_a_patient_client(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    server.set_faults([rule("slow_after_commit", seconds=0.2)])
    started = time.monotonic()
    answer = client.create_template(template_body())
    assert time.monotonic() - started >= 0.18
    assert answer.code == "SUCCESS"
    assert answer.verified


def test_bad_signature_fails_verification_of_a_real_answer(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    server.set_faults([rule("bad_signature")])

    answer = client.create_template(template_body())

    assert not answer.verified
    assert answer.code == "SUCCESS"  # the create happened; only the proof is broken
    assert len(server.store.templates()) == 1
    assert server.store.requests()[-1].faults == "bad_signature"


def test_a_fault_can_target_one_path(sandbox: tuple[SandboxServer, SignedClient]) -> None:
    server, client = sandbox
    server.set_faults([rule("unknown_exception", path="createPass")])

    code = client.template_code()

    assert client.create_pass(pass_body(code, "S-1")).code == "UNKNOWN_EXCEPTION"
    assert server.faults.faults[0].path == CREATE_PASS_PATH


def test_a_fault_can_be_limited_to_the_next_n_requests(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    server.set_faults([rule("unknown_exception", count=2)])

    codes = [client.create_template(template_body(f"R-{i}")).code for i in range(4)]

    assert codes == ["UNKNOWN_EXCEPTION", "UNKNOWN_EXCEPTION", "SUCCESS", "SUCCESS"]
    assert [r.faults for r in server.store.requests()] == ["unknown_exception"] * 2 + [""] * 2


def test_faults_apply_only_to_requests_that_reach_an_operation(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    server.set_faults([rule("unknown_exception", count=1)])

    assert client.post("/nowhere", {}).code == "INVALID_API"
    assert SignedClient(client.base_url, client_id="X").post(CREATE_TEMPLATE_PATH, {}).code == (
        "INVALID_CLIENT"
    )
    assert client.create_template(template_body()).code == "UNKNOWN_EXCEPTION"


def test_the_same_seed_injects_the_same_faults(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox

    def run(seed: int) -> list[str]:
        server.set_faults(
            [rule("unknown_exception", rate=0.5), rule("latency", rate=0.3, seconds=0.001)],
            seed=seed,
        )
        before = len(server.store.requests())
        for _ in range(24):
            client.post(CREATE_PASS_PATH, {"not": "a pass"})
        return [r.faults for r in server.store.requests()[before:]]

    first, again, other = run(7), run(7), run(8)

    assert first == again
    assert first != other
    assert {"unknown_exception", ""} <= set(first)
    assert 0 < first.count("") < 24


def test_fault_rules_parse_from_the_command_line_form() -> None:
    parsed = FaultRule.parse("rate_limit:rate=0.25, path=createTemplate ,count=3,seconds=2")
    assert parsed == FaultRule(
        kind=FaultKind.RATE_LIMIT,
        rate=0.25,
        path=CREATE_TEMPLATE_PATH,
        count=3,
        seconds=2,
    )
    assert FaultRule.parse("unknown_exception:after_commit=true").after_commit


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("explode", "kind"),
        ("latency", "needs seconds > 0"),
        ("unknown_exception:rate=2", "rate"),
        ("unknown_exception:path=updatePass", "not an operation"),
        ("bad_signature:after_commit=true", "after_commit applies to"),
        ("latency:seconds", "not key=value"),
        ("http_500:http_status=429", "http_status applies to rate_limit only"),
        ("rate_limit:http_status=503", "http_status must be 200 or 429"),
        ("http_500:colour=red", "colour"),
    ],
)
def test_bad_fault_rules_are_explained(text: str, message: str) -> None:
    with pytest.raises(SandboxError, match=message) as caught:
        FaultRule.parse(text)
    assert caught.value.hint is not None
    assert "kinds:" in caught.value.hint


# -- the admin endpoint -------------------------------------------------------------------------


def test_admin_endpoint_sets_reads_and_clears_faults(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, client = sandbox
    url = client.base_url + ADMIN_FAULTS_PATH
    plan = {"seed": 3, "faults": [{"kind": "unknown_exception", "count": 1}]}

    posted = requests.post(url, json=plan, timeout=5)
    assert posted.status_code == 200
    assert posted.json()["remaining"] == [1]
    assert client.create_template(template_body()).code == "UNKNOWN_EXCEPTION"
    status = requests.get(url, timeout=5).json()
    assert (status["seed"], status["remaining"]) == (3, [0])
    assert status["faults"][0]["kind"] == "unknown_exception"

    assert requests.delete(url, timeout=5).json()["faults"] == []
    assert server.faults == FaultPlan()


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"faults": [{"kind": "nope"}]}', b'{"faults": [], "extra": 1}'],
)
def test_admin_endpoint_rejects_bad_plans(
    sandbox: tuple[SandboxServer, SignedClient], body: bytes
) -> None:
    server, client = sandbox
    server.set_faults([rule("latency", seconds=0.01)])
    response = requests.post(client.base_url + ADMIN_FAULTS_PATH, data=body, timeout=5)
    assert response.status_code == 400
    assert json.loads(response.content)["error"]
    assert len(server.faults.faults) == 1  # unchanged


def test_admin_endpoint_refuses_non_loopback_peers(
    sandbox: tuple[SandboxServer, SignedClient],
) -> None:
    server, _ = sandbox
    # A remote peer cannot be produced on loopback; drive the WSGI app with its address.
    wsgi = WsgiClient(server.app)
    for address in ("10.1.2.3", "192.168.0.9", "2001:db8::1"):
        peer = {"REMOTE_ADDR": address}
        plan = {"faults": [{"kind": "http_500"}]}
        response = wsgi.post(ADMIN_FAULTS_PATH, json=plan, environ_overrides=peer)
        assert response.status_code == 403
        assert "loopback" in response.get_json()["error"]
        assert wsgi.get(ADMIN_FAULTS_PATH, environ_overrides=peer).status_code == 403
    assert server.faults == FaultPlan()
    local = {"REMOTE_ADDR": "127.0.0.1"}
    assert wsgi.get(ADMIN_FAULTS_PATH, environ_overrides=local).status_code == 200


def test_admin_health(sandbox: tuple[SandboxServer, SignedClient]) -> None:
    _, client = sandbox
    assert requests.get(client.base_url + "/__sandbox/health", timeout=5).json() == {"ok": True}


def test_faults_from_the_constructor(tmp_path: Path) -> None:
    plan = FaultPlan(seed=1, faults=(rule("unknown_exception", path="createTemplate"),))
    with running_sandbox(tmp_path, faults=plan) as (_, client):
        assert client.create_template(template_body()).code == "UNKNOWN_EXCEPTION"


def test_stop_does_not_wait_for_an_injected_sleep(tmp_path: Path) -> None:
    with running_sandbox(tmp_path) as (server, client):
        server.set_faults([rule("slow_after_commit", seconds=60)])
        with pytest.raises(requests.ReadTimeout):
            client.create_template(template_body(), timeout=0.3)
        started = time.monotonic()
    assert time.monotonic() - started < 3
