"""The one error boundary: bugs exit 70 with a crash file, the OS's refusals are one plain line,
everything printed is escaped, and warnings reach stderr."""

from __future__ import annotations

import errno
import logging
import os
import platform
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import pytest
from helpers import REPO, Run, run_cli
from reconcile_support import rehearsal

import reconciler.cli.main as cli_main
import reconciler.usecases.keys as keys_usecase
from reconciler import __version__
from reconciler.adapters.alipayhk.keys import KeyPairFiles
from reconciler.adapters.files import create_private_file, write_atomic
from reconciler.domain.text import printable
from reconciler.errors import ExitCode, InvalidInput, StorageError

SECRET_OPTION = "CANARY-option-value-5Xq"
SECRET_ENV = "CANARY-environment-value-9Lm"
SECRET_LOCAL = "CANARY-local-variable-3Rz"
FORGED = "bad\n::error::forged \x1b[31mred\u202eevil"
FORGED_SHOWN = "bad\\n::error::forged \\x1b[31mred\\u202eevil"
RAW_SEQUENCES = ("\n::error::", "\x1b", "\u202e")


def explode(_out_dir: Path) -> NoReturn:
    secret = SECRET_LOCAL  # a local variable: it must never reach a crash file
    raise RuntimeError("boom" if secret else "")


@pytest.fixture
def bug(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ipass keys generate` hits a bug: its use case raises what nobody expected."""
    monkeypatch.setattr(keys_usecase, "generate_merchant_keys", explode)


def generate(capsys: pytest.CaptureFixture[str], project: Path, *options: str) -> Run:
    out = str(project / SECRET_OPTION)
    return run_cli(capsys, "-C", str(project), *options, "keys", "generate", "--out", out)


def crash_files(project: Path) -> list[Path]:
    folder = project / ".ipass" / "crash"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def raising(error: BaseException) -> Callable[[Path], NoReturn]:
    def use_case(_out_dir: Path) -> NoReturn:
        raise error

    return use_case


# -- bugs: exit 70 and a crash file ----------------------------------------------------------


def test_a_bug_exits_70_with_one_private_crash_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bug: None
) -> None:
    monkeypatch.setenv("IPASS_CANARY", SECRET_ENV)
    run = generate(capsys, tmp_path)

    assert run.code == ExitCode.BUG
    assert int(ExitCode.BUG) == 70
    [crash] = crash_files(tmp_path)
    assert crash.name.startswith("crash-")
    assert crash.name.endswith(f"-{os.getpid()}.txt")
    info = crash.lstat()
    assert stat.S_ISREG(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert run.out == ""
    assert run.err.splitlines() == [
        "error: this is a bug in ipass (RuntimeError: boom)",
        f"hint: please report it with the crash file {crash} (traceback and versions; "
        "no option values, environment or keys)",
    ]
    text = crash.read_text(encoding="utf-8")
    assert f"ipass: {__version__}\n" in text
    assert f"python: {platform.python_implementation()} {platform.python_version()}\n" in text
    assert f"platform: {platform.platform()}\n" in text
    assert "command: ipass keys generate\n" in text
    assert "Traceback (most recent call last):\n" in text
    assert 'raise RuntimeError("boom" if secret else "")' in text
    assert text.endswith("RuntimeError: boom\n")
    for secret in (SECRET_OPTION, SECRET_ENV, SECRET_LOCAL):
        assert secret not in text


def test_debug_also_prints_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bug: None
) -> None:
    run = generate(capsys, tmp_path, "--debug")

    assert run.code == ExitCode.BUG
    [crash] = crash_files(tmp_path)
    lines = run.err.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-3] == "RuntimeError: boom"
    assert lines[-2] == "error: this is a bug in ipass (RuntimeError: boom)"
    assert str(crash) in lines[-1]
    assert "\n".join(lines[:-2]) + "\n" in crash.read_text(encoding="utf-8")


def test_debug_is_the_parsed_option_not_a_word_in_the_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bug: None
) -> None:
    run = run_cli(capsys, "-C", str(tmp_path), "keys", "generate", "--out", "--debug")

    assert run.code == ExitCode.BUG
    assert "Traceback" not in run.err  # "--debug" was the value of --out
    assert len(crash_files(tmp_path)) == 1


def test_a_bug_before_the_group_ran_still_honours_its_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(cli_main._COMMANDS, "keys", ("reconciler.cli.no_such_module", "keys"))

    run = run_cli(capsys, "-C", str(tmp_path), "--debug", "keys", "generate")

    assert run.code == ExitCode.BUG
    assert "ModuleNotFoundError: No module named 'reconciler.cli.no_such_module'" in run.err
    assert "Traceback (most recent call last):" in run.err
    [crash] = crash_files(tmp_path)
    assert "command: ipass\n" in crash.read_text(encoding="utf-8")


def test_a_bug_while_parsing_falls_back_to_the_raw_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_parser(*_args: object, **_kwargs: object) -> NoReturn:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(cli_main.cli, "make_context", broken_parser)
    monkeypatch.chdir(tmp_path)  # no parsed -C: the project is the current folder

    run = run_cli(capsys, "--debug", "validate")

    assert run.code == ExitCode.BUG
    assert "Traceback (most recent call last):" in run.err
    assert len(crash_files(tmp_path)) == 1


def test_a_symlinked_crash_folder_is_not_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bug: None
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".ipass").mkdir()
    (tmp_path / ".ipass" / "crash").symlink_to(elsewhere)

    run = generate(capsys, tmp_path)

    assert run.code == ExitCode.BUG
    assert list(elsewhere.iterdir()) == []
    assert run.err.splitlines() == [
        "error: this is a bug in ipass (RuntimeError: boom)",
        f"hint: could not write a crash file ({tmp_path}/.ipass/crash: cannot open the folder: "
        "is a symbolic link, and ipass does not follow a link here (or the links form a loop)); "
        "rerun with --debug to see it; please report it",
    ]


def test_a_planted_crash_file_link_is_never_written_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bug: None
) -> None:
    folder = tmp_path / ".ipass" / "crash"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    now = datetime.now(UTC)
    planted = []
    for second in range(-2, 30):  # every name this crash could take in the next half minute
        stem = f"crash-{now + timedelta(seconds=second):%Y%m%dT%H%M%SZ}-{os.getpid()}"
        (folder / f"{stem}.txt").symlink_to(victim)
        (folder / f"{stem}-1.txt").symlink_to(tmp_path / "dangling.txt")
        planted += [folder / f"{stem}.txt", folder / f"{stem}-1.txt"]

    run = generate(capsys, tmp_path)

    assert run.code == ExitCode.BUG
    assert victim.read_text() == "untouched"
    assert not (tmp_path / "dangling.txt").exists()
    [crash] = [path for path in crash_files(tmp_path) if path not in planted]
    assert crash.name.endswith(f"-{os.getpid()}-2.txt")
    assert not crash.is_symlink()
    assert stat.S_IMODE(crash.stat().st_mode) == 0o600
    assert str(crash) in run.err


def test_create_private_file_never_replaces_and_never_follows(tmp_path: Path) -> None:
    first = create_private_file(tmp_path, ("a", "b"), "report", ".txt", b"one")
    second = create_private_file(tmp_path, ("a", "b"), "report", ".txt", b"two")
    assert (first.name, second.name) == ("report.txt", "report-1.txt")
    assert (first.read_bytes(), second.read_bytes()) == (b"one", b"two")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    (tmp_path / "link").symlink_to(tmp_path / "a")
    with pytest.raises(StorageError, match="link: cannot open the folder: is a symbolic link"):
        create_private_file(tmp_path, ("link", "b"), "report", ".txt", b"three")


def test_a_crash_as_a_real_process(tmp_path: Path) -> None:
    child = (
        "import sys\n"
        "import reconciler.usecases.keys as keys\n"
        "def explode(out_dir):\n"
        "    raise RuntimeError('boom')\n"
        "keys.generate_merchant_keys = explode\n"
        "from reconciler.cli.main import main\n"
        "sys.exit(main())\n"
    )
    args = ["-C", str(tmp_path), "keys", "generate", "--out", str(tmp_path / SECRET_OPTION)]
    done = subprocess.run(
        [sys.executable, "-c", child, *args],
        env={**os.environ, "PYTHONPATH": str(REPO), "IPASS_CANARY": SECRET_ENV},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 70
    [crash] = crash_files(tmp_path)
    assert done.stderr.splitlines()[0] == "error: this is a bug in ipass (RuntimeError: boom)"
    assert str(crash) in done.stderr
    assert "Traceback" not in done.stderr
    text = crash.read_text(encoding="utf-8")
    assert "RuntimeError: boom" in text
    assert SECRET_OPTION not in text
    assert SECRET_ENV not in text


# -- the operating system's refusals: one line, exit 1 or 3 ------------------------------------


Refusal = tuple[int, str, str]  # errno, the reason printed, a piece of the hint
REFUSALS: list[Refusal] = [
    (errno.ENOSPC, "no space left on the device", "free some disk space"),
    (errno.EACCES, "permission denied", "check the permissions of the file and of its folder"),
    (errno.EROFS, "the file system is read-only", "remount it read-write"),
]


def assert_plain_refusal(run: Run, message: str, hint: str, project: Path) -> None:
    error_line, hint_line = run.err.splitlines()
    assert error_line == f"error: {message}"
    assert hint_line.startswith("hint: ")
    assert hint in hint_line
    assert "bug" not in run.err
    assert "Traceback" not in run.err
    assert crash_files(project) == []


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: errno.errorcode[r[0]])
def test_refused_write_of_ipass_files_exits_3_naming_the_path(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    refusal: Refusal,
) -> None:
    number, reason, hint = refusal

    def refuse(_fd: int) -> NoReturn:
        raise OSError(number, os.strerror(number))

    out = tmp_path / "schemas"
    monkeypatch.setattr(os, "fsync", refuse)
    run = run_cli(capsys, "-C", str(tmp_path), "schema", "export", "--out", str(out))

    assert run.code == ExitCode.CONFLICT
    [name] = re.findall(rf"^error: {re.escape(str(out))}/([^/]+\.json): cannot write: ", run.err)
    assert_plain_refusal(run, f"{out / name}: cannot write: {reason}", hint, tmp_path)
    assert [p.name for p in out.iterdir()] == []  # no temp file left behind


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: errno.errorcode[r[0]])
def test_refusal_anywhere_else_exits_1_naming_the_path(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    refusal: Refusal,
) -> None:
    number, reason, hint = refusal
    where = tmp_path / "journal.jsonl"  # as if appending to the journal had failed
    error = OSError(number, os.strerror(number), str(where))
    monkeypatch.setattr(keys_usecase, "generate_merchant_keys", raising(error))

    run = generate(capsys, tmp_path)

    assert run.code == ExitCode.INVALID_INPUT
    assert_plain_refusal(run, f"{where}: {reason}", hint, tmp_path)


def test_refusal_without_a_path_still_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a buffered write raises it
    monkeypatch.setattr(keys_usecase, "generate_merchant_keys", raising(refusal))

    run = generate(capsys, tmp_path)

    assert run.code == ExitCode.INVALID_INPUT
    assert_plain_refusal(run, "no space left on the device", "free some disk space", tmp_path)


def test_an_unknown_os_error_is_a_bug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    misuse = OSError(errno.EBADF, os.strerror(errno.EBADF))  # ipass closed a file twice
    monkeypatch.setattr(keys_usecase, "generate_merchant_keys", raising(misuse))

    run = generate(capsys, tmp_path)

    assert run.code == ExitCode.BUG
    assert len(crash_files(tmp_path)) == 1


def test_write_atomic_refuses_a_symlink_and_leaves_its_target_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "schemas"
    out.mkdir()
    victim = tmp_path / "victim.json"
    victim.write_text("untouched")
    for name in ("catalog-template.schema.json", "catalog-defaults.schema.json"):
        (out / name).symlink_to(victim)

    run = run_cli(capsys, "-C", str(tmp_path), "schema", "export", "--out", str(out))

    assert run.code == ExitCode.CONFLICT
    assert re.fullmatch(
        rf"error: {re.escape(str(out))}/\S+\.json: is a symbolic link; ipass replaces this file "
        r"and will not write over a link\nhint: remove the link .*\n",
        run.err,
    )
    assert victim.read_text() == "untouched"


def test_write_atomic_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "state.json").mkdir()
    with pytest.raises(StorageError, match=r"state.json: is not a regular file"):
        write_atomic(tmp_path / "state.json", b"{}")
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(StorageError, match=r"fifo: is not a regular file"):
        write_atomic(tmp_path / "fifo", b"{}")


def test_write_atomic_still_replaces_a_regular_file_with_the_exact_mode(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.json"
    write_atomic(target, b"one", mode=0o600)
    write_atomic(target, b"two", mode=0o644)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["state.json"]


# -- everything printed is escaped -------------------------------------------------------------


def assert_no_raw_sequences(text: str) -> None:
    for raw in RAW_SEQUENCES:
        assert raw not in text


def test_error_and_hint_are_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    failure = InvalidInput(FORGED, hint="fix\n::warning::it\x1b]0;title\x07")
    monkeypatch.setattr(keys_usecase, "generate_merchant_keys", raising(failure))

    run = generate(capsys, tmp_path)

    assert run.code == ExitCode.INVALID_INPUT
    assert run.err == f"error: {FORGED_SHOWN}\nhint: fix\\n::warning::it\\x1b]0;title\\x07\n"
    assert_no_raw_sequences(run.err)


def test_a_bug_message_is_escaped_on_stderr_and_in_the_crash_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_usecase, "generate_merchant_keys", raising(ValueError(FORGED)))

    run = generate(capsys, tmp_path, "--debug")

    assert run.code == ExitCode.BUG
    assert f"error: this is a bug in ipass (ValueError: {FORGED_SHOWN})\n" in run.err
    assert f"\nValueError: {FORGED_SHOWN}\n" in run.err  # the --debug traceback
    assert_no_raw_sequences(run.err)
    [crash] = crash_files(tmp_path)
    text = crash.read_text(encoding="utf-8")
    assert f"\nValueError: {FORGED_SHOWN}\n" in text
    assert_no_raw_sequences(text)


def test_an_os_error_path_is_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = OSError(errno.EACCES, "Permission denied", f"{tmp_path}/{FORGED}")
    monkeypatch.setattr(keys_usecase, "generate_merchant_keys", raising(refusal))

    run = generate(capsys, tmp_path)

    assert run.err.startswith(f"error: {tmp_path}/{FORGED_SHOWN}: permission denied\n")
    assert_no_raw_sequences(run.err)


def test_a_usage_error_quoting_what_was_typed_is_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "-C", str(tmp_path), FORGED)

    assert run.code == ExitCode.INVALID_INPUT
    assert run.err.endswith(f"Error: No such command '{FORGED_SHOWN}'.\n")
    assert_no_raw_sequences(run.err)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain ascii, kept", "plain ascii, kept"),
        ("咖啡券 ☕ café", "咖啡券 ☕ café"),  # ordinary text of any script stays as it is
        ("👩\u200d💻", "👩\u200d💻"),  # a zero-width joiner builds an emoji
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x00\x1b\x7f\x85\x9b", "\\x00\\x1b\\x7f\\x85\\x9b"),  # C0, DEL, C1 (NEL, CSI)
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"),
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
        ("\u200e\u200f", "\\u200e\\u200f"),
        ("name\udcff.pem", "name\\udcff.pem"),  # a file name that was not UTF-8
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown


# -- warnings reach stderr ---------------------------------------------------------------------


def test_warnings_are_escaped_and_shown_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def warn_then_succeed(out_dir: Path) -> KeyPairFiles:
        log = logging.getLogger("ipass.test")
        log.warning("careful: %s", FORGED)
        log.warning("careful: %s", FORGED)  # e.g. the same key loaded by two layers
        return KeyPairFiles(out_dir / "private.pem", out_dir / "public.pem", "PUBLIC")

    monkeypatch.setattr(keys_usecase, "generate_merchant_keys", warn_then_succeed)

    run = generate(capsys, tmp_path)

    assert run.code == ExitCode.OK
    assert run.err.splitlines()[0] == f"warning: careful: {FORGED_SHOWN}"
    assert run.err.count("warning:") == 1
    assert_no_raw_sequences(run.err)


@pytest.fixture
def not_ci(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process and its children run as on a workstation, even when the tests run in CI."""
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    return {**os.environ, "PYTHONPATH": str(REPO)}


def loose_key_warning(key: Path) -> str:
    return (
        f"warning: merchant private key: file {key} is readable or writable by group or others "
        f"(mode 0644); run: chmod 600 {key}"
    )


def test_loose_key_permissions_are_a_warning_on_stderr_outside_ci(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], not_ci: dict[str, str]
) -> None:
    with rehearsal(tmp_path) as rig:
        key = rig.root / "keys" / "merchant.pem"
        key.chmod(0o644)

        run = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")

    assert run.code == ExitCode.OK, run.err
    assert run.err.splitlines().count(loose_key_warning(key)) == 1
    assert "BEGIN" not in run.err


def test_loose_key_permissions_warning_from_a_real_process(
    tmp_path: Path, not_ci: dict[str, str]
) -> None:
    with rehearsal(tmp_path) as rig:
        key = rig.root / "keys" / "merchant.pem"
        key.chmod(0o644)
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "-C", str(rig.root), "apply", "--auto-approve"],
            env=not_ci,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [loose_key_warning(key)]


def test_loose_key_permissions_are_refused_in_ci(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with rehearsal(tmp_path) as rig:
        key = rig.root / "keys" / "merchant.pem"
        key.chmod(0o644)

        run = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")

    assert run.code == ExitCode.CREDENTIALS
    assert "refused because CI=true" in run.err
    assert "warning:" not in run.err


def test_a_mistyped_command_gets_a_guess(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main.main(["aply"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "Error: No such command 'aply'. Did you mean 'apply'?"
    )
