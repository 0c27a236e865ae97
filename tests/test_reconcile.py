"""Plan and apply end to end: real files, a real sandbox over HTTP, real signatures."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import REPO, copy_example, run_cli
from reconcile_support import Rehearsal, rehearsal

from reconciler.adapters.lock import EnvironmentLock, read_holder
from reconciler.adapters.sandbox.faults import FaultKind, FaultRule

EXAMPLE_KEYS = 10


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path) as r:
        yield r


def edit(r: Rehearsal, name: str, old: str, new: str) -> None:
    path = r.root / "catalog/templates" / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_first_plan_creates_everything(rig: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "-C", str(rig.root), "plan")
    assert run.code == 0, run.err
    assert run.out.splitlines()[0].startswith(f"Plan for rehearsal: {EXAMPLE_KEYS} to create")
    run = run_cli(capsys, "-C", str(rig.root), "plan", "--detailed-exitcode")
    assert run.code == 2
    assert rig.templates() == []  # planning never calls AlipayHK


def test_apply_publishes_once_and_again_is_a_noop(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert run.code == 0, run.err
    assert f"done: {EXAMPLE_KEYS} created, 0 retired" in run.out
    assert len(rig.templates()) == EXAMPLE_KEYS
    state = rig.state()
    assert state["serial"] == 1
    entries = state["entries"]
    assert isinstance(entries, dict)
    codes = {key: e["current"]["template_code"] for key, e in entries.items()}
    assert len(set(codes.values())) == EXAMPLE_KEYS
    assert all(e["current"]["status"] == "created" for e in entries.values())
    # Every request id the sandbox saw is the one render prints.
    rendered = json.loads(run_cli(capsys, "-C", str(rig.root), "render").out)
    assert sorted(rig.templates()) == sorted(b["requestId"] for b in rendered.values())
    before = rig.state_file.read_bytes()
    again = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert again.code == 0
    assert "no changes" in again.out
    assert rig.state_file.read_bytes() == before
    assert len(rig.templates()) == EXAMPLE_KEYS
    assert not rig.state_file.with_name("rehearsal.journal.jsonl").exists()


def test_edit_of_published_entry_is_blocked_then_replaced(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve").code == 0
    edit(rig, "tickets/cinema.yaml", "name: Christmas Movie Ticket", "name: Xmas Movie Ticket")
    run = run_cli(capsys, "-C", str(rig.root), "plan")
    assert run.code == 1
    assert "blocked" in run.out
    assert '"Christmas Movie Ticket"' in run.out
    assert '"Xmas Movie Ticket"' in run.out
    assert "--replace cinema" in run.out
    refused = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert refused.code == 1
    assert "blocked" in refused.err
    assert "nothing was applied" in refused.err
    assert len(rig.templates()) == EXAMPLE_KEYS
    old_code = rig.state()["entries"]["cinema"]["current"]["template_code"]
    replaced = run_cli(
        capsys, "-C", str(rig.root), "apply", "--auto-approve", "--replace", "cinema"
    )
    assert replaced.code == 1  # a replace always says why
    assert "--replace needs --reason TEXT" in replaced.err
    replaced = run_cli(
        capsys,
        "-C",
        str(rig.root),
        "apply",
        "--auto-approve",
        "--replace",
        "cinema",
        "--reason",
        "MKT-12: title fix",
    )
    assert replaced.code == 0, replaced.err
    assert len(rig.templates()) == EXAMPLE_KEYS + 1
    entry = rig.state()["entries"]["cinema"]
    assert entry["current"]["template_code"] != old_code
    assert entry["current"]["generation"] == 1
    assert entry["history"][0]["template_code"] == old_code
    assert entry["history"][0]["history_reason"] == "replaced"
    # render prints what apply sent: the replaced key's new generation, not generation 0.
    rendered = json.loads(run_cli(capsys, "-C", str(rig.root), "render", "cinema").out)
    assert rendered["cinema"]["requestId"] == entry["current"]["request_id"]
    assert run_cli(capsys, "-C", str(rig.root), "plan", "--detailed-exitcode").code == 0


def test_removed_entry_is_retired_not_forgotten(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve").code == 0
    (rig.root / "catalog/templates/tickets/ferry-macau.yaml").unlink()
    undeclared = run_cli(capsys, "-C", str(rig.root), "plan")
    assert undeclared.code == 1  # a published key may not just disappear
    assert "1 blocked" in undeclared.out.splitlines()[0]
    (rig.root / "catalog/retired.yaml").write_text(
        "ferry-macau: route closed for the winter\n", encoding="utf-8"
    )
    run = run_cli(capsys, "-C", str(rig.root), "plan")
    assert run.code == 0
    assert "1 to retire" in run.out.splitlines()[0]
    assert "(route closed for the winter)" in run.out
    done = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert done.code == 0, done.err
    assert "0 created, 1 retired" in done.out
    entry = rig.state()["entries"]["ferry-macau"]
    assert entry["current"]["status"] == "retired"
    assert entry["current"]["template_code"]
    assert len(rig.templates()) == EXAMPLE_KEYS


def test_saved_plan_applies_once_and_is_then_stale(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = rig.root / "plan.json"
    assert run_cli(capsys, "-C", str(rig.root), "plan", "--out", str(saved)).code == 0
    assert run_cli(capsys, "-C", str(rig.root), "apply", str(saved), "--auto-approve").code == 0
    assert len(rig.templates()) == EXAMPLE_KEYS
    again = run_cli(capsys, "-C", str(rig.root), "apply", str(saved), "--auto-approve")
    assert again.code == 3
    assert "is stale" in again.err
    assert "lineage was none (no state yet)" in again.err
    assert len(rig.templates()) == EXAMPLE_KEYS


def test_saved_plan_names_entries_that_rendered_differently(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = rig.root / "plan.json"
    assert run_cli(capsys, "-C", str(rig.root), "plan", "--out", str(saved)).code == 0
    edit(rig, "coupons/coffee-voucher.yaml", "stock: 5000", "stock: 4000")
    run = run_cli(capsys, "-C", str(rig.root), "apply", str(saved), "--auto-approve")
    assert run.code == 3
    assert "rendered differently: coffee-voucher" in run.err
    assert rig.templates() == []


def test_vendor_rejection_stops_with_location_and_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The sandbox registered this client for another merchant: every create is ACCESS_DENIED (F).
    with rehearsal(tmp_path, merchant_id="2160120000000999") as r:
        run = run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve")
        assert run.code == 4
        first = run.err.splitlines()[0]
        assert first.startswith("error: catalog/templates/tickets/bus-shenzhen-bay.yaml:2: ")
        assert "ACCESS_DENIED" in first
        assert r.templates() == []
        state = r.state()
        # Nothing was created, nothing is pretended; the rejection is recorded with its code.
        (entry,) = state["entries"].values()
        assert "current" not in entry
        assert [e["op"] for e in entry["events"]] == ["pending", "rejected"]
        assert entry["events"][1]["result_code"] == "ACCESS_DENIED"
        history = run_cli(capsys, "-C", str(r.root), "state", "history", "bus-shenzhen-bay")
        assert history.code == 0, history.err
        assert "rejected" in history.out.splitlines()[0]
        assert "[ACCESS_DENIED]" in history.out.splitlines()[0]


def test_unknown_outcome_is_recorded_then_retried_with_the_same_request_id(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.server.set_faults([FaultRule(kind=FaultKind.DROP_AFTER_COMMIT, count=1)])
    run = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert run.code == 5, run.err
    assert "bus-shenzhen-bay" in run.err
    assert "--retry-unknown" in run.err
    assert len(rig.templates()) == 1  # created at the sandbox, answer lost
    entry = rig.state()["entries"]["bus-shenzhen-bay"]
    assert entry["current"]["status"] == "unknown"
    plan = run_cli(capsys, "-C", str(rig.root), "plan")
    assert plan.code == 5
    refused = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert refused.code == 5
    assert len(rig.templates()) == 1
    retried = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve", "--retry-unknown")
    assert retried.code == 0, retried.err
    assert run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve").code == 0
    assert len(rig.templates()) == EXAMPLE_KEYS
    assert len(set(rig.templates())) == EXAMPLE_KEYS  # exactly one template per key
    states = {e["current"]["status"] for e in rig.state()["entries"].values()}
    assert states == {"created"}


def test_resolve_and_forget_and_import(rig: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    rig.server.set_faults([FaultRule(kind=FaultKind.UNKNOWN_EXCEPTION, count=1)])
    assert run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve").code == 5
    # UNKNOWN_EXCEPTION before the work: nothing was created; say so explicitly.
    assert rig.templates() == []
    bad = run_cli(capsys, "-C", str(rig.root), "state", "resolve", "bus-shenzhen-bay")
    assert bad.code == 1
    args = ("-C", str(rig.root), "state", "resolve", "bus-shenzhen-bay", "--not-created")
    unexplained = run_cli(capsys, *args)
    assert unexplained.code == 1  # outside the embedded sandbox a state change says why
    assert "needs --reason" in unexplained.err
    done = run_cli(capsys, *args, "--reason", "INC-7: checked the console")
    assert done.code == 0, done.err
    assert run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve").code == 0
    assert len(rig.templates()) == EXAMPLE_KEYS
    listing = run_cli(capsys, "-C", str(rig.root), "state", "list", "--json")
    rows = json.loads(listing.out)
    assert len(rows) == EXAMPLE_KEYS
    forgot = run_cli(
        capsys, "-C", str(rig.root), "state", "forget", "cinema", "--reason", "re-adopt"
    )
    assert forgot.code == 0
    show = json.loads(run_cli(capsys, "-C", str(rig.root), "state", "show", "cinema").out)
    assert "current" not in show
    assert show["history"][0]["history_reason"] == "forgotten"
    code = show["history"][0]["template_code"]
    imported = run_cli(
        capsys,
        *("-C", str(rig.root), "state", "import", "cinema", "--template-code", code),
        *("--reason", "re-adopt"),
    )
    assert imported.code == 0, imported.err
    assert run_cli(capsys, "-C", str(rig.root), "plan", "--detailed-exitcode").code == 0


def test_second_apply_exits_3_naming_the_holder_without_calling_the_api(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    with EnvironmentLock(rig.root / ".ipass/locks", "rehearsal", "apply") as held:
        run = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve")
    assert run.code == 3
    assert held.info is not None
    assert f"lock {held.info.lock_id} held by pid" in run.err
    assert rig.templates() == []
    assert rig.server.store.requests() == []


def test_force_unlock_needs_the_lock_id(rig: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    # A process takes the lock and is killed: the kernel frees the lock, its record stays.
    code = (
        "import os, signal, sys; from pathlib import Path; "
        "from reconciler.adapters.lock import EnvironmentLock; "
        "EnvironmentLock(Path(sys.argv[1]), 'rehearsal', 'apply').acquire(); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    locks = rig.root / ".ipass/locks"
    died = subprocess.run([sys.executable, "-c", code, str(locks)], check=False, timeout=60)
    assert died.returncode == -signal.SIGKILL
    holder = read_holder(locks / "rehearsal.lock.json")
    assert holder is not None
    wrong = run_cli(capsys, "-C", str(rig.root), "state", "force-unlock", "nope", "--reason", "x")
    assert wrong.code == 3
    assert "does not match" in wrong.err
    right = run_cli(
        capsys, "-C", str(rig.root), "state", "force-unlock", holder.lock_id, "--reason", "dead"
    )
    assert right.code == 0, right.err
    assert not (locks / "rehearsal.lock.json").exists()
    # A stale record never blocks anyway: the kernel released the lock with the process.
    assert subprocess.run([sys.executable, "-c", code, str(locks)], check=False).returncode
    done = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve", "--target", "cinema")
    assert done.code == 0, done.err


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda text: "", "is empty"),
        (lambda text: text[: len(text) // 2], "is not valid JSON"),
        (lambda text: "<<<<<<< HEAD\n" + text, "conflict markers"),
        (
            lambda text: text.replace('"format_version": 2', '"format_version": 9'),
            "format_version 9",
        ),
        (
            lambda text: text.replace("Christmas Movie Ticket", "Xmas Movie Ticket"),
            "edited by hand",
        ),
    ],
)
def test_damaged_state_is_refused_and_never_overwritten(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], damage: Callable[[str], str], message: str
) -> None:
    assert run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve").code == 0
    damaged = damage(rig.state_file.read_text(encoding="utf-8"))
    rig.state_file.write_text(damaged, encoding="utf-8")
    for command in (("plan",), ("apply", "--auto-approve"), ("state", "list")):
        run = run_cli(capsys, "-C", str(rig.root), *command)
        assert run.code == 3, (command, run.err)
        assert message in run.err
    assert rig.state_file.read_text(encoding="utf-8") == damaged
    assert len(rig.templates()) == EXAMPLE_KEYS


def test_targets_and_excludes(rig: Rehearsal, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve", "--target", "cinema")
    assert run.code == 0, run.err
    assert len(rig.templates()) == 1
    run = run_cli(capsys, "-C", str(rig.root), "plan", "--exclude", "museum-pass")
    assert "8 to create" in run.out.splitlines()[0]
    bad = run_cli(capsys, "-C", str(rig.root), "plan", "--target", "cinma")
    assert bad.code == 1
    assert "did you mean 'cinema'?" in bad.err


def test_main_job_on_the_embedded_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_example(tmp_path)
    assert run_cli(capsys, "-C", str(root), "plan").code == 0
    first = run_cli(capsys, "-C", str(root), "apply", "--auto-approve")
    assert first.code == 0, first.err
    again = run_cli(capsys, "-C", str(root), "apply", "--auto-approve")
    assert "no changes" in again.out
    listed = run_cli(capsys, "-C", str(root), "sandbox", "templates", "--json")
    assert len(json.loads(listed.out)) == EXAMPLE_KEYS
    assert (root / ".ipass/sandbox/state/sandbox.json").exists()
    assert not (root / "state").exists()


def test_repo_has_the_example_catalog() -> None:
    assert (REPO / "catalog/templates").is_dir()


def test_parallel_apply_publishes_each_entry_once(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve", "--parallelism", "4")
    assert run.code == 0, run.err
    assert sorted(rig.templates()) == sorted(
        e["current"]["request_id"] for e in rig.state()["entries"].values()
    )
    assert len(set(rig.templates())) == EXAMPLE_KEYS


def test_parallel_apply_stops_starting_creates_after_an_unknown_outcome(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.server.set_faults([FaultRule(kind=FaultKind.DROP_AFTER_COMMIT, count=1)])
    run = run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve", "--parallelism", "4")
    assert run.code == 5, run.err
    entries = rig.state()["entries"]
    statuses = sorted(e["current"]["status"] for e in entries.values())
    assert statuses.count("unknown") == 1
    # Creates started before the failure was seen finished; every one of them is recorded.
    assert sorted(rig.templates()) == sorted(e["current"]["request_id"] for e in entries.values())
    assert (
        run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve", "--retry-unknown").code == 0
    )
    assert run_cli(capsys, "-C", str(rig.root), "apply", "--auto-approve").code == 0
    assert len(set(rig.templates())) == EXAMPLE_KEYS
    assert len(rig.templates()) == EXAMPLE_KEYS
