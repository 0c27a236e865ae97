"""A non-default environment travels: into every printed command, and inside a saved plan.

The rehearsal project is rewired so its live sandbox server is `staging` and the default
environment is the embedded `sandbox`: a hint without `--env staging` would act on the wrong
environment, and a saved plan applied without `--env` must still reach staging.
"""

from __future__ import annotations

import itertools
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Run, run_cli
from reconcile_support import Rehearsal, rehearsal

from reconciler.adapters.sandbox.faults import FaultKind, FaultRule

EXAMPLE_KEYS = 10
FIRST_KEY = "bus-shenzhen-bay"  # apply creates in key order: the first request sent
# A command as printed: in backticks (hints, the plan's reasons) or to the end of the line.
COMMAND = re.compile(r"`(ipass [^`]*)`|(?<![`\w])(ipass [^`\n]*)")


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[Rehearsal]:
    """The rehearsal project, its live environment renamed `staging`; the default is sandbox."""
    with rehearsal(tmp_path) as r:
        config = r.root / "ipass.toml"
        text = config.read_text(encoding="utf-8")
        renamed = text.replace(
            'default_environment = "rehearsal"', 'default_environment = "sandbox"'
        ).replace("[environments.rehearsal]", "[environments.staging]")
        assert renamed.count("staging") == 1
        assert "rehearsal" not in renamed
        config.write_text(renamed, encoding="utf-8")
        yield r


def state_file(r: Rehearsal) -> Path:
    return r.root / "state" / "staging.json"


def state(r: Rehearsal) -> dict[str, Any]:
    data = json.loads(state_file(r).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def ipass(r: Rehearsal, capsys: pytest.CaptureFixture[str], *args: str) -> Run:
    return run_cli(capsys, "-C", str(r.root), *args)


def printed_commands(text: str) -> list[str]:
    """Every `ipass ...` command a person is told to run, as printed."""
    return [quoted or bare for quoted, bare in COMMAND.findall(text)]


def assert_all_name_staging(commands: list[str]) -> None:
    assert commands, "expected printed commands"
    for command in commands:
        words = shlex.split(command.rstrip(".;,"))
        pairs = list(itertools.pairwise(words))
        assert ("--env", "staging") in pairs, command


def assert_embedded_sandbox_untouched(r: Rehearsal) -> None:
    """Nothing was sent to, or recorded for, the default (embedded) environment."""
    assert not (r.root / ".ipass/sandbox").exists()


def test_unknown_outcome_hints_name_the_environment_and_resolve_it(
    staging: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    staging.server.set_faults([FaultRule(kind=FaultKind.DROP_AFTER_COMMIT, count=1)])
    lost = ipass(staging, capsys, "apply", "--env", "staging", "--auto-approve")
    assert lost.code == 5, lost.err
    assert lost.out.splitlines()[-2:] == [
        f"applying {EXAMPLE_KEYS} changes to staging",
        f"[ 1/{EXAMPLE_KEYS}] {FIRST_KEY}: unknown",
    ]
    request_id = state(staging)["entries"][FIRST_KEY]["current"]["request_id"]
    error, hint = lost.err.splitlines()
    assert error.startswith(
        f"error: catalog/templates/tickets/{FIRST_KEY}.yaml:2: {FIRST_KEY}: "
        "connection lost after the request was sent"
    ), error
    assert hint == (
        f"hint: `ipass apply --retry-unknown --target {FIRST_KEY} --env staging` re-sends "
        f"requestId {request_id}; or check at AlipayHK and `ipass state resolve {FIRST_KEY} "
        "--env staging --template-code CODE` (or `--not-created`)"
    )
    assert printed_commands(lost.err) == [
        f"ipass apply --retry-unknown --target {FIRST_KEY} --env staging",
        f"ipass state resolve {FIRST_KEY} --env staging --template-code CODE",
    ]
    assert len(staging.templates()) == 1  # created at the sandbox, its answer lost

    plan = ipass(staging, capsys, "plan", "--env", "staging")
    assert plan.code == 5, plan.err
    assert plan.out.splitlines()[0] == (
        f"Plan for staging: 1 with an unknown outcome, {EXAMPLE_KEYS - 1} to create."
    )
    in_plan = printed_commands(plan.out)
    assert in_plan == [  # two in the reason, then three ways to resolve
        f"ipass state resolve {FIRST_KEY} --env staging --template-code CODE",
        f"ipass apply --retry-unknown --target {FIRST_KEY} --env staging",
        f"ipass state resolve {FIRST_KEY} --env staging --template-code CODE",
        f"ipass state resolve {FIRST_KEY} --env staging --not-created",
        f"ipass apply --env staging --retry-unknown --target {FIRST_KEY}",
    ]
    assert_all_name_staging(in_plan)

    refused = ipass(staging, capsys, "apply", "--env", "staging", "--auto-approve")
    assert refused.code == 5
    assert refused.err.splitlines()[0] == (
        f"error: earlier creates have an unknown outcome ({FIRST_KEY}); nothing was applied"
    )
    assert_all_name_staging(printed_commands(refused.err))
    assert_all_name_staging(printed_commands(lost.err))
    assert len(staging.templates()) == 1

    # Run the printed command as printed (it cannot ask here: --auto-approve).
    retry = shlex.split(printed_commands(lost.err)[0])[1:]
    retried = ipass(staging, capsys, *retry, "--auto-approve")
    assert retried.code == 0, retried.err
    code = state(staging)["entries"][FIRST_KEY]["current"]["template_code"]
    assert retried.out.splitlines()[-2:] == [
        f"[1/1] {FIRST_KEY}: created {code}",
        f"done: 1 created, 0 retired; state recorded in {state_file(staging)}",
    ]
    assert staging.templates() == [request_id]  # the same request, deduplicated

    rest = ipass(staging, capsys, "apply", "--env", "staging", "--auto-approve")
    assert rest.code == 0, rest.err
    final = ipass(staging, capsys, "plan", "--env", "staging", "--detailed-exitcode")
    assert final.code == 0, final.out + final.err
    assert final.out.splitlines()[0] == f"Plan for staging: {EXAMPLE_KEYS} unchanged."
    assert sorted(staging.templates()) == sorted(set(staging.templates()))
    assert len(staging.templates()) == EXAMPLE_KEYS
    assert_embedded_sandbox_untouched(staging)


def test_blocked_entry_hints_name_the_environment(
    staging: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ipass(staging, capsys, "apply", "--env", "staging", "--auto-approve").code == 0
    cinema = staging.root / "catalog/templates/tickets/cinema.yaml"
    text = cinema.read_text(encoding="utf-8")
    assert "name: Christmas Movie Ticket" in text
    cinema.write_text(text.replace("Christmas Movie", "Xmas Movie"), encoding="utf-8")
    plan = ipass(staging, capsys, "plan", "--env", "staging")
    assert plan.code == 1
    assert printed_commands(plan.out) == [
        "ipass apply --env staging --replace cinema --reason TEXT"
    ]
    refused = ipass(staging, capsys, "apply", "--env", "staging", "--auto-approve")
    assert refused.code == 1
    assert refused.err.splitlines() == [
        "error: the plan has 1 blocked entry (cinema): nothing was applied",
        "hint: `ipass plan --env staging` says why for each and how to unblock it (a key "
        "removed from the catalog is retired in catalog/retired.yaml); an edit of a published "
        "entry is published by raising `revision:` in its file (reviewed in the pull request); "
        "in an emergency "
        '`ipass apply --replace KEY --reason "..." --env staging`; or leave them out with '
        "--exclude",
    ]
    assert_all_name_staging(printed_commands(refused.err))
    assert len(staging.templates()) == EXAMPLE_KEYS


def test_saved_plan_applies_to_its_own_environment(
    staging: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = staging.root / "plan.json"
    made = ipass(staging, capsys, "plan", "--env", "staging", "--out", str(saved))
    assert made.code == 0, made.err
    assert made.out.splitlines()[0] == f"Plan for staging: {EXAMPLE_KEYS} to create."
    # The saved plan records its environment, so the command to apply it needs no --env.
    assert made.err == f"saved to {saved}; apply it with `ipass apply {saved}`\n"

    # An --env that disagrees is refused before anything happens, naming both environments.
    wrong = ipass(staging, capsys, "apply", str(saved), "--env", "sandbox", "--auto-approve")
    assert wrong.code == 1
    assert wrong.out == ""
    assert wrong.err.splitlines() == [
        f"error: saved plan {saved} was made for environment 'staging', not 'sandbox'",
        "hint: drop --env (the plan applies to 'staging'), or make a plan for 'sandbox' "
        "with `ipass plan --env sandbox --out FILE`",
    ]
    assert staging.templates() == []
    assert staging.server.store.requests() == []
    assert not state_file(staging).exists()
    assert_embedded_sandbox_untouched(staging)

    # Without --env the plan's own environment is used, not the default one.
    applied = ipass(staging, capsys, "apply", str(saved), "--auto-approve")
    assert applied.code == 0, applied.err
    assert f"applying {EXAMPLE_KEYS} changes to staging" in applied.out.splitlines()
    assert applied.out.splitlines()[-1] == (
        f"done: {EXAMPLE_KEYS} created, 0 retired; state recorded in {state_file(staging)}"
    )
    assert len(staging.templates()) == EXAMPLE_KEYS
    assert_embedded_sandbox_untouched(staging)
    final = ipass(staging, capsys, "plan", "--env", "staging", "--detailed-exitcode")
    assert final.code == 0, final.out + final.err

    # Applied once, the plan is stale; the hint makes a new one for staging.
    stale = ipass(staging, capsys, "apply", str(saved), "--auto-approve")
    assert stale.code == 3
    assert stale.err.splitlines() == [
        f"error: saved plan {saved} is stale: state lineage was none (no state yet), "
        f"now {state(staging)['lineage']}; state serial was 0, now 1",
        "hint: run `ipass plan --env staging --out FILE` again, review it, and apply the new file",
    ]
    assert_all_name_staging(printed_commands(stale.err))
    assert len(staging.templates()) == EXAMPLE_KEYS


def test_saved_plan_with_an_agreeing_env_applies(
    staging: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = staging.root / "plan.json"
    assert ipass(staging, capsys, "plan", "--env", "staging", "--out", str(saved)).code == 0
    applied = ipass(staging, capsys, "apply", str(saved), "--env", "staging", "--auto-approve")
    assert applied.code == 0, applied.err
    assert len(staging.templates()) == EXAMPLE_KEYS
    assert_embedded_sandbox_untouched(staging)
