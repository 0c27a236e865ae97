"""`ipass.toml`: where the catalog and state live, and the environments to publish to.

Everything has a default, so a repository holding only `catalog/` works: the default
environment is `sandbox`, the embedded AlipayHK emulator, which needs no configuration.

Any other environment must say where it sends and as whom: `endpoint`, `merchant_id`,
`client_id` and its keys. A missing or misspelt setting is never filled in from the sandbox;
every problem of the file is reported at once, located, before any command does anything.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from reconciler.domain.contract.identifiers import ClientId, MerchantId, is_loopback_host
from reconciler.domain.problems import Problem, ProblemsFound, format_field_path
from reconciler.errors import InvalidInput

CONFIG_FILE: Final = "ipass.toml"
CONFIG_MAX_BYTES: Final = 256 * 1024
EMBEDDED: Final = "embedded"
SANDBOX: Final = "sandbox"
# The embedded sandbox registers this merchant, so plans and renders for `sandbox` need no setup.
SANDBOX_MERCHANT_ID: Final = "2160120000000001"
SANDBOX_CLIENT_ID: Final = "SANDBOX-CLIENT-0001"

EnvName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
# The name of an environment variable, never its value: a key pasted here is refused without
# being repeated in the message.
VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
RelativeOrAbsolutePath = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class EnvironmentConfig(BaseModel):
    """One environment as written in `ipass.toml` (checked for completeness by `_problems`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    endpoint: str | None = Field(
        default=None,
        description="Base URL such as https://open.alipay.hk, or 'embedded' for the local sandbox.",
    )
    merchant_id: MerchantId | None = None
    client_id: ClientId | None = None
    key_version: int | None = Field(default=None, ge=0, le=2**31 - 1)
    private_key_file: RelativeOrAbsolutePath | None = None
    private_key_env: VariableName | None = None
    private_key_passphrase_env: VariableName | None = None
    platform_public_key_file: RelativeOrAbsolutePath | None = None
    platform_public_key_env: VariableName | None = None
    encrypt: bool = False
    signature_algorithm: Literal["RSA256", "ECC224"] = "RSA256"

    @property
    def embedded(self) -> bool:
        return self.endpoint == EMBEDDED


_SANDBOX_DEFAULT: Final = EnvironmentConfig(endpoint=EMBEDDED)
SETTINGS: Final = tuple(EnvironmentConfig.model_fields)


def _inside_project(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or ".." in parts:
        raise PydanticCustomError(
            "project_folder", "must be a folder inside the project, written relative to ipass.toml"
        )
    return path


ProjectFolder = Annotated[
    str, StringConstraints(min_length=1, max_length=4096), AfterValidator(_inside_project)
]


class PreviewConfig(BaseModel):
    """`[preview]`: what `ipass preview` may read besides the catalog."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    images: ProjectFolder | None = Field(
        default=None,
        description="Folder of the catalog's image files, matched to each image URL by the "
        "file name at the end of its path; they are checked for size, weight and ratio.",
    )


PREVIEW_SETTINGS: Final = tuple(PreviewConfig.model_fields)


class ProjectConfig(BaseModel):
    """The whole `ipass.toml`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    catalog: str = "catalog"
    state: str = "state"
    default_environment: EnvName = SANDBOX
    environments: dict[EnvName, EnvironmentConfig] = Field(default_factory=dict)
    preview: PreviewConfig = Field(default_factory=PreviewConfig)


@dataclass(frozen=True)
class Target:
    """One environment resolved once per command: what use cases receive instead of a name."""

    name: str
    root: Path
    catalog_dir: Path
    work_dir: Path
    settings: EnvironmentConfig
    is_default: bool
    merchant_id: str
    client_id: str
    state_file: Path
    locks_dir: Path
    # Reuse rendered catalog files from `.ipass/cache/render/<env>/` (`--no-cache` turns it off).
    render_cache: bool = True
    preview_images: Path | None = None  # `[preview] images`, resolved against the project

    @property
    def embedded(self) -> bool:
        return self.settings.embedded

    @property
    def endpoint_host(self) -> str:
        """Where requests go, for people: a host, or the embedded sandbox."""
        if self.embedded or self.settings.endpoint is None:
            return "embedded sandbox"
        return urlsplit(self.settings.endpoint).netloc or self.settings.endpoint

    @property
    def env_args(self) -> str:
        """What a printed command needs to act on this environment (empty for the default)."""
        return "" if self.is_default else f" --env {self.name}"


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

    @property
    def environments(self) -> dict[str, EnvironmentConfig]:
        known = dict(self.config.environments)
        known.setdefault(SANDBOX, _SANDBOX_DEFAULT)
        return known

    def target(self, name: str | None) -> Target:
        """Resolve `--env` (or the default environment) into one `Target`."""
        chosen = name or self.config.default_environment
        environments = self.environments
        if chosen not in environments:
            known = ", ".join(sorted(environments))
            guesses = difflib.get_close_matches(chosen, sorted(environments), n=1)
            guess = f"did you mean {guesses[0]!r}? or " if guesses else ""
            raise InvalidInput(
                f"unknown environment {chosen!r}; known: {known}",
                hint=f"{guess}add [environments.{chosen}] to {CONFIG_FILE}",
            )
        settings = _effective(chosen, environments[chosen])
        locks = self.work_dir / "locks"
        # The embedded sandbox keeps its state beside its data under .ipass/ (a fresh clone
        # starts a fresh sandbox); every other environment's state is committed under state/.
        state_file = (
            self.work_dir / "sandbox" / "state" / f"{chosen}.json"
            if settings.embedded
            else self.state_dir / f"{chosen}.json"
        )
        return Target(
            name=chosen,
            root=self.root,
            catalog_dir=self.catalog_dir,
            work_dir=self.work_dir,
            settings=settings,
            is_default=chosen == self.config.default_environment,
            merchant_id=settings.merchant_id or SANDBOX_MERCHANT_ID,
            client_id=settings.client_id or SANDBOX_CLIENT_ID,
            state_file=state_file,
            locks_dir=locks,
            preview_images=(
                self.root / self.config.preview.images
                if self.config.preview.images is not None
                else None
            ),
        )


def _effective(name: str, env: EnvironmentConfig) -> EnvironmentConfig:
    """The built-in `sandbox` is embedded unless it says otherwise; nothing else ever is."""
    if name == SANDBOX and env.endpoint is None:
        return env.model_copy(update={"endpoint": EMBEDDED})
    return env


def load_project(root: Path) -> Project:
    """Read `ipass.toml` under `root` (absent means all defaults); report every problem at once."""
    if not root.is_dir():
        raise InvalidInput(
            f"project folder {str(root)!r} does not exist", hint="check -C/--project-dir"
        )
    path = root / CONFIG_FILE
    if not path.exists() and not path.is_symlink():
        return Project(root=root, config=ProjectConfig())
    text = _read_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(
            f"{path}: not valid TOML: {error}", hint="see the ipass.toml example in the README"
        ) from None
    except RecursionError:
        raise InvalidInput(f"{path}: nested too deeply to be an ipass.toml") from None
    where = str(path)
    try:
        config = ProjectConfig.model_validate(raw)
    except ValidationError as error:
        details = error.errors()
        problems = [_pydantic_problem(where, text, e) for e in details]
        problems += [
            _problem(where, text, ("environments", name, setting), message)
            for name, setting, message in _problems_beside(raw, details)
        ]
        raise ProblemsFound(problems) from None
    problems = [
        _problem(where, text, ("environments", name, setting), message)
        for name, env in config.environments.items()
        for setting, message in _problems(name, env)
    ]
    if problems:
        raise ProblemsFound(problems)
    return Project(root=root, config=config)


def _read_text(path: Path) -> str:
    import os
    import stat

    try:
        info = os.lstat(path)
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(
            f"{path}: not a regular file (a symlink, folder or device); ipass reads only "
            "regular files in the project"
        )
    if info.st_size > CONFIG_MAX_BYTES:
        raise InvalidInput(f"{path}: {info.st_size} bytes; an ipass.toml is at most 256 KiB")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None


def _problems(name: str, env: EnvironmentConfig) -> list[tuple[str, str]]:
    """Every setting this environment lacks or gets wrong, as (setting, message)."""
    effective = _effective(name, env)
    if effective.endpoint is None:
        return [
            (
                "endpoint",
                'required: the AlipayHK gateway URL (https://...), or "embedded" for the '
                "local sandbox; an environment is never sent to the sandbox by default",
            ),
            *_credentials_problems(env),
        ]
    if effective.embedded:
        return []
    found = _endpoint_problems(effective.endpoint)
    found += _credentials_problems(env)
    return found


def _problems_beside(
    raw: dict[str, object], details: list[ErrorDetails]
) -> list[tuple[str, str, str]]:
    """What environments with an invalid or unknown setting also lack, as (name, setting, message).

    So a misspelt setting does not hide a missing one until the next run. A setting that is
    itself reported (invalid, or the "did you mean" of an unknown one) is not reported again.
    """
    tables = raw.get("environments")
    if not isinstance(tables, dict):
        return []
    reported: set[tuple[str, str]] = set()
    for item in details:
        loc = item["loc"]
        if len(loc) == 3 and loc[0] == "environments":
            name, setting = str(loc[1]), str(loc[2])
            reported.add((name, setting))
            if item["type"] == "extra_forbidden":
                reported.update(
                    (name, guess) for guess in difflib.get_close_matches(setting, SETTINGS, n=1)
                )
    found: list[tuple[str, str, str]] = []
    for name, table in tables.items():
        if not isinstance(table, dict) or (name, "[key]") in reported:
            continue
        kept = {k: v for k, v in table.items() if k in SETTINGS and (name, k) not in reported}
        try:
            env = EnvironmentConfig.model_validate(kept)
        except ValidationError:
            continue
        found += [
            (name, setting, message)
            for setting, message in _problems(name, env)
            if not any((name, other) in reported for other in _same_setting(setting))
        ]
    return found


def _same_setting(setting: str) -> tuple[str, ...]:
    """A key is one setting given either way: `private_key_file` or `private_key_env`."""
    for prefix in ("private_key", "platform_public_key"):
        if setting in (f"{prefix}_file", f"{prefix}_env"):
            return (f"{prefix}_file", f"{prefix}_env")
    return (setting,)


def _credentials_problems(env: EnvironmentConfig) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if env.merchant_id is None:
        found.append(("merchant_id", "required: the merchant id AlipayHK gave you (partnerId)"))
    if env.client_id is None:
        found.append(("client_id", "required: the Client-Id from the AlipayHK console"))
    for prefix, what in (
        ("private_key", "the merchant's RSA private key"),
        ("platform_public_key", "AlipayHK's public key, to verify responses"),
    ):
        file, variable = getattr(env, f"{prefix}_file"), getattr(env, f"{prefix}_env")
        if file is None and variable is None:
            found.append((f"{prefix}_file", f"required: {what}; set {prefix}_file or {prefix}_env"))
        elif file is not None and variable is not None:
            found.append((f"{prefix}_env", f"give {prefix}_file or {prefix}_env, not both"))
    return found


def _endpoint_problems(endpoint: str) -> list[tuple[str, str]]:
    problem = _endpoint_problem(endpoint)
    return [("endpoint", problem)] if problem is not None else []


def _endpoint_problem(endpoint: str) -> str | None:
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return "not a URL with a valid port (1 to 65535)"
    host = parts.hostname or ""
    checks = (
        (
            parts.scheme not in ("https", "http") or not host,
            'must be an https:// URL, or "embedded" for the local sandbox',
        ),
        (
            parts.username is not None or parts.password is not None,
            "must not carry a user name or password",
        ),
        (bool(parts.query or parts.fragment), "must not carry a query or fragment"),
        (port == 0, "port 0 is not a port to connect to"),
        (
            parts.scheme == "http" and not is_loopback_host(host),
            "http:// is allowed only for a loopback address (127.0.0.1, ::1, localhost); "
            "use https://",
        ),
    )
    return next((message for failed, message in checks if failed), None)


def _pydantic_problem(where: str, text: str, details: ErrorDetails) -> Problem:
    loc = tuple(details["loc"])
    message = details["msg"]
    if details["type"] == "extra_forbidden":
        message = _unknown_setting(loc)
    elif details["type"] == "string_pattern_mismatch" and _names_environment(loc):
        # pydantic locates a bad table name as ("environments", NAME, "[key]").
        loc = tuple(part for part in loc if part != "[key]")
        message = (
            "environment names are 1 to 32 lower-case letters, digits, - and _, "
            "starting with a letter"
        )
    elif details["type"] == "string_pattern_mismatch" and str(loc[-1]).endswith("_env"):
        # Never repeat the value: it may be a key pasted where a variable's name belongs.
        message = "must be the NAME of an environment variable (letters, digits, _), not a value"
    return _problem(where, text, loc, message)


def _names_environment(loc: tuple[int | str, ...]) -> bool:
    return loc == ("default_environment",) or (
        len(loc) == 3 and loc[0] == "environments" and loc[2] == "[key]"
    )


def _unknown_setting(loc: tuple[int | str, ...]) -> str:
    name = str(loc[-1])
    pool: Sequence[str] | Mapping[str, object] = ProjectConfig.model_fields
    if len(loc) == 3 and loc[0] == "environments":
        pool = SETTINGS
    elif len(loc) == 2 and loc[0] == "preview":
        pool = PREVIEW_SETTINGS
    guesses = difflib.get_close_matches(name, sorted(pool), n=1)
    guess = f"; did you mean {guesses[0]!r}?" if guesses else ""
    return f"unknown setting{guess}"


def _problem(file: str, text: str, loc: tuple[int | str, ...], message: str) -> Problem:
    return Problem(file, _line_of(text, loc), 1, format_field_path(loc), message)


def _line_of(text: str, loc: tuple[int | str, ...]) -> int:
    """tomllib keeps no positions: find the setting's line inside its table, else the table's."""
    table_line = 1
    if len(loc) >= 2 and loc[0] == "environments":
        header = re.search(
            # [ \t]*, not \s*: from the start of a blank line, \s* would run on into the header
            # and locate the whole table on the blank line above it.
            rf"^[ \t]*\[\s*environments\s*\.\s*\"?{re.escape(str(loc[1]))}\"?\s*\]",
            text,
            re.MULTILINE,
        )
        if header is not None:
            table_line = text.count("\n", 0, header.start()) + 1
    elif len(loc) >= 2 and loc[0] == "preview":
        found = re.search(r"^[ \t]*\[\s*preview\s*\]", text, re.MULTILINE)
        if found is not None:
            table_line = text.count("\n", 0, found.start()) + 1
    name = str(loc[-1])
    lines = text.splitlines()
    for number in range(table_line, len(lines) + 1):
        line = lines[number - 1]
        if number > table_line and line.lstrip().startswith("["):
            break
        if re.match(rf"^\s*\"?{re.escape(name)}\"?\s*=", line):
            return number
    return table_line
