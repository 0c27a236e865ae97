"""A signed client to an environment's AlipayHK endpoint (the embedded sandbox runs while open)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.domain.config import Target
from reconciler.errors import CredentialsError

if TYPE_CHECKING:  # the HTTP stack is imported only by commands that call the API
    from reconciler.adapters.alipayhk.client import AlipayClient
    from reconciler.adapters.alipayhk.keys import KeySource


@dataclass(frozen=True)
class _Endpoint:
    base_url: str
    client_id: str
    key_version: int | None
    private_key: KeySource
    platform_public_key: KeySource


@contextmanager
def open_client(target: Target, *, workers: int = 1) -> Iterator[AlipayClient]:
    """A ready client; for the embedded environment, the sandbox runs while it is open."""
    from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
    from reconciler.usecases.keys import load_signing_credentials

    env = target.settings
    with _endpoint(target) as endpoint:
        credentials = load_signing_credentials(
            private_key=endpoint.private_key,
            platform_public_key=endpoint.platform_public_key,
            passphrase_env=None if env.embedded else env.private_key_passphrase_env,
            algorithm=env.signature_algorithm,
        )
        config = ClientConfig(
            base_url=endpoint.base_url,
            client_id=endpoint.client_id,
            key_version=endpoint.key_version,
            signer=credentials.signer,
            platform_public_key=credentials.platform_public_key,
            encrypt=env.encrypt,
        )
        with AlipayClient(config, workers=workers) as client:
            yield client


@contextmanager
def _endpoint(target: Target) -> Iterator[_Endpoint]:
    """Where to send and with which keys: the embedded sandbox's own, or the configured ones."""
    from reconciler.adapters.alipayhk.keys import KeySource

    env = target.settings
    if not target.embedded:
        if env.endpoint is None:  # load_project refuses this; kept for a Target built by hand
            raise CredentialsError(f"environment {target.name!r} has no endpoint")
        yield _Endpoint(
            env.endpoint,
            target.client_id,
            env.key_version,
            _source(env.private_key_file, env.private_key_env, "private_key", target.root),
            _source(
                env.platform_public_key_file,
                env.platform_public_key_env,
                "platform_public_key",
                target.root,
            ),
        )
        return
    from reconciler.adapters.sandbox.embedded import start_embedded

    with start_embedded(target.work_dir / "sandbox") as sandbox:
        yield _Endpoint(
            sandbox.base_url,
            sandbox.client_id,
            sandbox.key_version,
            KeySource.file(sandbox.merchant_private_key_path),
            KeySource.file(sandbox.platform_public_key_path),
        )


def _source(file: str | None, variable: str | None, name: str, root: Path) -> KeySource:
    from reconciler.adapters.alipayhk.keys import KeySource

    if file is not None:
        path = Path(file)
        return KeySource.file(path if path.is_absolute() else root / path)
    if variable is not None:
        return KeySource.env(variable)
    raise CredentialsError(
        f"no {name} configured for this environment",
        hint=f"set {name}_file or {name}_env in ipass.toml",
    )
