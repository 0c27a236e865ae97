"""The embedded sandbox: the default environment, started in-process with nothing to configure.

`start_embedded(<project>/.ipass/sandbox)` keeps, under that folder, a merchant key pair and the
sandbox's platform key pair (created once, private keys mode 0600), registers the fixed sandbox
client, and serves on 127.0.0.1 on a free port in a daemon thread. Calling it again on the same
folder reuses the keys and the data, so templates created earlier are still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from reconciler.adapters.sandbox.datadir import DataDir, ensure_key_pair, public_pem
from reconciler.adapters.sandbox.server import LOOPBACK, SandboxServer
from reconciler.domain.config import SANDBOX_CLIENT_ID, SANDBOX_MERCHANT_ID

MERCHANT_PRIVATE_KEY_FILE: Final = "merchant_private_key.pem"
MERCHANT_PUBLIC_KEY_FILE: Final = "merchant_public_key.pem"
SANDBOX_KEY_VERSION: Final = 1


@dataclass
class EmbeddedSandbox:
    """A running embedded sandbox and what a client needs to talk to it."""

    base_url: str
    client_id: str
    merchant_id: str
    key_version: int
    merchant_private_key_path: Path
    platform_public_key_path: Path
    server: SandboxServer

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_embedded(data_dir: Path) -> EmbeddedSandbox:
    """Start the embedded sandbox over `data_dir` (created if needed); idempotent setup."""
    folder = DataDir(data_dir)
    folder.create()
    merchant_private = data_dir / MERCHANT_PRIVATE_KEY_FILE
    merchant_key = ensure_key_pair(
        merchant_private, data_dir / MERCHANT_PUBLIC_KEY_FILE, role="sandbox merchant key"
    )
    server = SandboxServer.open(data_dir, host=LOOPBACK, port=0)
    try:
        server.store.register_client(
            SANDBOX_CLIENT_ID,
            public_pem(merchant_key.public_key()),
            key_version=SANDBOX_KEY_VERSION,
            merchant_id=SANDBOX_MERCHANT_ID,
        )
        server.start()
    except BaseException:
        server.stop()
        raise
    return EmbeddedSandbox(
        base_url=server.url,
        client_id=SANDBOX_CLIENT_ID,
        merchant_id=SANDBOX_MERCHANT_ID,
        key_version=SANDBOX_KEY_VERSION,
        merchant_private_key_path=merchant_private,
        platform_public_key_path=folder.platform_public_key,
        server=server,
    )
