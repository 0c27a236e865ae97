"""`ipass doctor`: everything a first apply needs, checked at once and reported as findings.

Each check gives findings (ok, warning or problem; a problem says what to do and which exit code
it calls for), and the checks go on after a problem, so one run lists every problem. Unlike the
other use cases this one reads `ipass.toml` itself: a configuration that does not load is one of
the things it reports. The online check is in `probe`.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Final

from pydantic import ValidationError

from reconciler.domain.config import CONFIG_FILE, Project, ProjectConfig, Target, load_project
from reconciler.domain.problems import ProblemsFound
from reconciler.domain.state import State
from reconciler.errors import ExitCode, IpassError, StorageError

if TYPE_CHECKING:  # the key stack is imported only when the key checks run
    from reconciler.adapters.alipayhk.keys import KeySource


class Severity(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Finding:
    """One result of one check; a problem carries what to do and the exit code it calls for."""

    severity: Severity
    check: str
    detail: str
    hint: str | None = None
    exit_code: ExitCode = ExitCode.OK

    @classmethod
    def ok(cls, check: str, detail: str) -> Finding:
        return cls(Severity.OK, check, detail)

    @classmethod
    def warning(cls, check: str, detail: str, hint: str | None = None) -> Finding:
        return cls(Severity.WARNING, check, detail, hint)

    @classmethod
    def problem(cls, check: str, detail: str, hint: str, exit_code: ExitCode) -> Finding:
        return cls(Severity.PROBLEM, check, detail, hint, exit_code)

    @classmethod
    def from_error(cls, check: str, error: IpassError, hint: str | None = None) -> Finding:
        """The error's message and hint (else `hint`), and the exit code it would have caused."""
        fix = error.hint or hint or "fix it, then run `ipass doctor` again"
        return cls.problem(check, error.message, fix, error.exit_code)


# Which exit code wins when problems of several kinds are found: credentials first (nothing works
# without them), then a held lock or damaged state, then unknown outcomes, then the rest.
_PRECEDENCE: Final = (
    ExitCode.CREDENTIALS,
    ExitCode.CONFLICT,
    ExitCode.OUTCOME_UNKNOWN,
    ExitCode.INVALID_INPUT,
)


@dataclass(frozen=True)
class DoctorReport:
    environment: str | None  # None when the settings did not resolve to an environment
    findings: tuple[Finding, ...]

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.PROBLEM)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def exit_code(self) -> ExitCode:
        found = {f.exit_code for f in self.problems}
        return next((code for code in _PRECEDENCE if code in found), ExitCode.OK)


def diagnose(project_dir: Path, environment: str | None, *, online: bool) -> DoctorReport:
    """Run every check for `environment` (None: the default) of the project in `project_dir`."""
    findings, target = _settings(project_dir, environment)
    if target is None:
        return DoctorReport(None, tuple(findings))
    settings_complete = not findings
    if settings_complete:
        findings.append(Finding.ok("settings", _describe_target(target)))
    findings += _keys(target)
    state_findings, state = _state(target)
    findings += state_findings
    findings.append(_lock(target))
    if state is not None:
        findings += _outcomes(target, state)
    if online:
        if settings_complete and not any(f.exit_code is ExitCode.CREDENTIALS for f in findings):
            from reconciler.usecases.probe import check_online  # the HTTP stack, only if asked

            findings += check_online(target)
        else:
            findings.append(
                Finding.warning(
                    "credentials",
                    "not checked online: fix the settings and key problems above first",
                )
            )
    return DoctorReport(target.name, tuple(findings))


# -- settings ------------------------------------------------------------------------------------

_SETTINGS_HINT: Final = f"fix this line of {CONFIG_FILE}, then run `ipass doctor` again"


def _settings(root: Path, environment: str | None) -> tuple[list[Finding], Target | None]:
    """Every settings problem, and the target when the file is at least well-formed."""
    findings: list[Finding] = []
    try:
        project: Project | None = load_project(root)
    except ProblemsFound as found:
        findings = [
            Finding.problem("settings", str(p), _SETTINGS_HINT, ExitCode.INVALID_INPUT)
            for p in found.problems
        ]
        project = _as_written(root)
    except IpassError as error:
        return [Finding.from_error("settings", error)], None
    if project is None:
        return findings, None
    try:
        return findings, project.target(environment)
    except IpassError as error:
        return [*findings, Finding.from_error("settings", error)], None


def _as_written(root: Path) -> Project | None:
    """The project when `ipass.toml` is well-formed but some environment lacks settings, so the
    checks that need no missing setting (keys, state, lock) can still run; None otherwise.

    `load_project` has just read and parsed this file; it refused only its completeness.
    """
    try:
        raw = tomllib.loads((root / CONFIG_FILE).read_text(encoding="utf-8"))
        return Project(root=root, config=ProjectConfig.model_validate(raw))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValidationError):
        return None


def _describe_target(target: Target) -> str:
    where = "" if (target.root / CONFIG_FILE).exists() else f" (no {CONFIG_FILE}: defaults)"
    if target.embedded:
        return f"environment {target.name}: the embedded sandbox on this machine{where}"
    return (
        f"environment {target.name}: {target.endpoint_host}, merchant {target.merchant_id}, "
        f"Client-Id {target.client_id}, keyVersion {target.settings.key_version}{where}"
    )


# -- keys ----------------------------------------------------------------------------------------

MERCHANT_KEY: Final = "merchant key"
PLATFORM_KEY: Final = "platform key"
_MERCHANT_KEY_HINT: Final = (
    "check private_key_file / private_key_env in ipass.toml; `ipass keys generate --help` "
    "explains the key pair"
)
_PLATFORM_KEY_HINT: Final = (
    "copy AlipayHK's public key for your Client-Id from the AlipayHK console into "
    "platform_public_key_file (or _env)"
)


@dataclass(frozen=True)
class KeySources:
    """Where each key is read from; None when the setting is missing (a settings problem) or,
    for the embedded sandbox, when the sandbox has not created its key yet."""

    merchant: KeySource | None
    platform: KeySource | None


def key_sources(target: Target) -> KeySources:
    from reconciler.adapters.alipayhk.keys import KeySource
    from reconciler.adapters.sandbox.datadir import PLATFORM_PUBLIC_KEY_FILE
    from reconciler.adapters.sandbox.embedded import MERCHANT_PRIVATE_KEY_FILE

    if target.embedded:
        folder = target.work_dir / "sandbox"
        merchant, platform = folder / MERCHANT_PRIVATE_KEY_FILE, folder / PLATFORM_PUBLIC_KEY_FILE
        return KeySources(
            KeySource.file(merchant) if merchant.exists() or merchant.is_symlink() else None,
            KeySource.file(platform) if platform.exists() or platform.is_symlink() else None,
        )
    env = target.settings

    def source(file: str | None, variable: str | None) -> KeySource | None:
        if file is not None:
            path = Path(file)
            return KeySource.file(path if path.is_absolute() else target.root / path)
        return KeySource.env(variable) if variable is not None else None

    return KeySources(
        source(env.private_key_file, env.private_key_env),
        source(env.platform_public_key_file, env.platform_public_key_env),
    )


def _keys(target: Target) -> list[Finding]:
    sources = key_sources(target)
    missing = "not created yet: the embedded sandbox creates it on first use"
    findings: list[Finding] = []
    if sources.merchant is not None:
        findings += _merchant_key(target, sources.merchant)
    elif target.embedded:
        findings.append(Finding.ok(MERCHANT_KEY, missing))
    if sources.platform is not None:
        findings.append(_platform_key(sources.platform))
    elif target.embedded:
        findings.append(Finding.ok(PLATFORM_KEY, missing))
    return findings


def _merchant_key(target: Target, source: KeySource) -> list[Finding]:
    """Permissions, passphrase, then whether it loads and suits the signature algorithm."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from reconciler.adapters.alipayhk.keys import load_private_key

    env = target.settings
    findings = _permissions(source.path) if source.path is not None else []
    passphrase: str | None = None
    variable = None if target.embedded else env.private_key_passphrase_env
    if variable is not None:
        passphrase = os.environ.get(variable)
        if passphrase is None:
            findings.append(
                Finding.problem(
                    MERCHANT_KEY,
                    f"passphrase variable ${variable} (private_key_passphrase_env) is not set",
                    f"export {variable}, or drop private_key_passphrase_env for a plain key",
                    ExitCode.CREDENTIALS,
                )
            )
            return findings  # without it an encrypted key cannot be read any further
    try:
        loaded = load_private_key(source, passphrase=passphrase, algorithm=env.signature_algorithm)
    except IpassError as error:
        if findings and "group or others" in error.message:
            return findings  # in CI the loader refuses the same loose mode: say it once
        return [*findings, Finding.from_error(MERCHANT_KEY, error, _MERCHANT_KEY_HINT)]
    kind = _key_kind(loaded.key)
    if env.encrypt and not isinstance(loaded.key, rsa.RSAPrivateKey):
        findings.append(
            Finding.problem(
                MERCHANT_KEY,
                f"{source}: encrypt = true needs an RSA merchant key (it decrypts the responses); "
                f"this is {kind}",
                "use an RSA key with signature_algorithm RSA256, or set encrypt = false",
                ExitCode.CREDENTIALS,
            )
        )
    findings.append(Finding.ok(MERCHANT_KEY, f"{source}: {kind} private key, loads"))
    return findings


def _permissions(path: Path) -> list[Finding]:
    """A private key others may read is a problem here (loading it only warns, outside CI)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return []  # loading the key names what is wrong with the file
    if not mode & 0o077:
        return []
    return [
        Finding.problem(
            MERCHANT_KEY,
            f"file {path} is readable or writable by group or others (mode {mode:04o})",
            f"chmod 600 {path}",
            ExitCode.CREDENTIALS,
        )
    ]


def _platform_key(source: KeySource) -> Finding:
    from reconciler.adapters.alipayhk.keys import load_public_key

    try:
        loaded = load_public_key(source)
    except IpassError as error:
        return Finding.from_error(PLATFORM_KEY, error, _PLATFORM_KEY_HINT)
    return Finding.ok(PLATFORM_KEY, f"{source}: {_key_kind(loaded.key)} public key, loads")


def _key_kind(key: object) -> str:
    """`RSA-2048` or `EC secp224r1`: the kind and size of a key, never any of its material."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    return type(key).__name__


# -- state and lock ------------------------------------------------------------------------------


def _state(target: Target) -> tuple[list[Finding], State | None]:
    """The state must load (snapshot and journal), and its folder must be writable."""
    from reconciler.adapters.statefile import ensure_writable
    from reconciler.usecases.plan import state_store

    findings: list[Finding] = []
    state: State | None = None
    try:
        state = state_store(target).load()
    except IpassError as error:
        findings.append(Finding.from_error("state", error))
    except OSError as error:
        findings.append(
            Finding.from_error("state", StorageError.refused(target.state_file, "read", error))
        )
    else:
        findings.append(Finding.ok("state", _describe_state(target, state)))
    folder = target.state_file.parent
    try:
        ensure_writable(folder)
    except IpassError as error:
        findings.append(Finding.from_error("state folder", error))
    else:
        findings.append(Finding.ok("state folder", f"{folder}: writable"))
    return findings, state


def _describe_state(target: Target, state: State) -> str:
    if not target.state_file.exists() and not state.entries:
        return f"{target.state_file}: none yet; the first apply creates it"
    count = sum(1 for entry in state.entries.values() if entry.current is not None)
    noun = "entry" if count == 1 else "entries"
    return f"{target.state_file}: {count} {noun} recorded, serial {state.serial}"


def _lock(target: Target) -> Finding:
    """Take the environment's lock without waiting and give it back: held means apply would stop."""
    from reconciler.usecases.ports import lock_for

    lock = lock_for(target, "doctor")
    try:
        with lock:
            pass
    except IpassError as error:
        return Finding.from_error("lock", error)
    except OSError as error:
        return Finding.from_error("lock", StorageError.refused(lock.path, "take the lock", error))
    return Finding.ok("lock", f"{target.name}: free")


def _outcomes(target: Target, state: State) -> list[Finding]:
    """Creates whose outcome was never learned: apply refuses to run until each is settled."""
    findings = []
    env = target.env_args
    for key, entry in sorted(state.entries.items()):
        record = entry.current
        if record is None or record.status not in ("pending", "unknown"):
            continue
        what = (
            "sent but its answer was never recorded (pending)"
            if record.status == "pending"
            else "outcome unknown"
        )
        note = f": {record.note}" if record.note else ""
        findings.append(
            Finding.problem(
                "outcomes",
                f"{key}: {what}{note} (requestId {record.request_id})",
                f"find out at AlipayHK, then `ipass state resolve {key}{env} --template-code "
                f"CODE` (or `--not-created`), or re-send it with the same requestId: "
                f"`ipass apply --retry-unknown --target {key}{env}`",
                ExitCode.OUTCOME_UNKNOWN,
            )
        )
    return findings or [Finding.ok("outcomes", "no create with an unknown outcome")]
