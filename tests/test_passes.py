"""Passes in bulk, end to end through the command line: the embedded sandbox, a live sandbox
server for faults, and real child processes killed with SIGKILL."""

from __future__ import annotations

import csv
import json
import random
import re
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_support import run_ipass, start_ipass
from helpers import build_tree, copy_example, run_cli
from reconcile_support import Rehearsal, rehearsal

from reconciler.adapters.sandbox.faults import FaultKind, FaultRule
from reconciler.adapters.sandbox.store import SandboxStore
from reconciler.domain.campaign import mask_id, relative_date, shard_of
from reconciler.usecases.pass_rate import RateGate
from reconciler.usecases.passes import Shard

FULL_USER_ID = re.compile(r"2160220000000\d{3}")
CSV_NAME = "catalog/passes/coffee-welcome.csv"


def sandbox_passes(root: Path) -> list[str]:
    """The bizSerialId of every pass the embedded sandbox holds."""
    with SandboxStore.open(root / ".ipass/sandbox/sandbox.sqlite3") as store:
        return [p.biz_serial_id for p in store.passes()]


def write_rows(path: Path, count: int, *, start: int = 0) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["member_no", "user_id", "channel"])
        for i in range(start, start + count):
            # The sandbox seeds 1,000 users: larger files give each several passes.
            writer.writerow([f"M{100000 + i}", f"2160220000000{i % 1000:03d}", "app"])
    return path


def ledger_statuses(path: Path) -> Counter[str]:
    with sqlite3.connect(path) as db:
        return Counter(status for (status,) in db.execute("SELECT status FROM passes"))


def wait_for_ledger(path: Path, status: str | None, at_least: int, timeout: float = 60) -> None:
    """Poll a running campaign's ledger until it holds `at_least` rows of `status` (any status
    when None). The run creates the file and its table a moment apart; a busy machine can take
    seconds to send the first request, so no fixed sleep is long enough."""
    deadline = time.monotonic() + timeout
    while True:
        if path.exists():
            try:
                statuses = ledger_statuses(path)
            except sqlite3.OperationalError:  # the table is not there yet
                statuses = Counter()
            found = statuses[status] if status is not None else sum(statuses.values())
            if found >= at_least:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never held {at_least} {status or 'rows'} in {timeout} s")
        time.sleep(0.05)


@pytest.fixture
def project(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The example, its templates applied to the embedded sandbox; the working folder (--input
    is relative to it, like any path on the command line)."""
    root = copy_example(tmp_path / "project")
    monkeypatch.chdir(root)
    applied = run_cli(capsys, "-C", str(root), "apply", "--auto-approve")
    assert applied.code == 0, applied.err
    return root


# -- pieces ---------------------------------------------------------------------------------------


def test_dates_shards_and_masks() -> None:
    anchor = 1_800_000_000_000
    assert relative_date("now", anchor, end=False) == anchor
    assert relative_date("+30d", anchor, end=True) == anchor + 30 * 86_400_000
    assert relative_date("+12h", anchor, end=False) == anchor + 12 * 3_600_000
    assert relative_date("2027-01-01T00:00:00+08:00", anchor, end=False) == 1798732800000
    assert shard_of("welcome-2027-M100000", 3) == shard_of("welcome-2027-M100000", 3)
    assert Counter(shard_of(f"s{i}", 3) for i in range(3000)).keys() == {0, 1, 2}
    assert mask_id("2160220000000123") == "2160**********23"
    assert Shard.parse("2/3") == Shard(2, 3)
    with pytest.raises(Exception, match="I/N"):
        Shard.parse("3/3")


def test_rate_gate_halves_and_pauses_everyone() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    gate = RateGate(10.0, clock=lambda: now[0], sleep=sleep)
    gate.wait()
    gate.slow_down(2.0)
    assert gate.rate == 5.0
    gate.wait()
    assert now[0] >= 2.0  # paused for Retry-After before the next request left
    assert gate.slowdowns == 1


# -- the example campaign, end to end --------------------------------------------------------------


def test_thousand_rows_issued_then_the_same_command_sends_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(project)
    planned = run_cli(capsys, "-C", root, "passes", "plan", "coffee-welcome", "--input", CSV_NAME)
    assert planned.code == 0, planned.err
    assert "1000 rows: 1000 new, 0 already issued" in planned.out
    args = ("-C", root, "passes", "issue", "coffee-welcome", "--input", CSV_NAME)
    issued = run_cli(capsys, *args, "--auto-approve", "--workers", "8")
    assert issued.code == 0, issued.err
    assert "1000 created" in issued.out
    serials = sandbox_passes(project)
    assert len(serials) == 1000
    assert len(set(serials)) == 1000
    again = run_cli(capsys, *args, "--auto-approve")
    assert again.code == 0, again.err
    assert "nothing to send: 1000 already issued" in again.out
    assert len(sandbox_passes(project)) == 1000
    status = run_cli(capsys, "-C", root, "passes", "status", "coffee-welcome")
    assert status.code == 0
    assert "created=1000" in status.out
    out = project / "report.csv"
    reported = run_cli(capsys, "-C", root, "passes", "report", "coffee-welcome", "--out", str(out))
    assert reported.code == 0, reported.err
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 1000
    assert rows[0]["row"] == "2"
    assert rows[0]["bizSerialId"] == "welcome-2027-M100000"
    assert {r["outcome"] for r in rows} == {"created"}
    assert all(r["passId"] for r in rows)
    without_terminal = run_cli(capsys, *args)
    assert without_terminal.code == 0  # nothing to send, so nothing to confirm


def test_bad_rows_of_every_kind_send_nothing_and_are_all_listed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_tree(
        project,
        {
            "catalog/passes/bad.yaml": """\
                template: coffee-voucher
                userId: "{{ row.user_id }}"
                bizSerialId: "bad-{{ row.member_no }}"
                endDate: "{{ row.end }}"
                codeInfo:
                  $codevalue$: "{{ row.member_no }}"
                  $codemsg$: "{{ row.note }}"
                """,
            "rows.csv": "\ufeffmember_no,user_id,end,note\n"
            "1,2160220000000001,+30d,fine\n"
            "2,,+30d,no user\n"
            "3,216022000000000300000000000000000000,+30d,user id too long\n"
            "1,2160220000000004,+30d,duplicate serial\n"
            "5,2160220000000005,tomorrow,bad date\n"
            "6,2160220000000006,2000-01-01,end before start\n"
            "7,2160220000000007,+30d\n"
            f"8,2160220000000008,+30d,{'x' * 600}\n",
        },
    )
    root = str(project)
    args = ("-C", root, "passes", "issue", "bad", "--input", "rows.csv", "--auto-approve")
    run = run_cli(capsys, *args)
    assert run.code == 1, run.err
    lines = [line for line in run.err.splitlines() if line.startswith("rows.csv:")]
    assert any(line.startswith("rows.csv:3: userId: required") for line in lines), run.err
    assert any(line.startswith("rows.csv:4: userId:") for line in lines), lines
    assert "rows.csv:5: bizSerialId: duplicate: row 2 has the same bizSerialId" in run.err
    assert any(line.startswith("rows.csv:6: endDate:") for line in lines), lines
    assert "rows.csv:7: endDate: must be after startDate [PARAM_ILLEGAL]" in run.err
    assert any(line.startswith("rows.csv:8: 3 cells where the header has 4") for line in lines)
    assert any(line.startswith("rows.csv:9: codeInfo.$codemsg$:") for line in lines), lines
    assert "7 problems found" in run.err
    assert "nothing was sent" in run.err
    assert sandbox_passes(project) == []
    assert not FULL_USER_ID.search(run.out + run.err)
    report = project / ".ipass/passes/sandbox/bad.problems.txt"
    assert len(report.read_text(encoding="utf-8").splitlines()) == 7
    planned = run_cli(capsys, "-C", root, "passes", "plan", "bad", "--input", "rows.csv")
    assert planned.code == 1
    # JSON Lines: broken lines and missing keys are problems too.
    (project / "rows.jsonl").write_text(
        '{"member_no": "1", "user_id": "2160220000000001", "end": "+1d", "note": "n"}\n'
        "not json\n"
        '{"member_no": "2", "user_id": "2160220000000002", "end": "+1d"}\n'
        "[1, 2]\n",
        encoding="utf-8",
    )
    jsonl = run_cli(capsys, "-C", root, "passes", "plan", "bad", "--input", "rows.jsonl")
    assert jsonl.code == 1
    assert "rows.jsonl:2: not a JSON object" in jsonl.err
    assert "rows.jsonl:3: codeInfo.$codemsg$:" in jsonl.err
    assert "rows.jsonl:4: each line must be a JSON object" in jsonl.err


def test_many_problems_print_fifty_then_the_count(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "member_no,user_id,channel\n" + "".join(f"M{i},,app\n" for i in range(120))
    (project / "rows.csv").write_text(rows, encoding="utf-8")
    args = ("-C", str(project), "passes", "plan", "coffee-welcome", "--input", "rows.csv")
    run = run_cli(capsys, *args)
    assert run.code == 1
    assert len([line for line in run.err.splitlines() if line.startswith("rows.csv:")]) == 50
    assert "... and 70 more" in run.err
    assert "120 problems found" in run.err


def test_a_template_not_created_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_example(tmp_path / "fresh")
    run = run_cli(capsys, "-C", str(root), "passes", "plan", "coffee-welcome", "--input", CSV_NAME)
    assert run.code == 1
    assert "'coffee-voucher' is not in the state in sandbox" in run.err


def test_unknown_campaign_field_is_located(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "catalog/passes/coffee-welcome.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "colour: red\n", encoding="utf-8")
    run = run_cli(
        capsys, "-C", str(project), "passes", "plan", "coffee-welcome", "--input", CSV_NAME
    )
    assert run.code == 1
    assert re.search(r"catalog/passes/coffee-welcome.yaml:\d+:1: colour: unknown field", run.err)


def test_shards_together_issue_each_row_exactly_once(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(project)
    for index in range(3):
        run = run_cli(
            capsys,
            *("-C", root, "passes", "issue", "coffee-welcome", "--input", CSV_NAME),
            *("--shard", f"{index}/3", "--auto-approve"),
        )
        assert run.code == 0, run.err
    serials = sandbox_passes(project)
    assert len(serials) == 1000
    assert len(set(serials)) == 1000
    folder = project / ".ipass/passes/sandbox"
    sizes = [
        sum(ledger_statuses(folder / f"coffee-welcome.shard-{i}-of-3.sqlite3").values())
        for i in range(3)
    ]
    assert sum(sizes) == 1000
    assert min(sizes) > 250
    out = project / "merged.csv"
    merged = run_cli(
        capsys, "-C", root, "passes", "report", "coffee-welcome", "--merge", "--out", str(out)
    )
    assert merged.code == 0, merged.err
    rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    assert [int(r["row"]) for r in rows] == list(range(2, 1002))
    status = run_cli(capsys, "-C", root, "passes", "status", "coffee-welcome")
    assert "issued 1000 of 1000" in status.out


def test_user_ids_are_masked_unless_the_report_asks_for_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(project)
    write_rows(project / "few.csv", 5)
    with (project / "few.csv").open("a", encoding="utf-8") as handle:
        handle.write("M999999,2160220000000999999999999999999999,app\n")
    outputs = []
    for args in (
        ("passes", "plan", "coffee-welcome", "--input", "few.csv"),
        ("passes", "issue", "coffee-welcome", "--input", "few.csv", "--auto-approve"),
    ):
        run = run_cli(capsys, "-C", root, *args)
        outputs.append(run.out + run.err)
    write_rows(project / "few.csv", 5)
    run = run_cli(
        capsys,
        "-C",
        root,
        "passes",
        "issue",
        "coffee-welcome",
        "--input",
        "few.csv",
        "--auto-approve",
    )
    assert run.code == 0, run.err
    outputs.append(run.out + run.err)
    status = run_cli(capsys, "-C", root, "passes", "status", "coffee-welcome")
    outputs.append(status.out + status.err)
    masked = project / "masked.csv"
    clear = project / "clear.csv"
    run_cli(capsys, "-C", root, "passes", "report", "coffee-welcome", "--out", str(masked))
    run_cli(
        capsys,
        "-C",
        root,
        "passes",
        "report",
        "coffee-welcome",
        "--out",
        str(clear),
        "--include-user-ids",
    )
    problems = project / ".ipass/passes/sandbox/coffee-welcome.problems.txt"
    texts = [*outputs, masked.read_text(encoding="utf-8"), problems.read_text(encoding="utf-8")]
    for text in texts:
        assert not FULL_USER_ID.search(text), text
    assert "2160220000000004" in clear.read_text(encoding="utf-8")


def test_json_lines_and_openid_style_input_issue(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps({"member_no": f"J{i}", "user_id": f"2160220000000{i:03d}", "channel": "web"})
        for i in range(10)
    ]
    (project / "rows.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = run_cli(
        capsys,
        "-C",
        str(project),
        "passes",
        "issue",
        "coffee-welcome",
        "--input",
        "rows.jsonl",
        "--auto-approve",
    )
    assert run.code == 0, run.err
    assert "10 created" in run.out


# -- faults: a live sandbox server in this process -----------------------------------------------


@pytest.fixture
def rig(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path) as r:
        monkeypatch.chdir(r.root)
        applied = run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve")
        assert applied.code == 0, applied.err
        yield r


def test_a_rate_limit_slows_the_run_and_loses_nothing(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rows(rig.root / "rows.csv", 200)
    rig.server.set_faults(
        [FaultRule(kind=FaultKind.RATE_LIMIT, path="createPass", rate=0.3, count=12, seconds=0.2)]
    )
    run = run_cli(
        capsys,
        "-C",
        str(rig.root),
        "passes",
        "issue",
        "coffee-welcome",
        "--input",
        "rows.csv",
        "--auto-approve",
        "--workers",
        "4",
    )
    assert run.code == 0, run.err
    assert "slowed down" in run.out
    serials = [p.biz_serial_id for p in rig.server.store.passes()]
    assert len(serials) == 200
    assert len(set(serials)) == 200
    ledger = rig.root / ".ipass/passes/rehearsal/coffee-welcome.sqlite3"
    assert ledger_statuses(ledger) == Counter({"created": 200})


def test_an_unknown_outcome_is_resent_with_the_same_serial_and_found_existing(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rows(rig.root / "rows.csv", 20)
    rig.server.set_faults([FaultRule(kind=FaultKind.DROP_AFTER_COMMIT, path="createPass", count=1)])
    args = (
        "-C",
        str(rig.root),
        "passes",
        "issue",
        "coffee-welcome",
        "--input",
        "rows.csv",
        "--auto-approve",
    )
    first = run_cli(capsys, *args)
    assert first.code == 5, first.err
    assert "1 unknown" in first.out
    planned = run_cli(
        capsys, "-C", str(rig.root), "passes", "plan", "coffee-welcome", "--input", "rows.csv"
    )
    assert "19 already issued, 0 rejected before, 1 unknown" in planned.out
    second = run_cli(capsys, *args)
    assert second.code == 0, second.err
    assert "1 already existed" in second.out
    ledger = rig.root / ".ipass/passes/rehearsal/coffee-welcome.sqlite3"
    assert ledger_statuses(ledger) == Counter({"created": 19, "exists": 1})
    assert len(rig.server.store.passes()) == 20


def test_changed_content_for_an_issued_serial_is_a_conflict(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rows(rig.root / "rows.csv", 3)
    args = (
        "-C",
        str(rig.root),
        "passes",
        "issue",
        "coffee-welcome",
        "--input",
        "rows.csv",
        "--auto-approve",
    )
    assert run_cli(capsys, *args).code == 0
    text = (rig.root / "rows.csv").read_text(encoding="utf-8").replace("app", "web", 1)
    (rig.root / "rows.csv").write_text(text, encoding="utf-8")
    run = run_cli(capsys, *args)
    assert run.code == 1
    assert "rows.csv:2: bizSerialId: already sent from row 2 with other content" in run.err
    assert len(rig.server.store.passes()) == 3


@pytest.mark.slow
def test_sigkill_at_random_moments_then_reruns_issue_each_row_exactly_once(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = 300
    write_rows(rig.root / "rows.csv", rows)
    args = (
        "passes",
        "issue",
        "coffee-welcome",
        "--input",
        "rows.csv",
        "--auto-approve",
        "--workers",
        "4",
    )
    # Each request takes a little longer, so the kills land while requests are in flight.
    rig.server.set_faults([FaultRule(kind=FaultKind.LATENCY, path="createPass", seconds=0.02)])
    chance = random.Random(13)  # noqa: S311 - kill times, not secrets
    kills = 0
    for _ in range(4):
        with start_ipass(rig.root, *args) as child:
            time.sleep(chance.uniform(0.6, 1.4))
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGKILL)
                kills += 1
            child.wait(timeout=30)
    for _ in range(5):
        done = run_ipass(rig.root, *args, timeout=60)
        if done.code == 0:
            break
    assert done.code == 0, done.err
    assert kills >= 1
    serials = [p.biz_serial_id for p in rig.server.store.passes()]
    assert len(serials) == rows
    assert len(set(serials)) == rows
    statuses = ledger_statuses(rig.root / ".ipass/passes/rehearsal/coffee-welcome.sqlite3")
    assert sum(statuses.values()) == rows
    assert set(statuses) <= {"created", "exists"}


def test_sigint_finishes_in_flight_requests_and_exits_130(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rows(rig.root / "rows.csv", 300)
    rig.server.set_faults([FaultRule(kind=FaultKind.LATENCY, path="createPass", seconds=0.05)])
    args = ("passes", "issue", "coffee-welcome", "--input", "rows.csv", "--auto-approve")
    with start_ipass(rig.root, *args) as child:
        wait_for_ledger(rig.root / ".ipass/passes/rehearsal/coffee-welcome.sqlite3", "created", 5)
        child.signal(signal.SIGINT)
        code = child.wait(timeout=30)
    assert code == 130, child.err
    statuses = ledger_statuses(rig.root / ".ipass/passes/rehearsal/coffee-welcome.sqlite3")
    assert "pending" not in statuses
    assert 0 < statuses["created"] < 300
    assert statuses["created"] == len(rig.server.store.passes())


def test_a_rejected_row_is_recorded_and_not_sent_again_unchanged(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = write_rows(project / "rows.csv", 3)
    with rows.open("a", encoding="utf-8") as handle:
        handle.write("M777777,2160229999999999,app\n")  # no such user at the sandbox
    args = (
        "-C",
        str(project),
        "passes",
        "issue",
        "coffee-welcome",
        "--input",
        "rows.csv",
        "--auto-approve",
    )
    first = run_cli(capsys, *args)
    assert first.code == 4, first.err
    assert "3 created" in first.out
    assert "rejected 1: USER_NOT_EXIST" in first.out
    again = run_cli(capsys, *args)
    assert again.code == 4
    assert "nothing to send: 3 already issued, 1 rejected" in again.out
    assert len(sandbox_passes(project)) == 3
    out = project / "report.csv"
    run_cli(capsys, "-C", str(project), "passes", "report", "coffee-welcome", "--out", str(out))
    rejected = [
        r
        for r in csv.DictReader(out.read_text(encoding="utf-8").splitlines())
        if r["outcome"] == "rejected"
    ]
    assert [(r["row"], r["vendorCode"]) for r in rejected] == [("5", "USER_NOT_EXIST")]


def test_a_row_renders_to_the_exact_body_and_the_anchor_fixes_relative_dates() -> None:
    from reconciler.domain.campaign import Campaign, PassRenderer, TemplateRef
    from reconciler.domain.templating import Renderer

    campaign = Campaign.model_validate(
        {
            "template": "coffee-voucher",
            "vars": {"prefix": "w"},
            "userId": "{{ row.user }}",
            "bizSerialId": "{{ prefix }}-{{ row.id }}",
            "endDate": "+30d",
            "codeInfo": {"$codevalue$": "{{ row.id }}", "$codemsg$": ""},
        }
    )
    template = TemplateRef("coffee-voucher", "2" * 32, "COUPON", "GIFT_CARD")
    anchor = 1_800_000_000_000

    def renderer() -> PassRenderer:
        return PassRenderer(
            campaign,
            template,
            merchant_id="2160120000000001",
            renderer=Renderer(),
            variables={},
            anchor_ms=anchor,
        )

    first = renderer().render(2, {"user": "2160220000000001", "id": "7"})
    again = renderer().render(2, {"user": "2160220000000001", "id": "7"})
    assert not isinstance(first, list)
    assert not isinstance(again, list)
    assert first.body_sha256 == again.body_sha256
    body = json.loads(first.body)
    assert body["bizSerialId"] == "w-7"
    assert body["startDate"] == anchor
    assert body["endDate"] == anchor + 30 * 86_400_000
    assert body["bizSerialType"] == "OUT_PLAT_FORM"
    assert body["templateCode"] == "2" * 32
    bad = renderer().render(3, {"id": "8"})
    assert isinstance(bad, list)
    assert [p.field for p in bad] == ["userId"]


def test_rate_caps_requests_per_second_across_workers(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_rows(project / "rows.csv", 30)
    started = time.monotonic()
    run = run_cli(
        capsys,
        "-C",
        str(project),
        "passes",
        "issue",
        "coffee-welcome",
        "--input",
        "rows.csv",
        "--auto-approve",
        "--workers",
        "8",
        "--rate",
        "20",
    )
    elapsed = time.monotonic() - started
    assert run.code == 0, run.err
    assert elapsed >= 29 / 20
    assert len(sandbox_passes(project)) == 30


def test_an_input_changed_during_the_run_stops_it_and_records_what_was_sent(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_rows(rig.root / "rows.csv", 1000)
    args = ("passes", "issue", "coffee-welcome", "--input", "rows.csv", "--auto-approve")
    with start_ipass(rig.root, *args) as child:
        ledger = rig.root / ".ipass/passes/rehearsal/coffee-welcome.sqlite3"
        wait_for_ledger(ledger, None, 1)
        text = path.read_text(encoding="utf-8")
        text = text.replace("M100990,2160220000000990,", "M100990,,")  # now without a user
        path.write_text(text, encoding="utf-8")  # in place: the run's open file sees it
        code = child.wait(timeout=60)
    assert code == 1, child.err
    assert "changed while passes were being issued" in child.err
    statuses = ledger_statuses(ledger)
    assert "pending" not in statuses
    assert statuses["created"] == len(rig.server.store.passes())
