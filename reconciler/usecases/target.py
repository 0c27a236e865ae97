"""Where an environment's state lives, and a signed client to its AlipayHK endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.domain.config import EnvironmentConfig, Project
from reconciler.errors import CredentialsError

if TYPE_CHECKING:  # the HTTP stack is imported only by commands that call the API
    from reconciler.adapters.alipayhk.client import AlipayClient
    from reconciler.adapters.alipayhk.keys import KeySource


@dataclass(frozen=True)
class Paths:
    state_file: Path
    locks: Path


def state_paths(project: Project, env_name: str, env: EnvironmentConfig) -> Paths:
    """The embedded sandbox keeps its state beside its data under .ipass/ (a fresh clone starts
    with a fresh sandbox); every other environment's state is committed under state/."""
    locks = project.work_dir / "locks"
    if env.embedded:
        return Paths(project.work_dir / "sandbox" / "state" / f"{env_name}.json", locks)
    return Paths(project.state_dir / f"{env_name}.json", locks)


@contextmanager
def open_client(project: Project, env: EnvironmentConfig) -> Iterator[AlipayClient]:
    """A ready client; for the embedded environment, the sandbox runs while it is open."""
    from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
    from reconciler.adapters.alipayhk.keys import KeySource
    from reconciler.usecases.keys import load_signing_credentials

    if env.embedded:
        from reconciler.adapters.sandbox.embedded import start_embedded

        with start_embedded(project.work_dir / "sandbox") as sandbox:
            credentials = load_signing_credentials(
                private_key=KeySource.file(sandbox.merchant_private_key_path),
                platform_public_key=KeySource.file(sandbox.platform_public_key_path),
            )
            config = ClientConfig(
                base_url=sandbox.base_url,
                client_id=sandbox.client_id,
                key_version=sandbox.key_version,
                signer=credentials.signer,
                platform_public_key=credentials.platform_public_key,
            )
            with AlipayClient(config) as client:
                yield client
        return
    credentials = load_signing_credentials(
        private_key=_source(env.private_key_file, env.private_key_env, "private_key", project),
        platform_public_key=_source(
            env.platform_public_key_file,
            env.platform_public_key_env,
            "platform_public_key",
            project,
        ),
        passphrase_env=env.private_key_passphrase_env,
        algorithm=env.signature_algorithm,
    )
    config = ClientConfig(
        base_url=env.endpoint,
        client_id=env.client_id,
        key_version=env.key_version,
        signer=credentials.signer,
        platform_public_key=credentials.platform_public_key,
        encrypt=env.encrypt,
    )
    with AlipayClient(config) as client:
        yield client


def _source(file: str | None, variable: str | None, name: str, project: Project) -> KeySource:
    from reconciler.adapters.alipayhk.keys import KeySource

    if file is not None:
        path = Path(file)
        return KeySource.file(path if path.is_absolute() else project.root / path)
    if variable is not None:
        return KeySource.env(variable)
    raise CredentialsError(
        f"no {name} configured for this environment",
        hint=f"set {name}_file or {name}_env in ipass.toml",
    )
