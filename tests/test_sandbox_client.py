"""The project's own AlipayHK client against the sandbox: both ends of one contract agree.

Every outcome class the client distinguishes is produced by the sandbox, over a real socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sandbox_support import (
    CLIENT_ID,
    MERCHANT_KEY,
    PLATFORM_KEY,
    encode,
    pass_body,
    running_sandbox,
    template_body,
)

from reconciler.adapters.alipayhk import errors
from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.signing import RsaSha256Signer
from reconciler.adapters.sandbox.faults import FaultRule
from reconciler.adapters.sandbox.server import SandboxServer


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path) as (server, _):
        yield server


def _client(server: SandboxServer, **config: Any) -> AlipayClient:
    return AlipayClient(
        ClientConfig(
            base_url=server.url,
            client_id=CLIENT_ID,
            key_version=1,
            signer=RsaSha256Signer(MERCHANT_KEY),
            platform_public_key=PLATFORM_KEY.public_key(),
            **config,
        )
    )


@pytest.mark.parametrize("encrypt", [False, True])
def test_templates_and_passes_round_trip(sandbox: SandboxServer, encrypt: bool) -> None:
    with _client(sandbox, encrypt=encrypt, encrypt_key_version=1) as client:
        template = client.create_template(encode(template_body("REQ-C")), request_id="REQ-C")
        issued = client.create_pass(
            encode(pass_body(template.template_code, "S-1")), biz_serial_id="S-1"
        )
        with pytest.raises(errors.Rejected) as duplicate:
            client.create_pass(
                encode(pass_body(template.template_code, "S-1")), biz_serial_id="S-1"
            )

    assert template.status == "valid"
    assert template.tracer_id
    assert [p.pass_id for p in sandbox.store.passes()] == [issued.pass_id]
    assert duplicate.value.result_code == "PASS_HAS_EXIST"


def test_a_rule_violation_is_a_rejection(sandbox: SandboxServer) -> None:
    body = encode(template_body("REQ-BAD", imageUrl="ftp://x"))
    with _client(sandbox) as client, pytest.raises(errors.Rejected) as rejected:
        client.create_template(body, request_id="REQ-BAD")
    assert rejected.value.result_code == "PASS_TEMPLATE_IMAGE_URL_ILLEGAL"


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        ({"kind": "unknown_exception", "after_commit": True}, errors.ResultUnknown),
        ({"kind": "http_500"}, errors.ServerError),
        ({"kind": "rate_limit"}, errors.RateLimited),
        ({"kind": "drop_after_commit"}, errors.ConnectionLost),
        ({"kind": "bad_signature"}, errors.ResponseNotVerified),
    ],
)
def test_each_fault_is_an_outcome_unknown_for_the_client(
    sandbox: SandboxServer, fault: dict[str, Any], outcome: type[errors.AmbiguousOutcome]
) -> None:
    sandbox.set_faults([FaultRule.model_validate(fault)])
    body = encode(template_body("REQ-F"))
    with _client(sandbox) as client, pytest.raises(outcome):
        client.create_template(body, request_id="REQ-F")


def test_slow_after_commit_is_a_response_timeout(sandbox: SandboxServer) -> None:
    sandbox.set_faults([FaultRule.model_validate({"kind": "slow_after_commit", "seconds": 2})])
    body = encode(template_body("REQ-SLOW"))
    with _client(sandbox, read_timeout=0.3) as client, pytest.raises(errors.ResponseTimeout):
        client.create_template(body, request_id="REQ-SLOW")
    assert len(sandbox.store.templates()) == 1  # it happened; the client must reconcile


def test_http_429_is_retried_after_retry_after(sandbox: SandboxServer) -> None:
    limited = {"kind": "rate_limit", "http_status": 429, "seconds": 1, "count": 1}
    sandbox.set_faults([FaultRule.model_validate(limited)])
    body = encode(template_body("REQ-429"))
    with _client(sandbox) as client:
        created = client.create_template(body, request_id="REQ-429")
    assert [r.faults for r in sandbox.store.requests()] == ["rate_limit", ""]
    assert sandbox.store.templates()[0].template_code == created.template_code
