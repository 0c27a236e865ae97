"""A project wired to a real sandbox server on loopback, for reconciler tests (no tests here)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from helpers import copy_example

from reconciler.adapters.sandbox.server import SandboxServer
from reconciler.domain.config import SANDBOX_MERCHANT_ID

VECTORS = json.loads((Path(__file__).parent / "data/signatures.json").read_text())
CLIENT_ID = "REHEARSAL-CLIENT"


@dataclass
class Rehearsal:
    """A copy of the example catalog whose `rehearsal` environment is a live sandbox server."""

    root: Path
    server: SandboxServer

    @property
    def state_file(self) -> Path:
        return self.root / "state" / "rehearsal.json"

    def templates(self) -> list[str]:
        """Request ids of the templates the sandbox holds (one per created template)."""
        return [t.request_id for t in self.server.store.templates()]

    def state(self) -> dict[str, Any]:
        """The state file as JSON data (tests index into it freely)."""
        data = json.loads(self.state_file.read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data


def _write_key(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def wire_project(
    root: Path, server: SandboxServer, *, merchant_id: str = SANDBOX_MERCHANT_ID
) -> None:
    """Keys on disk, the client registered at the server, and an ipass.toml pointing at it."""
    _write_key(root / "keys/merchant.pem", VECTORS["merchant_private_key_pkcs8_pem"].encode())
    platform = server.platform_public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_key(root / "keys/platform.pem", platform)
    server.store.register_client(
        CLIENT_ID,
        VECTORS["merchant_public_key_pem"].encode(),
        key_version=1,
        merchant_id=SANDBOX_MERCHANT_ID,
    )
    (root / "ipass.toml").write_text(
        f'''default_environment = "rehearsal"

[environments.rehearsal]
endpoint = "{server.url}"
merchant_id = "{merchant_id}"
client_id = "{CLIENT_ID}"
key_version = 1
private_key_file = "keys/merchant.pem"
platform_public_key_file = "keys/platform.pem"
''',
        encoding="utf-8",
    )


@contextmanager
def rehearsal(tmp_path: Path, **wiring: str) -> Iterator[Rehearsal]:
    root = copy_example(tmp_path / "project")
    server = SandboxServer.open(tmp_path / "sandbox-data")
    server.start()
    try:
        wire_project(root, server, **wiring)
        yield Rehearsal(root, server)
    finally:
        server.stop()
