"""`ipass.toml`: where the catalog and state live, and the environments to publish to.

Everything has a default, so a repository holding only `catalog/` works: the default
environment is `sandbox`, the embedded AlipayHK emulator, which needs no configuration.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from reconciler.domain.problems import Problem, ProblemsFound, format_field_path
from reconciler.errors import InvalidInput

CONFIG_FILE: Final = "ipass.toml"
EMBEDDED: Final = "embedded"
SANDBOX: Final = "sandbox"
# The embedded sandbox registers this merchant, so plans and renders for `sandbox` need no setup.
SANDBOX_MERCHANT_ID: Final = "2160120000000001"
SANDBOX_CLIENT_ID: Final = "SANDBOX-CLIENT-0001"

EnvName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]


class EnvironmentConfig(BaseModel):
    """One target: the embedded sandbox, a sandbox by URL, AlipayHK's test host or production."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    endpoint: str = Field(
        default=EMBEDDED,
        description="Base URL such as https://open.alipay.hk, or 'embedded' for the local sandbox.",
    )
    merchant_id: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,64}$")] = (
        SANDBOX_MERCHANT_ID
    )
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = SANDBOX_CLIENT_ID
    key_version: int | None = Field(default=None, ge=0)
    private_key_file: str | None = None
    private_key_env: str | None = None
    private_key_passphrase_env: str | None = None
    platform_public_key_file: str | None = None
    platform_public_key_env: str | None = None
    encrypt: bool = False
    signature_algorithm: Literal["RSA256", "ECC224"] = "RSA256"

    @property
    def embedded(self) -> bool:
        return self.endpoint == EMBEDDED


class ProjectConfig(BaseModel):
    """The whole `ipass.toml`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    catalog: str = "catalog"
    state: str = "state"
    default_environment: EnvName = SANDBOX
    environments: dict[EnvName, EnvironmentConfig] = Field(
        default_factory=lambda: {SANDBOX: EnvironmentConfig()}
    )


@dataclass(frozen=True)
class Project:
    """A loaded project: its folder, its configuration and the paths derived from them."""

    root: Path
    config: ProjectConfig

    @property
    def catalog_dir(self) -> Path:
        return self.root / self.config.catalog

    @property
    def state_dir(self) -> Path:
        return self.root / self.config.state

    @property
    def work_dir(self) -> Path:
        """Local, git-ignored data: the embedded sandbox, its keys and its state."""
        return self.root / ".ipass"

    def environment(self, name: str | None) -> tuple[str, EnvironmentConfig]:
        chosen = name or self.config.default_environment
        environments = dict(self.config.environments)
        environments.setdefault(SANDBOX, EnvironmentConfig())
        if chosen not in environments:
            known = ", ".join(sorted(environments))
            raise InvalidInput(
                f"unknown environment '{chosen}'; known: {known}",
                hint=f"add [environments.{chosen}] to {CONFIG_FILE}",
            )
        return chosen, environments[chosen]


def load_project(root: Path) -> Project:
    """Read `ipass.toml` under `root` (absent means all defaults)."""
    if not root.is_dir():
        raise InvalidInput(
            f"project folder {str(root)!r} does not exist", hint="check -C/--project-dir"
        )
    path = root / CONFIG_FILE
    if not path.exists():
        return Project(root=root, config=ProjectConfig())
    text = _read_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(
            f"{path}: not valid TOML: {error}", hint="see the ipass.toml example in the README"
        ) from None
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as error:
        raise ProblemsFound(
            [_config_problem(str(path), text, e["loc"], e["msg"]) for e in error.errors()]
        ) from None
    return Project(root=root, config=config)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"{path}: cannot read: {error}") from None


def _config_problem(file: str, text: str, loc: tuple[int | str, ...], message: str) -> Problem:
    # tomllib keeps no positions: point at the first line that names the innermost key.
    line = 1
    for part in reversed(loc):
        if isinstance(part, str):
            found = re.search(rf"^\s*\[?[\w.\"-]*{re.escape(part)}\b", text, re.MULTILINE)
            if found:
                line = text.count("\n", 0, found.start()) + 1
                break
    return Problem(file, line, 1, format_field_path(tuple(loc)), message)
