"""Apply killed for real: SIGKILL at exact points, signals, two writers, a random-kill loop.

The apply under test is a child process (`crash_support`) talking to a real sandbox on loopback;
it dies by SIGKILL at the point under test (no `finally`, no flush). After every crash the state
file is absent or a whole snapshot, and the next runs end with exactly one template per catalog
key at the sandbox, each recorded in state under the requestId the sandbox holds, and no journal.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from crash_support import KillPoint, run_ipass, start_ipass
from helpers import run_cli
from reconcile_support import Rehearsal, rehearsal

from reconciler.adapters.sandbox.faults import FaultKind, FaultRule

pytestmark = pytest.mark.slow

EXAMPLE_KEYS = 10
KILLED = -signal.SIGKILL
CHILD_TIMEOUT = 30.0


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path) as r:
        yield r


# -- what a recovered environment looks like ------------------------------------------------------


def journal_path(r: Rehearsal) -> Path:
    return r.state_file.with_name("rehearsal.journal.jsonl")


def journal_events(r: Rehearsal) -> list[dict[str, object]]:
    """The complete journal lines (a torn last line is left out, as the engine does)."""
    lines = journal_path(r).read_bytes().split(b"\n")
    return [json.loads(line)["event"] for line in lines[:-1] if line.strip()]


def pending_keys(r: Rehearsal) -> list[str]:
    """Keys with a `pending` line in the journal so far (each one's request goes out next)."""
    if not journal_path(r).exists():
        return []
    return [str(e["key"]) for e in journal_events(r) if e["op"] == "pending"]


def rendered_request_ids(r: Rehearsal, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """Catalog key -> the requestId its first create sends (what `ipass render` prints)."""
    run = run_cli(capsys, "-C", str(r.root), "render")
    assert run.code == 0, run.err
    bodies = json.loads(run.out)
    ids = {key: str(body["requestId"]) for key, body in bodies.items()}
    assert len(ids) == EXAMPLE_KEYS
    return ids


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def assert_state_readable(r: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    """Absent, or a whole snapshot: never a truncated or half-written file."""
    if r.state_file.exists():
        data = json.loads(r.state_file.read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        assert isinstance(data["serial"], int)
    listing = run_cli(capsys, "-C", str(r.root), "state", "list")
    assert listing.code == 0, listing.err


def assert_one_template_per_key(r: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    """The sandbox holds one template per catalog key, each recorded in state as created."""
    held = {t.request_id: t.template_code for t in r.server.store.templates()}
    assert len(r.templates()) == EXAMPLE_KEYS, r.templates()
    assert len(held) == EXAMPLE_KEYS  # ten distinct requestIds
    expected = rendered_request_ids(r, capsys)
    assert r.state_file.exists(), "no snapshot: the created templates are recorded nowhere else"
    entries = r.state()["entries"]
    assert isinstance(entries, dict)
    assert sorted(entries) == sorted(expected)
    for key, entry in entries.items():
        current = entry["current"]
        assert current["status"] == "created", (key, current)
        assert current["request_id"] == expected[key], key
        assert held[current["request_id"]] == current["template_code"], key
    assert not journal_path(r).exists(), "the journal was not absorbed into the snapshot"


def assert_recovers(r: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    """What the next runs after any crash must achieve, and nothing more at the sandbox."""
    assert_state_readable(r, capsys)
    r.server.set_faults(None)
    retry = run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve", "--retry-unknown")
    assert retry.code == 0, retry.err
    again = run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve")
    assert again.code == 0, again.err
    assert "no changes" in again.out
    assert_one_template_per_key(r, capsys)


def apply_some(r: Rehearsal, capsys: pytest.CaptureFixture[str], count: int) -> None:
    """A completed apply of the first `count` keys, so the crash hits an existing snapshot."""
    keys = sorted(rendered_request_ids(r, capsys))[:count]
    targets = [arg for key in keys for arg in ("--target", key)]
    run = run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve", *targets)
    assert run.code == 0, run.err
    assert len(r.templates()) == count


# -- kills at exact points ------------------------------------------------------------------------


@pytest.mark.parametrize("nth", [1, 6])
def test_kill_after_pending_before_send(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], nth: int
) -> None:
    run = run_ipass(rig.root, "apply", "--auto-approve", point=KillPoint.AFTER_PENDING, nth=nth)
    assert run.code == KILLED, run.err
    assert not rig.state_file.exists()  # first run: everything so far is in the journal alone
    last = journal_events(rig)[-1]
    assert last["op"] == "pending"
    record = last["record"]
    assert isinstance(record, dict)
    # Journaled, never sent: the sandbox neither holds it nor ever saw its requestId.
    assert len(rig.templates()) == nth - 1
    assert record["request_id"] not in rig.templates()
    seen = {entry.idempotency_key for entry in rig.server.store.requests()}
    assert record["request_id"] not in seen
    # The pending create is unknown, never "failed": a plain apply refuses and sends nothing.
    refused = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert refused.code == 5, refused.err
    assert len(rig.server.store.requests()) == nth - 1
    assert_recovers(rig, capsys)


def test_kill_after_the_sandbox_committed_before_the_answer(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_some(rig, capsys, 3)
    before = rig.state_file.read_bytes()
    rig.server.set_faults(
        [FaultRule(kind=FaultKind.SLOW_AFTER_COMMIT, seconds=5, path="createTemplate", count=1)]
    )
    with start_ipass(rig.root, "apply", "--auto-approve") as child:
        wait_until(lambda: len(rig.templates()) == 4, timeout=20, what="the sandbox to commit")
        child.proc.kill()
        assert child.wait(timeout=CHILD_TIMEOUT) == KILLED
    # Created at the sandbox, never answered: the snapshot is untouched, the journal says pending.
    assert rig.state_file.read_bytes() == before
    last = journal_events(rig)[-1]
    assert last["op"] == "pending"
    record = last["record"]
    assert isinstance(record, dict)
    assert record["request_id"] in rig.templates()
    refused = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert refused.code == 5, refused.err
    assert str(last["key"]) in refused.err
    assert len(rig.templates()) == 4
    assert_recovers(rig, capsys)


def test_dropped_answer_after_commit_is_recorded_unknown(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.server.set_faults([FaultRule(kind=FaultKind.DROP_AFTER_COMMIT, count=1)])
    run = run_ipass(rig.root, "apply", "--auto-approve", timeout=CHILD_TIMEOUT)
    assert run.code == 5, run.err
    assert "--retry-unknown" in run.err
    assert len(rig.templates()) == 1  # created, answer lost
    entries = rig.state()["entries"]
    assert isinstance(entries, dict)
    assert [e["current"]["status"] for e in entries.values()] == ["unknown"]
    assert not journal_path(rig).exists()  # the run ended normally and wrote its snapshot
    assert_recovers(rig, capsys)


@pytest.mark.parametrize("earlier", [0, 3], ids=["no-snapshot", "existing-snapshot"])
def test_kill_during_the_state_write_before_the_rename(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], earlier: int
) -> None:
    if earlier:
        apply_some(rig, capsys, earlier)
    before = rig.state_file.read_bytes() if earlier else None
    run = run_ipass(rig.root, "apply", "--auto-approve", point=KillPoint.BEFORE_STATE_RENAME)
    assert run.code == KILLED, run.err
    assert len(rig.templates()) == EXAMPLE_KEYS  # every create finished before the snapshot
    if before is None:
        assert not rig.state_file.exists()
    else:
        assert rig.state_file.read_bytes() == before  # the old snapshot, whole
    leftovers = list(rig.state_file.parent.glob(".rehearsal.json.*.tmp"))
    assert len(leftovers) == 1  # written and fsynced, never renamed
    json.loads(leftovers[0].read_text(encoding="utf-8"))
    created = [e for e in journal_events(rig) if e["op"] == "created"]
    assert len(created) == EXAMPLE_KEYS - earlier  # the journal holds every outcome
    assert_recovers(rig, capsys)


def test_kill_after_the_state_rename_before_the_journal_is_removed(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_some(rig, capsys, 3)
    run = run_ipass(rig.root, "apply", "--auto-approve", point=KillPoint.AFTER_STATE_RENAME)
    assert run.code == KILLED, run.err
    assert journal_path(rig).exists()
    state = rig.state()
    assert state["serial"] == 2
    entries = state["entries"]
    assert isinstance(entries, dict)
    assert {e["current"]["status"] for e in entries.values()} == {"created"}
    assert len(entries) == EXAMPLE_KEYS
    assert_recovers(rig, capsys)


def test_torn_journal_line_then_a_crash_after_a_create(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    # Half of the 4th `created` line reaches the disk: its key is pending, the tail is torn.
    run = run_ipass(rig.root, "apply", "--auto-approve", point=KillPoint.TORN_CREATED, nth=4)
    assert run.code == KILLED, run.err
    assert not journal_path(rig).read_bytes().endswith(b"\n")
    assert len(rig.templates()) == 4
    assert_state_readable(rig, capsys)
    torn = str(journal_events(rig)[-1]["key"])
    # The next run leaves the torn key out, creates one template, and dies after the next pending:
    # the journal must still hold (readably) the request that created that template.
    run = run_ipass(
        rig.root,
        "apply",
        "--auto-approve",
        "--exclude",
        torn,
        point=KillPoint.AFTER_PENDING,
        nth=2,
    )
    assert run.code == KILLED, run.err
    assert len(rig.templates()) == 5
    assert_recovers(rig, capsys)


@pytest.mark.parametrize(("parallelism", "trials"), [("1", 8), ("4", 4)])
def test_random_kills_leave_a_recoverable_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], parallelism: str, trials: int
) -> None:
    rng = random.Random(20240607)  # noqa: S311 - reproducible kill times, not a secret
    partial = 0
    for trial in range(trials):
        with rehearsal(tmp_path / f"trial-{trial}") as r:
            r.server.set_faults(
                [FaultRule(kind=FaultKind.LATENCY, seconds=0.08, path="createTemplate")]
            )
            # Four creates in flight make a run about four times shorter: kill sooner.
            delay = rng.uniform(0.0, 1.2) / int(parallelism)
            with start_ipass(
                r.root, "apply", "--auto-approve", "--parallelism", parallelism
            ) as child:
                child.wait_line(lambda line: line.startswith("applying "), timeout=CHILD_TIMEOUT)
                time.sleep(delay)
                child.proc.kill()
                code = child.wait(timeout=CHILD_TIMEOUT)
            assert code in (KILLED, 0), (trial, delay, code, child.err)
            partial += 0 < len(r.templates()) < EXAMPLE_KEYS
            assert_recovers(r, capsys)
    assert partial >= trials // 4, "the kills did not land in the middle of the runs"


# -- one writer ------------------------------------------------------------------------------------


def test_second_apply_is_refused_and_a_killed_holder_does_not_block(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first apply holds the lock inside its first request (which will create nothing).
    rig.server.set_faults(
        [
            FaultRule(kind=FaultKind.LATENCY, seconds=60, path="createTemplate", count=1),
            FaultRule(kind=FaultKind.UNKNOWN_EXCEPTION, path="createTemplate", count=1),
        ]
    )
    info = rig.root / ".ipass/locks/rehearsal.lock.json"
    with start_ipass(rig.root, "apply", "--auto-approve") as first:
        wait_until(info.exists, timeout=CHILD_TIMEOUT, what="the first apply to take the lock")
        assert json.loads(info.read_text(encoding="utf-8"))["pid"] == first.pid
        requests = len(rig.server.store.requests())
        second = run_ipass(rig.root, "apply", "--auto-approve", timeout=CHILD_TIMEOUT)
        assert second.code == 3, second.err
        assert f"held by pid {first.pid}" in second.err
        assert len(rig.server.store.requests()) == requests  # the second sent nothing
        assert first.proc.poll() is None  # and the first was holding the lock all along
        first.proc.kill()
        assert first.wait(timeout=CHILD_TIMEOUT) == KILLED
    assert json.loads(info.read_text(encoding="utf-8"))["pid"] == first.pid  # left behind
    assert_recovers(rig, capsys)
    assert not info.exists()


# -- signals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_finishes_the_request_in_flight(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], signum: signal.Signals
) -> None:
    rig.server.set_faults([FaultRule(kind=FaultKind.LATENCY, seconds=0.5, path="createTemplate")])
    with start_ipass(rig.root, "apply", "--auto-approve") as child:
        child.wait_line(lambda line: line.startswith("[ 1/10]"), timeout=CHILD_TIMEOUT)
        # The second create is journaled, so it is being sent: its answer takes 0.5 s.
        wait_until(lambda: len(pending_keys(rig)) == 2, timeout=5, what="the second pending")
        in_flight = pending_keys(rig)
        child.signal(signum)
        code = child.wait(timeout=CHILD_TIMEOUT)
    assert code == 130, child.err
    assert "interrupted" in child.err
    assert not journal_path(rig).exists()
    entries = rig.state()["entries"]
    assert isinstance(entries, dict)
    statuses = [e["current"]["status"] for e in entries.values()]
    assert set(statuses) == {"created"}  # nothing left pending or unknown
    assert set(in_flight) <= set(entries)  # the request in flight was finished and kept
    assert len(statuses) < EXAMPLE_KEYS  # and the rest was not started
    assert len(statuses) == len(rig.templates())  # the request in flight was recorded
    rig.server.set_faults(None)
    rest = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert rest.code == 0, rest.err
    assert f"done: {EXAMPLE_KEYS - len(statuses)} created" in rest.out
    assert_recovers(rig, capsys)
