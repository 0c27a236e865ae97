"""Hostile files and a hostile operating system, met where a user meets them (issue 9).

* Class 4: ipass's own files (state, `.backup`, journal, lock, lock holder, generated keys and the
  embedded sandbox's keys) are never written through a link nor over what is not a regular
  file, and its own folders are never links.
* Class 6: a journal that does not match the snapshot is never dropped: its creates stay
  `unknown` until a person resolves them.
* Class 10: a disk that cannot hold the run is refused before anything is journaled or sent; a
  `pending` line that cannot be written sends nothing for it and stops the batch.
* Class 11: a second Ctrl-C (or SIGTERM) stops at once, even with a request in flight.
* Class 13c: `ipass keys generate` never leaves a private key where `git add .` takes it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from crash_support import KillPoint, run_ipass, start_ipass
from helpers import Run, copy_example, run_cli
from reconcile_support import Rehearsal, rehearsal
from test_crash import (
    apply_some,
    assert_recovers,
    journal_events,
    journal_path,
    pending_keys,
    rendered_request_ids,
    wait_until,
)

from reconciler.adapters.files import write_atomic
from reconciler.adapters.sandbox.faults import FaultKind, FaultRule
from reconciler.adapters.statefile import StateStore
from reconciler.domain.events import Pending, Resolved, StateEvent, apply_event, replay
from reconciler.domain.state import State, TemplateRecord, new_state, state_text
from reconciler.errors import StorageError

CHILD_TIMEOUT = 30.0
LINK = "is a symbolic link; ipass replaces this file and will not write over a link"
LINK_HINT = (
    "hint: remove the link (ipass writes a regular file there), or point ipass at the real file"
)
NOT_FILE = "is not a regular file (a folder, a device or a pipe); ipass will not replace it"
NOT_FILE_HINT = "hint: move it away, or give ipass the path of a file"
LINKED_FOLDER = (
    "is a symbolic link; ipass keeps its own files in a real folder here and does not follow a link"
)
LINKED_FOLDER_HINT = "hint: replace the link with a folder (move what it points to into its place)"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path) as r:
        yield r


def apply(capsys: pytest.CaptureFixture[str], r: Rehearsal, *args: str) -> Run:
    return run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve", *args)


def plan_steps(capsys: pytest.CaptureFixture[str], root: Path) -> tuple[int, dict[str, str]]:
    """`ipass plan`'s exit code and each key's action (from the versioned JSON)."""
    run = run_cli(capsys, "-C", str(root), "plan", "--format", "json")
    document = json.loads(run.out)
    return run.code, {step["key"]: step["action"] for step in document["steps"]}


def victim_file(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("not ipass's\n", encoding="utf-8")
    return victim


# -- class 4: files we write never follow links or replace what is not ours ---------------------


Plant = Callable[[Path, Path], None]


def _link_to_file(path: Path, victim: Path) -> None:
    path.symlink_to(victim)


def _dangling_link(path: Path, victim: Path) -> None:
    path.symlink_to(victim.with_name("nowhere.txt"))


def _link_to_folder(path: Path, victim: Path) -> None:
    path.symlink_to(victim.parent)


def _pipe(path: Path, victim: Path) -> None:
    os.mkfifo(path)


def _folder(path: Path, victim: Path) -> None:
    path.mkdir()


PLANTS: dict[str, tuple[Plant, str, str]] = {
    "link-to-a-file": (_link_to_file, LINK, LINK_HINT),
    "dangling-link": (_dangling_link, LINK, LINK_HINT),
    "link-to-a-folder": (_link_to_folder, LINK, LINK_HINT),
    "pipe": (_pipe, NOT_FILE, NOT_FILE_HINT),
    "folder": (_folder, NOT_FILE, NOT_FILE_HINT),
}


@pytest.mark.parametrize("kind", list(PLANTS))
def test_write_atomic_refuses_what_is_not_its_own_regular_file(tmp_path: Path, kind: str) -> None:
    plant, problem, _ = PLANTS[kind]
    victim = victim_file(tmp_path)
    target = tmp_path / "state" / "staging.json"
    target.parent.mkdir()
    plant(target, victim)
    with pytest.raises(StorageError) as refused:
        write_atomic(target, b"{}\n")
    assert refused.value.message == f"{target}: {problem}"
    assert victim.read_text(encoding="utf-8") == "not ipass's\n"
    assert not (tmp_path / "nowhere.txt").exists()
    assert [p.name for p in target.parent.iterdir()] == ["staging.json"]  # no temp file left


# Each own file of the rehearsal environment, relative to the project.
OWN_FILES = {
    "lock": ".ipass/locks/rehearsal.lock",
    "lock-holder": ".ipass/locks/rehearsal.lock.json",
    "state": "state/rehearsal.json",
    "backup": "state/rehearsal.json.backup",
    "journal": "state/rehearsal.journal.jsonl",
}


@pytest.mark.parametrize("kind", ["link-to-a-file", "dangling-link", "pipe", "folder"])
@pytest.mark.parametrize("own", list(OWN_FILES))
def test_apply_refuses_a_hostile_own_file_before_sending_anything(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], tmp_path: Path, own: str, kind: str
) -> None:
    plant, problem, hint = PLANTS[kind]
    victim = victim_file(tmp_path)
    path = rig.root / OWN_FILES[own]
    path.parent.mkdir(parents=True, exist_ok=True)
    plant(path, victim)

    run = apply(capsys, rig)

    assert run.code == 3, run.err
    assert run.err.splitlines() == [f"error: {path}: {problem}", hint]
    assert victim.read_text(encoding="utf-8") == "not ipass's\n"
    assert not (tmp_path / "nowhere.txt").exists()
    assert rig.server.store.requests() == []  # nothing was sent
    assert not journal_path(rig).is_file() or own == "journal"
    # Once the planted thing is gone, the same apply runs (the lock was given back).
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink()
    assert apply(capsys, rig).code == 0
    assert len(rig.templates()) == 10


@pytest.mark.parametrize("folder", [".ipass", ".ipass/locks", "state"])
def test_apply_refuses_a_linked_own_folder(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], tmp_path: Path, folder: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = rig.root / folder
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(elsewhere, target_is_directory=True)

    run = apply(capsys, rig)

    assert run.code == 3, run.err
    assert run.err.splitlines() == [f"error: {path}: {LINKED_FOLDER}", LINKED_FOLDER_HINT]
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    assert rig.server.store.requests() == []


def test_a_state_command_refuses_a_linked_state_folder(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert apply(capsys, rig, "--target", "coffee-voucher").code == 0
    real = tmp_path / "real-state"
    (rig.root / "state").rename(real)
    (rig.root / "state").symlink_to(real, target_is_directory=True)
    before = sorted(p.name for p in real.iterdir())

    run = run_cli(
        capsys, "-C", str(rig.root), "state", "forget", "coffee-voucher", "--reason", "test"
    )

    assert run.code == 3, run.err
    assert run.err.splitlines() == [
        f"error: {rig.root / 'state'}: {LINKED_FOLDER}",
        LINKED_FOLDER_HINT,
    ]
    assert sorted(p.name for p in real.iterdir()) == before


# `ipass keys generate`: a link for a key file, for the folder, or for `.ipass/` on the way.


def generate(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> Run:
    return run_cli(capsys, "-C", str(project), "keys", "generate", *args)


@pytest.mark.parametrize("name", ["merchant_private_key.pem", "merchant_public_key.pem"])
@pytest.mark.parametrize("kind", ["link-to-a-file", "dangling-link"])
def test_keys_generate_never_writes_a_key_through_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, kind: str
) -> None:
    plant, _, _ = PLANTS[kind]
    victim = victim_file(tmp_path)
    out = tmp_path / "keys"
    out.mkdir()
    plant(out / name, victim)

    run = generate(capsys, tmp_path, "--out", str(out))

    assert run.code == 1, run.err
    assert run.err.splitlines() == [
        f"error: {out / name} is a symbolic link; refusing to write a key through it",
        "hint: remove the link, or choose another --out folder",
    ]
    assert victim.read_text(encoding="utf-8") == "not ipass's\n"
    assert not (tmp_path / "nowhere.txt").exists()
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_keys_generate_refuses_a_pipe_where_a_key_goes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "keys"
    out.mkdir()
    os.mkfifo(out / "merchant_public_key.pem")

    run = generate(capsys, tmp_path, "--out", str(out))

    assert run.code == 1, run.err
    assert run.err.splitlines()[0] == (
        f"error: {out / 'merchant_public_key.pem'} already exists; refusing to overwrite a key"
    )
    assert sorted(p.name for p in out.iterdir()) == ["merchant_public_key.pem"]


@pytest.mark.parametrize("linked", ["out", ".ipass"])
def test_keys_generate_refuses_a_linked_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], linked: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    if linked == "out":
        link = tmp_path / "keys"
        link.symlink_to(elsewhere, target_is_directory=True)
        run = generate(capsys, project, "--out", str(link))
    else:
        link = project / ".ipass"
        link.symlink_to(elsewhere, target_is_directory=True)
        run = generate(capsys, project)  # the default: .ipass/keys in the project

    assert run.code == 1, run.err
    assert run.err.splitlines() == [
        f"error: {link} is a symbolic link; ipass writes keys only into a real folder",
        "hint: give the real folder with --out, or replace the link with a folder",
    ]
    assert list(elsewhere.iterdir()) == []


# The embedded sandbox's keys, created on first use under .ipass/sandbox/.

SANDBOX_KEYS = {
    "merchant_private_key.pem": "sandbox merchant key",
    "merchant_public_key.pem": "sandbox merchant key",
    "platform_private_key.pem": "sandbox platform key",
    "platform_public_key.pem": "sandbox platform key",
}


@pytest.mark.parametrize("name", list(SANDBOX_KEYS))
def test_the_embedded_sandbox_never_writes_a_key_through_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    project = copy_example(tmp_path / "project")  # no ipass.toml: the embedded sandbox
    victim = victim_file(tmp_path)
    data = project / ".ipass" / "sandbox"
    data.mkdir(parents=True)
    (data / name).symlink_to(victim)

    run = run_cli(capsys, "-C", str(project), "apply", "--auto-approve")

    assert run.code == 6, run.err
    assert run.err.splitlines() == [
        f"error: {SANDBOX_KEYS[name]}: {data / name} is a symbolic link; the sandbox writes its "
        "keys itself and never through a link",
        "hint: remove the link; the sandbox makes a new key pair in its place",
    ]
    assert victim.read_text(encoding="utf-8") == "not ipass's\n"
    assert not (project / ".ipass/sandbox/state/sandbox.journal.jsonl").exists()
    (data / name).unlink()
    assert run_cli(capsys, "-C", str(project), "apply", "--auto-approve").code == 0


# -- class 6: a journal that does not match the snapshot is never dropped ------------------------


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def _restore_backup(r: Rehearsal) -> None:
    shutil.copyfile(r.state_file.with_name("rehearsal.json.backup"), r.state_file)


def _checkout_committed(r: Rehearsal) -> None:
    _git(r.root, "checkout", "--", "state/rehearsal.json")


def _another_lineage(r: Rehearsal) -> None:
    r.state_file.write_text(state_text(new_state("rehearsal")), encoding="utf-8")


REPLACEMENTS: dict[str, Callable[[Rehearsal], None]] = {
    "restored-from-backup": _restore_backup,
    "git-checkout-of-an-older-version": _checkout_committed,
    "another-lineage": _another_lineage,
}


def _journal_left_by_a_killed_apply(
    r: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str, str]:
    """Two applies (serials 1 and 2; state/ committed to git after the first), then an apply
    killed after its 2nd pending line: the 1st of its creates is created, the 2nd never sent."""
    _git(r.root, "init", "-q")
    apply_some(r, capsys, 1)
    _git(r.root, "add", "state")
    _git(r.root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "s1")
    apply_some(r, capsys, 2)
    run = run_ipass(r.root, "apply", "--auto-approve", point=KillPoint.AFTER_PENDING, nth=2)
    assert run.code == -signal.SIGKILL, run.err
    events = journal_events(r)
    assert [e["op"] for e in events] == ["pending", "created", "pending"]
    created, never_sent = str(events[0]["key"]), str(events[2]["key"])
    code = str(events[1]["template_code"])
    return created, code, never_sent


@pytest.mark.parametrize("replace", list(REPLACEMENTS))
def test_a_journal_over_another_snapshot_keeps_its_creates_unknown(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], replace: str
) -> None:
    rendered = rendered_request_ids(rig, capsys)
    created, code, never_sent = _journal_left_by_a_killed_apply(rig, capsys)
    journal_before = journal_path(rig).read_bytes()
    serial = json.loads(rig.state_file.read_text(encoding="utf-8"))["serial"]
    REPLACEMENTS[replace](rig)
    snapshot = json.loads(rig.state_file.read_text(encoding="utf-8"))

    code_now, actions = plan_steps(capsys, rig.root)

    assert code_now == 5
    assert actions[created] == "unknown"  # never `create`: it exists at AlipayHK
    assert actions[never_sent] == "unknown"
    assert journal_path(rig).read_bytes() == journal_before  # the plan keeps the journal
    lineage = journal_events(rig)[0]["lineage"]
    why = (
        f"journal from lineage {lineage} serial {serial} did not match the snapshot "
        f"(lineage {snapshot['lineage']} serial 0)"
        if replace == "another-lineage"
        else f"journal from serial {serial} did not match the snapshot (serial 1)"
    )
    shown = run_cli(capsys, "-C", str(rig.root), "state", "show", created)
    assert shown.code == 0, shown.err
    current = json.loads(shown.out)["current"]
    assert (current["status"], current["request_id"]) == ("unknown", rendered[created])
    assert current["note"] == f"outcome unknown: {why}; the journal recorded created {code}"
    requests = len(rig.server.store.requests())
    applied = apply(capsys, rig)
    assert applied.code == 5, applied.err  # apply refuses too, and sends nothing
    assert len(rig.server.store.requests()) == requests
    assert journal_path(rig).read_bytes() == journal_before
    # A person retries with the same requestIds: exactly one template per key, nothing lost.
    assert_recovers(rig, capsys)


def test_resolving_one_unknown_keeps_the_journals_other_creates_unknown(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    created, code, never_sent = _journal_left_by_a_killed_apply(rig, capsys)
    _restore_backup(rig)

    resolved = run_cli(
        capsys,
        "-C",
        str(rig.root),
        "state",
        "resolve",
        never_sent,
        "--not-created",
        "--reason",
        "checked the console",
    )

    assert resolved.code == 0, resolved.err
    # The new snapshot holds every event of the journal, so the journal is gone...
    assert not journal_path(rig).exists()
    history = run_cli(capsys, "-C", str(rig.root), "state", "history", created, "--json")
    assert [e["op"] for e in json.loads(history.out)][:3] == ["unknown", "created", "pending"]
    # ...and the other create is still unknown, now in the snapshot itself.
    code_now, actions = plan_steps(capsys, rig.root)
    assert code_now == 5
    assert actions[created] == "unknown"
    assert actions[never_sent] == "create"  # resolved as not created: safe to create
    fixed = run_cli(
        capsys,
        "-C",
        str(rig.root),
        "state",
        "resolve",
        created,
        "--template-code",
        code,
        "--reason",
        "found it",
    )
    assert fixed.code == 0, fixed.err
    assert_recovers(rig, capsys)


def _record(key: str, request_id: str, status: str, code: str | None = None) -> TemplateRecord:
    from reconciler.domain.payload import payload_digest

    payload: dict[str, Any] = {"templateName": key}
    return TemplateRecord.model_validate(
        {
            "status": status,
            "template_code": code,
            "request_id": request_id,
            "payload_hash": payload_digest(payload),
            "payload": payload,
            "recorded_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
        }
    )


def _pending(state: State, record: TemplateRecord, *, serial: int) -> StateEvent:
    return Pending(
        lineage=state.lineage,
        base_serial=serial,
        key="a",
        at="2025-01-02T00:00:00Z",
        operator="ops",
        record=record,
    )


def test_a_foreign_create_for_a_published_key_keeps_the_published_template_in_history() -> None:
    state = apply_event(
        new_state("s"), _pending(new_state("s"), _record("a", "R1", "created", "OLD"), serial=0)
    )
    state = state.model_copy(update={"serial": 3})
    foreign = _pending(state, _record("a", "R2", "pending"), serial=7)

    replayed = replay(state, [foreign])

    current = replayed.entries["a"].current
    assert current is not None
    assert (current.status, current.request_id) == ("unknown", "R2")
    assert current.note == (
        "outcome unknown: journal from serial 7 did not match the snapshot (serial 3); "
        "the journal recorded no outcome (the request may have been sent)"
    )
    assert [r.template_code for r in replayed.entries["a"].history] == ["OLD"]
    # Resolved as never created, the published template is current again.
    back = apply_event(
        replayed,
        Resolved(lineage=state.lineage, base_serial=3, key="a", operator="ops", template_code=None),
    )
    assert back.current("a") == state.current("a")


def test_a_journal_already_in_the_snapshot_changes_nothing() -> None:
    start = new_state("s")
    event = _pending(start, _record("a", "R1", "pending"), serial=0)
    absorbed = apply_event(start, event).model_copy(update={"serial": 1})
    assert replay(absorbed, [event]) == absorbed


# -- class 10: the operating system's refusals; space before the batch ---------------------------


def _statvfs_reporting(free: int, folder: Path) -> Callable[[Any], os.statvfs_result]:
    real = os.statvfs

    def statvfs(path: Any) -> os.statvfs_result:
        if Path(path) != folder:
            return real(path)
        blocks = free // 4096
        return os.statvfs_result((4096, 4096, 10**6, blocks, blocks, 10**6, 10**5, 10**5, 0, 255))

    return statvfs


@pytest.mark.parametrize("earlier", [0, 3], ids=["first-apply", "existing-state"])
def test_too_little_space_is_refused_before_anything_is_journaled_or_sent(
    rig: Rehearsal,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    earlier: int,
) -> None:
    if earlier:
        apply_some(rig, capsys, earlier)
    before = rig.state_file.read_bytes() if earlier else None
    requests = len(rig.server.store.requests())
    folder = rig.state_file.parent
    monkeypatch.setattr(os, "statvfs", _statvfs_reporting(512 * 1024, folder))

    run = apply(capsys, rig)

    assert run.code == 3, run.err
    first, hint = run.err.splitlines()
    assert re.fullmatch(
        rf"error: {re.escape(str(folder))}: not enough free space to record this apply: "
        r"512\.0 KiB free, about 1\.\d MiB needed for the journal and the new snapshot; "
        r"nothing was sent",
        first,
    ), first
    assert hint == "hint: free some disk space, then run the command again"
    assert len(rig.server.store.requests()) == requests
    assert not journal_path(rig).exists()
    assert (rig.state_file.read_bytes() if earlier else None) == before
    # With room enough, the same apply runs.
    monkeypatch.setattr(os, "statvfs", _statvfs_reporting(64 << 20, folder))
    assert apply(capsys, rig).code == 0
    assert len(rig.templates()) == 10


def _fail_third_pending_by_raising(monkeypatch: pytest.MonkeyPatch, failed: list[str]) -> None:
    original = StateStore.append

    def append(self: StateStore, event: StateEvent, *, durable: bool) -> None:
        if isinstance(event, Pending):
            failed.append(event.key)
            if len(failed) == 3:
                refusal = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                raise StorageError.refused(self.journal_path, "write the journal", refusal)
        original(self, event, durable=durable)

    monkeypatch.setattr(StateStore, "append", append)


class _FullDisk:
    """A journal handle whose writes fail with ENOSPC from the 3rd `pending` line on."""

    def __init__(self, handle: IO[bytes], failed: list[str]) -> None:
        self._handle = handle
        self._failed = failed

    def write(self, line: bytes) -> int:
        if b'"op":"pending"' in line:
            self._failed.append(json.loads(line)["event"]["key"])
            if len(self._failed) >= 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._handle.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def _fail_third_pending_on_a_full_disk(monkeypatch: pytest.MonkeyPatch, failed: list[str]) -> None:
    original = StateStore._open_journal

    def open_journal(self: StateStore) -> Any:
        return _FullDisk(original(self), failed)

    monkeypatch.setattr(StateStore, "_open_journal", open_journal)


@pytest.mark.parametrize(
    "fail",
    [_fail_third_pending_by_raising, _fail_third_pending_on_a_full_disk],
    ids=["append-raises", "disk-full"],
)
def test_a_pending_line_that_cannot_be_written_sends_nothing_more(
    rig: Rehearsal,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fail: Callable[[pytest.MonkeyPatch, list[str]], None],
) -> None:
    ids = rendered_request_ids(rig, capsys)
    failed: list[str] = []
    fail(monkeypatch, failed)

    run = apply(capsys, rig)

    assert run.code == 3, run.err
    first, second, third = failed[:3]
    journal = re.escape(str(journal_path(rig)))
    message = (
        rf"error: \S+:\d+: {third}: not sent: {journal}: cannot write the journal: "
        "no space left on the device"
    )
    lines = run.err.splitlines()
    assert re.fullmatch(message, lines[0]), lines[0]
    assert lines[1:] == [
        "hint: free some disk space, then run the command again; creates before it are "
        "recorded, and nothing was sent for it or after it"
    ]
    # The sandbox received exactly the creates before it, and nothing after.
    assert sorted(rig.templates()) == sorted([ids[first], ids[second]])
    assert len(rig.server.store.requests()) == 2
    assert len(failed) == 3
    entries = rig.state()["entries"]
    assert sorted(entries) == sorted([first, second])
    assert {e["current"]["status"] for e in entries.values()} == {"created"}
    assert not journal_path(rig).exists()  # the snapshot holds it all
    monkeypatch.undo()
    assert_recovers(rig, capsys)


# -- class 11: a second Ctrl-C stops at once -----------------------------------------------------


SLOW = 25.0  # seconds the sandbox holds each slow answer; the client's read timeout is 30


@pytest.mark.parametrize(
    ("signum", "parallelism"),
    [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 3)],
    ids=["SIGINT", "SIGTERM", "SIGINT-3-in-flight"],
)
def test_a_second_signal_stops_at_once_with_requests_in_flight(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], signum: signal.Signals, parallelism: int
) -> None:
    apply_some(rig, capsys, 3)
    before = rig.state_file.read_bytes()
    rig.server.set_faults(
        [
            FaultRule(
                kind=FaultKind.SLOW_AFTER_COMMIT,
                seconds=SLOW,
                path="createTemplate",
                count=parallelism,
            )
        ]
    )
    with start_ipass(
        rig.root, "apply", "--auto-approve", "--parallelism", str(parallelism)
    ) as child:
        wait_until(
            lambda: len(rig.templates()) == 3 + parallelism,
            timeout=CHILD_TIMEOUT,
            what="the sandbox to commit the creates in flight",
        )
        in_flight = pending_keys(rig)
        assert len(in_flight) == parallelism
        child.signal(signum)
        wait_until(lambda: "stopping after" in child.err, timeout=10, what="the first signal")
        started = time.monotonic()
        child.signal(signum)
        code = child.wait(timeout=SLOW / 2)  # the answers are due only after SLOW seconds
        took = time.monotonic() - started
    assert code == 130, child.err
    assert took < SLOW / 2
    assert child.err.splitlines()[-3:] == [
        "stopping after the request in flight is recorded...",
        "error: interrupted again: stopped at once, without waiting for the request in flight",
        "hint: a create that was in flight stays pending and shows as unknown in `ipass plan`; "
        "check at AlipayHK, then `ipass state resolve KEY --template-code CODE` (or "
        "`--not-created`), or `ipass apply --retry-unknown` re-sends it with the same requestId",
    ]
    assert rig.state_file.read_bytes() == before  # the snapshot was not touched
    assert [e["op"] for e in journal_events(rig)] == ["pending"] * parallelism
    code_now, actions = plan_steps(capsys, rig.root)
    assert code_now == 5
    assert {key for key, action in actions.items() if action == "unknown"} == set(in_flight)
    assert_recovers(rig, capsys)


# -- class 13c: keys generate never leaves a private key where git would take it ----------------


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "-q")
    return path


def git_would_add(repo: Path) -> list[str]:
    """What `git add .` would take: every untracked file git does not ignore."""
    return _git(repo, "ls-files", "--others", "--exclude-standard").splitlines()


def test_keys_generate_writes_into_an_ignored_folder_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = git_repo(tmp_path / "project")

    run = generate(capsys, repo)

    assert run.code == 0, run.err
    folder = repo / ".ipass" / "keys"
    assert run.err.splitlines() == [
        f"wrote {folder / '.gitignore'} (git ignores this folder)",
        f"wrote {folder / 'merchant_private_key.pem'} (mode 0600; keep it secret)",
        f"wrote {folder / 'merchant_public_key.pem'}",
        "public key for the AlipayHK console (one line):",
    ]
    assert (folder / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert git_would_add(repo) == []
    _git(repo, "add", ".")
    assert _git(repo, "ls-files") == ""


@pytest.mark.parametrize("out", [".", "keys", "config/keys"])
def test_keys_generate_refuses_a_folder_git_does_not_ignore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str
) -> None:
    repo = git_repo(tmp_path / "project")
    folder = repo / out
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("keys go here\n", encoding="utf-8")

    run = generate(capsys, repo, "--out", str(folder))

    assert run.code == 1, run.err
    assert run.err.splitlines() == [
        f"error: {folder} is inside a git work tree and git does not ignore it: `git add .` "
        "would take the private key; nothing was written",
        "hint: leave out --out (the default, .ipass/keys/, is ignored), name a folder that does "
        "not exist yet (ipass writes a .gitignore into it), or add the folder to .gitignore",
    ]
    assert sorted(p.name for p in folder.iterdir() if p.name != ".git") == ["README.md"]


@pytest.mark.parametrize("ignored_by", ["the repository's .gitignore", "a new folder"])
def test_keys_generate_writes_where_git_ignores_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ignored_by: str
) -> None:
    repo = git_repo(tmp_path / "project")
    (repo / "README.md").write_text("a project\n", encoding="utf-8")
    if ignored_by == "a new folder":
        folder = repo / "secrets" / "merchant"
    else:
        (repo / ".gitignore").write_text("/keys/\n", encoding="utf-8")
        folder = repo / "keys"
        folder.mkdir()

    run = generate(capsys, repo, "--out", str(folder))

    assert run.code == 0, run.err
    assert (folder / "merchant_private_key.pem").is_file()
    assert (folder / ".gitignore").exists() == (ignored_by == "a new folder")
    assert sorted(git_would_add(repo)) == sorted(
        ["README.md", *([".gitignore"] if ignored_by != "a new folder" else [])]
    )
