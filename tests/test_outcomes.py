"""`create_template_outcome`: what the client saw of a createTemplate, as a value.

Against the real sandbox over a socket: created, refused by AlipayHK with its code, never sent,
and unknown (the create happened, the answer was lost).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sandbox_support import (
    CLIENT_ID,
    MERCHANT_ID,
    MERCHANT_KEY,
    PLATFORM_KEY,
    encode,
    open_store,
    register,
    running_sandbox,
    template_body,
)

from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.outcomes import create_template_outcome
from reconciler.adapters.alipayhk.results import TemplateCreated
from reconciler.adapters.alipayhk.signing import RsaSha256Signer
from reconciler.adapters.sandbox.faults import FaultRule
from reconciler.adapters.sandbox.server import SandboxServer
from reconciler.domain.outcomes import NOT_SENT, Created, Rejected, TemplateOutcome, Unknown
from reconciler.errors import CredentialsError, InvalidInput

OTHER_MERCHANT = "2160120000000002"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path) as (server, _):
        yield server


def _client(base_url: str, **config: Any) -> AlipayClient:
    return AlipayClient(
        ClientConfig(
            base_url=base_url,
            client_id=CLIENT_ID,
            key_version=1,
            signer=RsaSha256Signer(MERCHANT_KEY),
            platform_public_key=PLATFORM_KEY.public_key(),
            **config,
        )
    )


def _outcome(client: AlipayClient, request_id: str, **changes: Any) -> TemplateOutcome:
    body = encode(template_body(request_id, **changes))
    return create_template_outcome(client, body, request_id=request_id)


def test_created(sandbox: SandboxServer) -> None:
    with _client(sandbox.url) as client:
        outcome = _outcome(client, "REQ-OK")
    (stored,) = sandbox.store.templates()
    assert outcome == Created(stored.template_code, "valid")


def test_a_vendor_rejection_carries_the_vendors_code_and_words_only(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    register(store, merchant_id=MERCHANT_ID)
    with SandboxServer(store, PLATFORM_KEY, owns_store=True) as server, _client(server.url) as c:
        outcome = _outcome(c, "REQ-DENIED", merchantId=OTHER_MERCHANT)
        assert server.store.templates() == []
    assert isinstance(outcome, Rejected)
    assert (outcome.code, outcome.sent) == ("ACCESS_DENIED", True)
    assert outcome.message == (
        f"merchantId {OTHER_MERCHANT} is not the merchant of client {CLIENT_ID}"
    )
    assert outcome.hint is not None
    assert "Client-Id, the merchant key" in outcome.hint


def test_a_rule_the_sandbox_enforces_is_a_rejection(sandbox: SandboxServer) -> None:
    with _client(sandbox.url) as client:
        outcome = _outcome(client, "REQ-BAD", imageUrl="ftp://cdn.example.com/card.png")
    assert isinstance(outcome, Rejected)
    assert (outcome.code, outcome.sent) == ("PASS_TEMPLATE_IMAGE_URL_ILLEGAL", True)
    assert outcome.message.startswith("imageUrl: must start with https://, not")
    assert "REQ-BAD" not in outcome.message  # the caller knows which call it was


def test_never_sent_is_a_rejection_that_was_not_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _client(f"http://127.0.0.1:{port}", connect_attempts=1) as client:
        outcome = _outcome(client, "REQ-NOWHERE")
    assert isinstance(outcome, Rejected)
    assert (outcome.code, outcome.sent) == (NOT_SENT, False)
    assert outcome.message.startswith("connection refused")
    assert outcome.message.endswith("; 1 attempt")
    assert outcome.hint is not None
    assert "nothing reached AlipayHK" in outcome.hint


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"kind": "drop_after_commit"}, "connection lost after the request was sent"),
        (
            {"kind": "unknown_exception", "after_commit": True},
            "AlipayHK answered with result status U: UNKNOWN_EXCEPTION: "
            "Failed for an unknown reason. [Tracer-Id ",
        ),
    ],
)
def test_a_lost_answer_is_unknown(
    sandbox: SandboxServer, fault: dict[str, object], reason: str
) -> None:
    sandbox.set_faults([FaultRule.model_validate(fault)])
    with _client(sandbox.url) as client:
        outcome = _outcome(client, "REQ-LOST")
    assert isinstance(outcome, Unknown)
    assert outcome.reason.startswith(reason)
    assert "requestId" not in outcome.reason
    assert len(sandbox.store.templates()) == 1  # it happened: only reconciling can tell


class _Raising:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def create_template(self, body: bytes, *, request_id: str) -> TemplateCreated:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [CredentialsError("merchant key unreadable"), InvalidInput("bad"), TypeError("bytes")],
)
def test_what_says_nothing_about_the_outcome_still_raises(error: Exception) -> None:
    with pytest.raises(type(error)):
        create_template_outcome(_Raising(error), b"{}", request_id="REQ-X")
