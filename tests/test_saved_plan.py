"""A saved plan is exactly what runs; JSON that ipass reads is strict (a key twice is an error).

Class 1: `ipass apply PLANFILE` recomputes the plan under the lock with the file's options and
refuses any difference, naming the keys and fields; the file's digest refuses a plain edit first,
and the file is read bounded (size, kind, nesting, number length) before it is parsed. `plan
--out` replaces only a regular file that is empty or an earlier plan.

Class 7: state files, saved plans and journal lines are read by one strict JSON reader
(`reconciler.domain.jsonsafe`): a duplicated key, `NaN`, a fraction, a huge number or deep
nesting is refused with the file and what was found, never settled by the last value.

Edits that recompute the digest (`reseal`) show that the digest is not the guarantee: anyone can
recompute it, and the comparison with a fresh plan refuses the edit anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Run, run_cli
from pydantic import JsonValue
from reconcile_support import Rehearsal, rehearsal

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.events import EventLine, Retired
from reconciler.domain.jsonsafe import (
    MAX_DEPTH,
    JsonSyntaxError,
    StrictJsonError,
    check_strict,
    nesting_depth,
    strict_loads,
)
from reconciler.domain.plan import CHANGES, Desired
from reconciler.domain.plan_document import PlanDocument, plan_differences, plan_document
from reconciler.domain.planner import Destination, compute_plan
from reconciler.domain.state import State, new_state, parse_state
from reconciler.errors import ConflictError
from reconciler.usecases.saved_plan import MAX_PLAN_BYTES

KEYS = (
    "bus-shenzhen-bay",
    "cinema",
    "coffee-voucher",
    "ferry-macau",
    "flight-hkg-tpe",
    "gift-card[100]",
    "gift-card[200]",
    "gift-card[500]",
    "museum-pass",
    "rail-guangzhou",
)
EXAMPLE_KEYS = len(KEYS)
REPLAN = "hint: run `ipass plan --out FILE` again, review it, and apply the new file"
EDITED = "; the file was edited by hand or is damaged"
NOT_WHAT_RUNS = (
    "hint: the file was edited, or made by another version of ipass: run `ipass plan --env "
    "rehearsal --out FILE` again, review it, and apply the new file"
)
STATE_HINT = (
    "hint: ipass never overwrites a state it cannot trust; fix or restore the file (the "
    "previous snapshot is kept beside it as .backup)"
)


# -- every file opened, seen through the interpreter's audit events ------------------------------

_WATCHING: list[list[str]] = []


def _record_open(event: str, args: tuple[Any, ...]) -> None:
    if _WATCHING and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
        _WATCHING[-1].append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_record_open)  # does nothing unless a test asks for `opened`


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """The real path of every file opened (by `open` or `os.open`) while the test runs."""
    paths: list[str] = []
    _WATCHING.append(paths)
    try:
        yield paths
    finally:
        _WATCHING.remove(paths)


# -- the project -----------------------------------------------------------------------------


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path) as r:
        yield r


def ipass(r: Rehearsal, capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    return run_cli(capsys, "-C", str(r.root), *args)


def make_plan(r: Rehearsal, capsys: pytest.CaptureFixture[str], *options: str) -> Path:
    """`ipass plan --out plan.json` (replacing the last one) with these options."""
    path = r.root / "plan.json"
    made = ipass(r, capsys, "plan", *options, "--out", str(path))
    assert made.err.endswith(f"saved to {path}; apply it with `ipass apply {path}`\n"), made.err
    return path


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def digest_of(data: dict[str, Any]) -> str:
    """The documented digest: SHA-256 of the canonical JSON of the document without it."""
    content = {name: value for name, value in data.items() if name != "digest"}
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def reseal(path: Path, data: dict[str, Any]) -> None:
    """Write an edited plan with a recomputed digest, as anyone editing it could."""
    data["digest"] = digest_of(data)
    path.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n")


def recount(data: dict[str, Any]) -> None:
    """Keep an edited plan's summary and has_changes true to its steps."""
    summary = dict.fromkeys(data["summary"], 0)
    for step in data["steps"]:
        summary[step["action"]] += 1
    data["summary"] = summary
    data["has_changes"] = any(step["action"] in CHANGES for step in data["steps"])


def step_of(data: dict[str, Any], key: str) -> dict[str, Any]:
    step = next(step for step in data["steps"] if step["key"] == key)
    assert isinstance(step, dict)
    return step


def payload_hash(send: dict[str, Any]) -> str:
    body = {name: value for name, value in send.items() if name != "requestId"}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def assert_nothing_applied(r: Rehearsal) -> None:
    assert r.templates() == []
    assert r.server.store.requests() == []
    assert not r.state_file.exists()


# -- class 1: the saved plan is exactly what runs ----------------------------------------------


def test_the_saved_file_is_the_json_plan_with_the_digest_of_its_content(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_plan(rig, capsys)
    data = load(path)
    assert data["format_version"] == 6
    assert data["digest"] == digest_of(data)
    printed = ipass(rig, capsys, "plan", "--format", "json")
    assert printed.out == path.read_text(encoding="utf-8")  # the same document, digest included
    applied = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert applied.code == 0, applied.err
    assert len(rig.templates()) == EXAMPLE_KEYS


def test_a_plan_saved_by_an_older_ipass_is_refused_with_the_way_forward(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    """Format 5 had a card on every step: such a file is made again, never converted or
    half-read."""
    path = make_plan(rig, capsys)
    data = load(path)
    data["format_version"] = 5
    reseal(path, data)
    applied = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert applied.code == 3
    assert applied.err == (
        f"error: saved plan {path} has format_version 5 (made by an older ipass); this ipass "
        f"reads version 6\n{REPLAN}\n"
    )
    assert_nothing_applied(rig)


def test_an_edit_is_refused_as_edited_by_hand(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_plan(rig, capsys, "--target", "cinema")
    data = load(path)
    step_of(data, "cinema")["names"]["en_US"] = "Free Movie Ticket"  # what a reviewer reads
    path.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n")
    run = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert run.code == 3
    assert run.out == ""
    assert run.err.splitlines() == [
        f"error: saved plan {path} was edited by hand: its content does not match its digest",
        REPLAN,
    ]
    assert_nothing_applied(rig)


def test_a_plan_without_its_digest_is_refused(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_plan(rig, capsys)
    data = load(path)
    del data["digest"]
    path.write_text(json.dumps(data, indent=2))
    run = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert run.code == 3
    assert run.err.splitlines() == [
        f"error: saved plan {path} has no digest (edited by hand?)",
        REPLAN,
    ]
    assert_nothing_applied(rig)


def test_a_reviewed_plan_of_one_create_never_publishes_ten(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    """The --target written out of the options: every step the file holds is still true."""
    path = make_plan(rig, capsys, "--target", "cinema")
    data = load(path)
    data["options"]["targets"] = []
    reseal(path, data)
    run = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert run.code == 3
    missing = ", ".join(key for key in KEYS if key != "cinema")
    assert run.err.splitlines() == [
        f"error: saved plan {path} is not what apply would run now: steps a plan made now "
        f"has and the file does not: {missing}",
        NOT_WHAT_RUNS,
    ]
    assert_nothing_applied(rig)


def add_a_step(data: dict[str, Any], full: dict[str, Any]) -> None:
    data["steps"] = sorted([*data["steps"], step_of(full, "museum-pass")], key=lambda s: s["key"])
    recount(data)


def remove_a_step(data: dict[str, Any], full: dict[str, Any]) -> None:
    data["steps"] = [step for step in data["steps"] if step["key"] != "museum-pass"]
    recount(data)


def change_a_body(data: dict[str, Any], full: dict[str, Any]) -> None:
    step = step_of(data, "coffee-voucher")
    step["send"]["stock"] = 500000
    step["payload_hash"] = payload_hash(step["send"])  # so its own check is met


def change_a_request_id(data: dict[str, Any], full: dict[str, Any]) -> None:
    step = step_of(data, "coffee-voucher")
    step["send"]["requestId"] = step["request_id"] = "0" * 32


def change_an_action(data: dict[str, Any], full: dict[str, Any]) -> None:
    step_of(data, "cinema")["action"] = "replace"
    recount(data)


@pytest.mark.parametrize(
    ("edit", "difference"),
    [
        (add_a_step, "steps in the file that a plan made now does not have: museum-pass"),
        (remove_a_step, "steps a plan made now has and the file does not: museum-pass"),
        (change_a_body, "step 'coffee-voucher': payload_hash, send"),
        (change_a_request_id, "step 'coffee-voucher': request_id, send"),
        (change_an_action, "step 'cinema': action (replace in the file, create now)"),
    ],
)
def test_a_resealed_edit_of_the_steps_is_refused_naming_keys_and_fields(
    rig: Rehearsal,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[dict[str, Any], dict[str, Any]], None],
    difference: str,
) -> None:
    full = load(make_plan(rig, capsys))
    options = () if edit is not add_a_step else ("--exclude", "museum-pass")
    path = make_plan(rig, capsys, *options)
    data = load(path)
    edit(data, full)
    reseal(path, data)
    run = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert run.code == 3, run.err
    assert run.out == ""
    assert run.err.splitlines() == [
        f"error: saved plan {path} is not what apply would run now: {difference}",
        NOT_WHAT_RUNS,
    ]
    assert_nothing_applied(rig)


def test_a_replace_written_into_the_options_is_refused(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ipass(rig, capsys, "apply", "--auto-approve").code == 0
    cinema = rig.root / "catalog/templates/tickets/cinema.yaml"
    text = cinema.read_text(encoding="utf-8")
    cinema.write_text(text.replace("Christmas Movie Ticket", "Xmas Movie Ticket"), "utf-8")
    path = make_plan(rig, capsys)  # cinema is blocked: the reviewer saw nothing to publish
    data = load(path)
    assert step_of(data, "cinema")["action"] == "blocked"
    data["options"]["replace"] = ["cinema"]
    reseal(path, data)
    before = rig.state_file.read_bytes()
    run = ipass(rig, capsys, "apply", str(path), "--auto-approve", "--reason", "MKT-1")
    assert run.code == 3, run.err
    assert run.err.splitlines() == [
        f"error: saved plan {path} is not what apply would run now: step 'cinema': "
        "action (blocked in the file, replace now), reason, request_id, generation, send",
        NOT_WHAT_RUNS,
    ]
    assert len(rig.templates()) == EXAMPLE_KEYS
    assert rig.state_file.read_bytes() == before


def test_a_plan_applied_twice_is_stale_the_second_time(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_plan(rig, capsys)
    assert ipass(rig, capsys, "apply", str(path), "--auto-approve").code == 0
    again = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert again.code == 3
    lineage = rig.state()["lineage"]
    assert again.err.splitlines() == [
        f"error: saved plan {path} is stale: state lineage was none (no state yet), "
        f"now {lineage}; state serial was 0, now 1",
        "hint: run `ipass plan --env rehearsal --out FILE` again, review it, and apply the "
        "new file",
    ]
    assert len(rig.templates()) == EXAMPLE_KEYS


# -- class 1: the plan file is read bounded ----------------------------------------------------


def test_a_100_mb_plan_is_refused_without_being_read(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], opened: list[str]
) -> None:
    path = rig.root / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: no disk used
    opened.clear()
    run = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert run.code == 3
    assert run.err.splitlines() == [
        f"error: saved plan {path} is 104,857,600 bytes, more than a saved plan may be "
        f"({MAX_PLAN_BYTES:,}); it was not read",
        REPLAN,
    ]
    assert os.path.realpath(path) not in opened
    assert_nothing_applied(rig)


def test_a_plan_file_that_is_a_link_or_a_pipe_is_refused_unopened(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], opened: list[str]
) -> None:
    real = make_plan(rig, capsys)
    link = rig.root / "link.json"
    link.symlink_to(real)
    pipe = rig.root / "pipe.json"
    os.mkfifo(pipe)  # opening it for reading would wait for a writer
    opened.clear()
    via_link = ipass(rig, capsys, "apply", str(link), "--auto-approve")
    assert via_link.code == 3
    assert via_link.err.splitlines() == [
        f"error: saved plan {link} is a symbolic link; ipass reads a saved plan only from the "
        "file itself",
        "hint: give the path of the plan file, not of a link to it",
    ]
    via_pipe = ipass(rig, capsys, "apply", str(pipe), "--auto-approve")
    assert via_pipe.code == 3
    assert via_pipe.err.splitlines() == [
        f"error: saved plan {pipe} is not a regular file (a folder, a device or a pipe); it "
        "was not read",
        "hint: give the path of a file written by `ipass plan --out FILE`",
    ]
    assert os.path.realpath(real) not in opened
    assert os.path.realpath(pipe) not in opened
    assert_nothing_applied(rig)


def nested(depth: int) -> str:
    return '{"format": "ipass-plan", "x": ' + "[" * depth + "]" * depth + "}"


def with_long_number(text: str) -> str:
    assert '"serial": 0\n' in text
    return text.replace('"serial": 0\n', '"serial": ' + "7" * 5000 + "\n")


def with_duplicate_option(text: str) -> str:
    assert '    "replace": [],\n' in text
    return text.replace('    "replace": [],\n', '    "replace": [],\n    "replace": ["cinema"],\n')


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda text: nested(MAX_DEPTH + 100), f"is nested 165 levels deep (at most 64){EDITED}"),
        (with_long_number, f"holds a number of 5000 digits (at most 20){EDITED}"),
        (with_duplicate_option, f'has the key "replace" twice in one object{EDITED}'),
        (
            lambda text: text.replace('"serial": 0\n', '"serial": NaN\n'),
            f"holds NaN, which is not a number in JSON{EDITED}",
        ),
        (
            lambda text: text.replace('"serial": 0\n', '"serial": 0.0\n'),
            f"holds the number 0.0; ipass writes whole numbers only{EDITED}",
        ),
    ],
)
def test_a_plan_that_is_not_strict_json_is_refused_before_its_digest(
    rig: Rehearsal,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[str], str],
    problem: str,
) -> None:
    path = make_plan(rig, capsys)
    path.write_text(damage(path.read_text(encoding="utf-8")), encoding="utf-8")
    run = ipass(rig, capsys, "apply", str(path), "--auto-approve")
    assert run.code == 3, run.err
    assert run.err.splitlines() == [f"error: saved plan {path} {problem}", REPLAN]
    assert_nothing_applied(rig)


# -- class 1: plan --out replaces only a plan ----------------------------------------------------


def test_out_never_writes_through_a_link_a_pipe_a_device_or_a_folder(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    target = rig.root / "precious.txt"
    target.write_text("keep me\n", encoding="utf-8")
    link = rig.root / "link.json"
    link.symlink_to(target)
    pipe = rig.root / "pipe.json"
    os.mkfifo(pipe)
    folder = rig.root / "plans"
    folder.mkdir()
    for path, line in (
        (
            link,
            f"error: {link}: is a symbolic link; ipass replaces this file and will not write "
            "over a link",
        ),
        (
            pipe,
            f"error: {pipe}: is not a regular file (a folder, a device or a pipe); ipass will "
            "not replace it",
        ),
        (
            Path(os.devnull),
            f"error: {os.devnull}: is not a regular file (a folder, a device or a pipe); ipass "
            "will not replace it",
        ),
    ):
        run = ipass(rig, capsys, "plan", "--out", str(path))
        assert run.code == 3, (path, run.err)
        assert run.out == ""
        assert run.err.splitlines()[0] == line
    assert link.is_symlink()
    assert target.read_text(encoding="utf-8") == "keep me\n"
    assert pipe.is_fifo()
    # A folder is refused by the option itself, before anything runs.
    into_folder = ipass(rig, capsys, "plan", "--out", str(folder))
    assert into_folder.code == 1
    assert into_folder.out == ""
    assert "--out" in into_folder.err
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in rig.root.iterdir() if p.suffix == ".json") == [
        "link.json",
        "pipe.json",
    ]


def test_out_replaces_only_an_empty_file_or_an_earlier_plan(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    config = rig.root / "ipass.toml"
    before = config.read_bytes()
    refused = ipass(rig, capsys, "plan", "--out", str(config))
    assert refused.code == 3
    assert refused.err.splitlines() == [
        f"error: {config}: exists and is not a saved plan; ipass will not replace it",
        "hint: choose another path for --out, or move the file away first",
    ]
    assert config.read_bytes() == before
    empty = rig.root / "empty.json"
    empty.touch()
    assert ipass(rig, capsys, "plan", "--out", str(empty)).code == 0
    assert load(empty)["format"] == "ipass-plan"
    earlier = make_plan(rig, capsys, "--target", "cinema")
    assert ipass(rig, capsys, "plan", "--out", str(earlier)).code == 0
    assert len(load(earlier)["steps"]) == EXAMPLE_KEYS


# -- class 7: duplicate keys (and other JSON ipass never writes) in state and journal ----------


def duplicate_status(text: str) -> str:
    old = '"status": "created",'
    assert old in text
    return text.replace(old, '"status": "created",\n      "status": "created",', 1)


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (duplicate_status, f'has the key "status" twice in one object{EDITED}'),
        (
            lambda text: text.replace('"serial": 1', '"serial": 1.0'),
            f"holds the number 1.0; ipass writes whole numbers only{EDITED}",
        ),
        (
            lambda text: text.replace('"serial": 1', '"serial": ' + "1" * 30),
            f"holds a number of 30 digits (at most 20){EDITED}",
        ),
        (
            lambda text: text.replace('"generation": 0', '"generation": Infinity', 1),
            f"holds Infinity, which is not a number in JSON{EDITED}",
        ),
    ],
)
def test_a_state_file_that_is_not_strict_json_is_refused_and_kept(
    rig: Rehearsal,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[str], str],
    problem: str,
) -> None:
    assert ipass(rig, capsys, "apply", "--auto-approve").code == 0
    damaged = damage(rig.state_file.read_text(encoding="utf-8"))
    rig.state_file.write_text(damaged, encoding="utf-8")
    for command in (("plan",), ("apply", "--auto-approve"), ("state", "list")):
        run = ipass(rig, capsys, *command)
        assert run.code == 3, (command, run.err)
        assert run.err.splitlines() == [f"error: state file {rig.state_file} {problem}", STATE_HINT]
    assert rig.state_file.read_text(encoding="utf-8") == damaged
    assert len(rig.templates()) == EXAMPLE_KEYS


def test_a_duplicate_key_in_a_journal_line_is_refused(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ipass(rig, capsys, "apply", "--auto-approve").code == 0
    state = rig.state()
    event = Retired(lineage=state["lineage"], base_serial=state["serial"], key="cinema")
    line = EventLine(event=event).model_dump_json()
    assert '"key":"cinema"' in line
    journal = rig.state_file.with_name("rehearsal.journal.jsonl")
    journal.write_text(line.replace('"key":"cinema"', '"key":"cinema","key":"gift-card"') + "\n")
    run = ipass(rig, capsys, "plan")
    assert run.code == 3
    assert run.err.splitlines() == [
        f'error: journal {journal} line 1 has the key "key" twice in one object{EDITED}',
        "hint: inspect it by hand; the state snapshot itself is unchanged",
    ]


# -- the strict reader itself ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": 1, "a": 1}', 'has the key "a" twice in one object'),
        (
            '[{"b": {"\\u001b[2J": 1, "\\u001b[2J": 2}}]',
            'has the key "\\u001b[2J" twice in one object',
        ),
        ('{"é": 1, "\\u00e9": 2}', 'has the key "é" twice in one object'),
        ("[NaN]", "holds NaN, which is not a number in JSON"),
        ("[-Infinity]", "holds -Infinity, which is not a number in JSON"),
        ("[1e400]", "holds the number 1e400; ipass writes whole numbers only"),
        ("[-" + "9" * 21 + "]", "holds a number of 21 digits (at most 20)"),
        ('["\\ud800"]', "holds the escape \\ud800, half of a surrogate pair and no character"),
        (
            '["\\udc00\\ud800"]',
            "holds the escape \\udc00, half of a surrogate pair and no character",
        ),
        ("[" * 65 + "]" * 65, "is nested 65 levels deep (at most 64)"),
    ],
)
def test_strict_loads_refuses_what_ipass_never_writes(text: str, problem: str) -> None:
    for read in (strict_loads, check_strict):
        with pytest.raises(StrictJsonError) as caught:
            read(text)
        assert caught.value.problem == problem + EDITED
        assert not isinstance(caught.value, JsonSyntaxError)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"a": 1,}', "line 1: Expecting property name enclosed in double quotes"),
        ("[1] [2]", "line 1: Extra data"),
        ('{\n"a": tru}', "line 2: Expecting value"),
    ],
)
def test_strict_loads_says_where_a_text_is_not_json(text: str, problem: str) -> None:
    for read in (strict_loads, check_strict):
        with pytest.raises(JsonSyntaxError) as caught:
            read(text)
        assert caught.value.problem == f"is not valid JSON ({problem})"


def test_strict_loads_reads_what_ipass_writes() -> None:
    text = '{"a": [1, -20, 12345678901234567890, "\\ud83d\\ude00", "\\\\ud800", {"b": null}]}'
    assert strict_loads(text) == {
        "a": [1, -20, 12345678901234567890, "\U0001f600", "\\ud800", {"b": None}]
    }
    check_strict(text)
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert strict_loads(deep) is not None


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ("1", 0),
        ('{"a": "[[[[", "b": [["]]]]]"]]}', 3),
        ('["\\"[[[", [["\\\\"], "x"]]', 3),
        ('[["a\\\\\\"[[["], "\\\\"]', 2),
        ('{"名前": ["「[」", {"x": "]]"}]}', 3),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth
    assert strict_loads(text) == json.loads(text)


def test_parse_state_checks_the_text_pydantic_would_settle_by_its_last_key() -> None:
    """parse_state validates with pydantic's own parser after the strict check; on its own,
    that parser lets the last of two keys win."""
    text = (
        '{"environment": "sandbox", "environment": "production", "format_version": 2, '
        '"lineage": "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0", "serial": 0}'
    )
    assert State.model_validate_json(text).environment == "production"  # why the check exists
    with pytest.raises(ConflictError) as caught:
        parse_state(text, where="state/production.json", environment="production")
    assert caught.value.message == (
        'state file state/production.json has the key "environment" twice in one object' + EDITED
    )


# -- the comparison itself -----------------------------------------------------------------------


def small_plan(count: int, *, stock: int = 5) -> PlanDocument:
    """A plan document of `count` creates, as apply would compute it."""
    desired = {}
    for number in range(count):
        key = f"key-{number:02d}"
        payload: dict[str, Any] = {"merchantId": "2160120000000001", "stock": stock + number}
        digest = sha256_hex(canonical_json(payload))
        desired[key] = Desired(key, f"catalog/templates/{key}.yaml:1", payload, digest)
    plan = compute_plan(
        desired,
        new_state("sandbox"),
        snapshot_lineage=None,
        destination=Destination("embedded sandbox", "2160120000000001"),
    )
    return plan_document(plan)


def test_the_same_plan_has_no_differences() -> None:
    assert plan_differences(small_plan(3), small_plan(3)) == []


def test_differences_name_keys_and_fields_ten_at_most() -> None:
    saved, fresh = small_plan(12), small_plan(12, stock=6)
    found = plan_differences(saved, fresh)
    assert found == [
        *(f"step 'key-{n:02d}': card, request_id, payload_hash, send" for n in range(10)),
        "2 more differences",
    ]


def test_true_is_not_1_in_a_send_body() -> None:
    """Python says `True == 1`; the comparison is of canonical JSON, where they differ."""
    fresh = small_plan(1)
    (step,) = fresh.steps
    assert step.send is not None
    send = step.send

    def with_stock(value: JsonValue) -> PlanDocument:
        changed = step.model_copy(update={"send": {**send, "stock": value}})
        return fresh.model_copy(update={"steps": (changed,)})

    assert with_stock(True) == with_stock(1)  # as Python compares them
    assert plan_differences(with_stock(True), with_stock(1)) == ["step 'key-00': send"]


def test_options_and_derived_fields_are_named() -> None:
    fresh = small_plan(2)
    other = fresh.model_copy(
        update={"options": fresh.options.model_copy(update={"replace": ("x",)})}
    )
    assert plan_differences(other, fresh) == ["its options"]
    warned = fresh.model_copy(update={"warnings": ("looks like a rename",)})
    assert plan_differences(warned, fresh) == ["its warnings"]
