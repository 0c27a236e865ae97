"""Every change a pull request needs, written in the catalog and applied by a bare `ipass apply`.

End to end against a real sandbox server: each scenario ends with the sandbox holding exactly
the templates the state records as live (current and earlier ones), so no rename, delete or
edit created a second template without a line in the diff asking for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import run_cli
from reconcile_support import Rehearsal, rehearsal

from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.keys import (
    KeySource,
    load_private_key,
    load_public_key,
    make_signer,
)

EXAMPLE_KEYS = 10
CINEMA = "catalog/templates/tickets/cinema.yaml"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rehearsal]:
    with rehearsal(tmp_path) as r:
        yield r


def ipass(capsys: pytest.CaptureFixture[str], r: Rehearsal, *args: str) -> tuple[int, str, str]:
    run = run_cli(capsys, "-C", str(r.root), *args)
    return run.code, run.out, run.err


def apply_all(capsys: pytest.CaptureFixture[str], r: Rehearsal) -> str:
    code, out, err = ipass(capsys, r, "apply", "--auto-approve")
    assert code == 0, err
    return out


def edit(r: Rehearsal, name: str, old: str, new: str) -> None:
    path = r.root / name
    text = path.read_text(encoding="utf-8")
    assert old in text, (name, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def links_without_keys(r: Rehearsal) -> None:
    """The example's default links name the entry's key; a catalog whose content does not
    depend on the key can be renamed without any change to what was published."""
    defaults = r.root / "catalog/defaults.yaml"
    text = defaults.read_text(encoding="utf-8")
    assert "('key=' ~ key) | urlencode" in text
    defaults.write_text(text.replace("('key=' ~ key) | urlencode", "'from=wallet'"), "utf-8")


def live_codes(r: Rehearsal) -> set[str]:
    """Every template the state says exists at AlipayHK: current and earlier records."""
    codes = set()
    for entry in r.state()["entries"].values():
        for record in [entry.get("current"), *entry.get("history", [])]:
            if (
                record
                and record.get("template_code")
                and record.get("history_reason")
                not in (
                    "resolved-not-created",
                    "rejected",
                )
            ):
                codes.add(record["template_code"])
    return codes


def assert_sandbox_matches_state(r: Rehearsal) -> None:
    held = {t.template_code for t in r.server.store.templates()}
    assert held == live_codes(r)


def test_raising_the_revision_publishes_one_new_template(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_all(capsys, rig)
    old = rig.state()["entries"]["cinema"]["current"]["template_code"]
    edit(rig, CINEMA, "currentAmountCent: 9500", "currentAmountCent: 8800")
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 1  # an edit of a published entry is blocked until the catalog asks for it
    assert "raise `revision:` to 2 in the entry's file" in out
    edit(rig, CINEMA, "type: TICKET", "revision: 2\ntype: TICKET")
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 0
    assert out.splitlines()[0] == "Plan for rehearsal: 1 to replace, 9 unchanged."
    assert "currentAmountCent: 9500 (HK$95.00) -> 8800 (HK$88.00)" in out
    assert "0 created" not in apply_all(capsys, rig)
    entry = rig.state()["entries"]["cinema"]
    assert entry["current"]["revision"] == 2
    assert entry["current"]["template_code"] != old
    assert entry["history"][-1]["template_code"] == old
    assert len(rig.templates()) == EXAMPLE_KEYS + 1
    assert_sandbox_matches_state(rig)
    # Lowering it again is refused.
    edit(rig, CINEMA, "revision: 2", "revision: 1")
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 1
    assert "a revision is never lowered" in out


def test_a_rename_with_moved_from_calls_nothing(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    links_without_keys(rig)
    apply_all(capsys, rig)
    code_before = rig.state()["entries"]["cinema"]["current"]["template_code"]
    requests = len(rig.server.store.requests())
    old = rig.root / CINEMA
    new = old.with_name("cinema-xmas.yaml")
    new.write_text(
        old.read_text(encoding="utf-8").replace("type: TICKET", "moved_from: cinema\ntype: TICKET"),
        encoding="utf-8",
    )
    old.unlink()
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 0
    assert out.splitlines()[0] == "Plan for rehearsal: 1 to move, 9 unchanged."
    assert "renamed from cinema" in out
    assert "moved from cinema" in apply_all(capsys, rig)
    assert len(rig.server.store.requests()) == requests  # no API call
    state = rig.state()["entries"]
    assert "cinema" not in state
    assert state["cinema-xmas"]["current"]["template_code"] == code_before
    code, out, _err = ipass(capsys, rig, "state", "history", "cinema-xmas")
    assert "moved" in out.splitlines()[0]
    assert "renamed from cinema" in out.splitlines()[0]
    # The moved_from line may stay: it is then nothing to do.
    assert ipass(capsys, rig, "plan", "--detailed-exitcode")[0] == 0
    assert_sandbox_matches_state(rig)


def test_a_rename_without_moved_from_warns_and_blocks(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    links_without_keys(rig)
    apply_all(capsys, rig)
    old = rig.root / CINEMA
    old.rename(old.with_name("cinema-xmas.yaml"))
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 1  # the old key vanished without being declared retired
    assert "looks like a rename; add `moved_from: cinema`" in out
    refused, _, _err = ipass(capsys, rig, "apply", "--auto-approve")
    assert refused == 1
    assert len(rig.templates()) == EXAMPLE_KEYS  # no second live template
    assert_sandbox_matches_state(rig)


def test_a_rename_that_changes_content_needs_a_raised_revision(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    # The example's links name the key, so renaming it changes what would be published.
    apply_all(capsys, rig)
    old_code = rig.state()["entries"]["cinema"]["current"]["template_code"]
    old = rig.root / CINEMA
    new = old.with_name("cinema-xmas.yaml")
    text = old.read_text(encoding="utf-8").replace(
        "type: TICKET", "moved_from: cinema\ntype: TICKET"
    )
    new.write_text(text, encoding="utf-8")
    old.unlink()
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 1
    assert "renamed from cinema and edited" in out
    assert "raise `revision:` to 2" in out
    edit(
        rig, "catalog/templates/tickets/cinema-xmas.yaml", "moved_from:", "revision: 2\nmoved_from:"
    )
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 0
    assert out.splitlines()[0] == "Plan for rehearsal: 1 to move, 9 unchanged."
    applied = apply_all(capsys, rig)
    assert "moved from cinema" in applied
    entry = rig.state()["entries"]["cinema-xmas"]
    assert entry["history"][-1]["template_code"] == old_code  # still live, in history
    assert entry["current"]["template_code"] != old_code
    assert len(rig.templates()) == EXAMPLE_KEYS + 1
    assert_sandbox_matches_state(rig)


def test_adopting_a_template_made_by_hand_sends_nothing_even_past_its_start(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    # Someone made the cinema template by hand at AlipayHK, with its start date already past.
    edit(rig, CINEMA, "startDate: 2027-12-01", "startDate: 2020-01-01")
    code, out, _ = ipass(capsys, rig, "render", "cinema")
    assert code == 1  # before adoption a past start date is an error, as AlipayHK would say
    made = make_by_hand(rig, capsys)
    edit(rig, CINEMA, "type: TICKET", f'adopt: "{made}"\ntype: TICKET')
    code, out, err = ipass(capsys, rig, "plan", "--select", "cinema")
    assert code == 0, err
    assert "to adopt" in out.splitlines()[0]
    requests = len(rig.server.store.requests())
    code, out, err = ipass(capsys, rig, "apply", "--auto-approve", "--select", "cinema")
    assert code == 0, err
    assert f"adopted {made}" in out
    assert len(rig.server.store.requests()) == requests
    record = rig.state()["entries"]["cinema"]["current"]
    assert (record["template_code"], record["adopted"]) == (made, True)
    assert ipass(capsys, rig, "plan", "--select", "cinema", "--detailed-exitcode")[0] == 0
    edit(rig, CINEMA, f'adopt: "{made}"', 'adopt: "20991231000000000000000000000001"')
    code, out, _ = ipass(capsys, rig, "plan", "--select", "cinema")
    assert code == 1
    assert "disagrees with the recorded template" in out
    assert_sandbox_matches_state(rig)


def make_by_hand(r: Rehearsal, capsys: pytest.CaptureFixture[str]) -> str:
    """Create the cinema template directly at the sandbox, as a person in a console would."""
    edit(r, CINEMA, "startDate: 2020-01-01", "startDate: 2027-12-01")
    body = json.loads(run_cli(capsys, "-C", str(r.root), "render", "cinema").out)["cinema"]
    edit(r, CINEMA, "startDate: 2027-12-01", "startDate: 2020-01-01")
    signer = make_signer(load_private_key(KeySource.file(r.root / "keys/merchant.pem")).key)
    config = ClientConfig(
        base_url=r.server.url,
        client_id="REHEARSAL-CLIENT",
        key_version=1,
        signer=signer,
        platform_public_key=load_public_key(KeySource.file(r.root / "keys/platform.pem")).key,
    )
    body["requestId"] = "made-by-hand-0001"
    with AlipayClient(config) as client:
        made = client.create_template(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
            request_id="made-by-hand-0001",
        )
    return made.template_code


def test_a_deleted_file_blocks_until_declared_retired_and_the_key_is_never_reused(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_all(capsys, rig)
    original = (rig.root / CINEMA).read_text(encoding="utf-8")
    (rig.root / CINEMA).unlink()
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 1
    assert "list cinema in catalog/retired.yaml" in out
    (rig.root / "catalog/retired.yaml").write_text("cinema: the film left cinemas\n")
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 0
    assert "stays live at AlipayHK until its end date" in out
    assert "1 retired" in apply_all(capsys, rig)
    assert rig.state()["entries"]["cinema"]["current"]["status"] == "retired"
    # Bringing the key back is blocked: a retired key never names a new template.
    (rig.root / "catalog/retired.yaml").unlink()
    (rig.root / CINEMA).write_text(original, encoding="utf-8")
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 1
    assert "a retired key is never used for a new template" in out
    assert len(rig.templates()) == EXAMPLE_KEYS
    assert_sandbox_matches_state(rig)


def test_retired_true_in_the_file_retires_it(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_all(capsys, rig)
    edit(rig, CINEMA, "type: TICKET", "retired: true\ntype: TICKET")
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 0
    assert out.splitlines()[0] == "Plan for rehearsal: 1 to retire, 9 unchanged."
    assert "1 retired" in apply_all(capsys, rig)
    assert_sandbox_matches_state(rig)


@pytest.mark.parametrize(
    ("selectors", "expected"),
    [
        (("cinema",), {"cinema"}),
        (("gift-card[*]",), {"gift-card[100]", "gift-card[200]", "gift-card[500]"}),
        (("templates/coupons/",), {"coffee-voucher", "gift-card[100]", "gift-card[200]",
                                   "gift-card[500]"}),
        (("tag:cross-border",), {"bus-shenzhen-bay", "ferry-macau", "rail-guangzhou"}),
        (("product:MOVIE", "type:COUPON"), {"cinema", "coffee-voucher", "gift-card[100]",
                                             "gift-card[200]", "gift-card[500]"}),
    ],
)  # fmt: skip
def test_selectors_of_every_kind_apply_only_what_they_select(
    rig: Rehearsal,
    capsys: pytest.CaptureFixture[str],
    selectors: tuple[str, ...],
    expected: set[str],
) -> None:
    args = [part for selector in selectors for part in ("--select", selector)]
    code, _out, err = ipass(capsys, rig, "apply", "--auto-approve", *args)
    assert code == 0, err
    assert set(rig.state()["entries"]) == expected
    plan = ipass(capsys, rig, "plan", *args, "--exclude", "tag:nothing-has-this")
    assert plan[0] == 1
    assert "--exclude 'tag:nothing-has-this' matches no entry" in plan[2]
    assert_sandbox_matches_state(rig)


def test_a_selector_that_matches_nothing_is_an_error_with_a_guess(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = ipass(capsys, rig, "plan", "--select", "cinemaa")
    assert code == 1
    assert err.splitlines() == [
        "error: --select 'cinemaa' matches no entry",
        "hint: did you mean 'cinema'?",
    ]
    code, out, _ = ipass(capsys, rig, "plan", "--select", "tag:transport")
    assert code == 0
    assert "(6 entries outside the selection)" in out


def test_a_vanished_key_says_how_to_retire_it_not_to_replace_it(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_all(capsys, rig)
    (rig.root / CINEMA).unlink()
    code, out, _ = ipass(capsys, rig, "plan")
    assert code == 1
    assert "  Way out:       retire it: add `cinema: <reason>` to catalog/retired.yaml, or" in out
    assert "--replace cinema" not in out


def test_validate_refuses_a_key_both_retired_and_present(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    (rig.root / "catalog/retired.yaml").write_text("cinema: the film left cinemas\n")
    code, out, _ = ipass(capsys, rig, "validate")
    assert code == 1
    assert out.splitlines()[0] == (
        "catalog/retired.yaml:1:1: cinema: declared retired, but "
        "catalog/templates/tickets/cinema.yaml still defines it; a retired key is never used "
        "again: remove one of the two"
    )


def test_the_reason_of_a_retirement_is_in_the_history(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_all(capsys, rig)
    (rig.root / CINEMA).unlink()
    (rig.root / "catalog/retired.yaml").write_text("cinema: the film left cinemas\n")
    assert "1 retired" in apply_all(capsys, rig)
    code, out, _ = ipass(capsys, rig, "state", "history", "cinema")
    assert code == 0
    assert "(the film left cinemas)" in out.splitlines()[0]


def test_creating_a_forgotten_key_again_warns_that_its_template_is_live(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_all(capsys, rig)
    code = rig.state()["entries"]["cinema"]["current"]["template_code"]
    forgot = ipass(capsys, rig, "state", "forget", "cinema", "--reason", "test")
    assert forgot[0] == 0
    _, out, _ = ipass(capsys, rig, "plan")
    assert (
        f"Warning: 'cinema' was forgotten while its template {code} is still live at AlipayHK"
        in out
    )
    assert f"`ipass state import cinema --template-code {code}` instead" in out


def test_an_adopted_code_already_recorded_for_another_key_is_refused(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_all(capsys, rig)
    code = rig.state()["entries"]["cinema"]["current"]["template_code"]
    twin = (rig.root / CINEMA).read_text(encoding="utf-8")
    (rig.root / "catalog/templates/tickets/twin.yaml").write_text(
        twin.replace("type: TICKET", f'adopt: "{code}"\ntype: TICKET'), encoding="utf-8"
    )
    result, _, err = ipass(capsys, rig, "plan")
    assert result == 1
    assert f"adopt: {code} is already recorded for 'cinema'" in err


def test_a_move_that_also_publishes_counts_both_and_the_summary_names_moves(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str]
) -> None:
    apply_all(capsys, rig)
    old = rig.root / CINEMA
    text = old.read_text(encoding="utf-8").replace(
        "type: TICKET", "revision: 2\nmoved_from: cinema\ntype: TICKET"
    )
    old.with_name("cinema-xmas.yaml").write_text(text, encoding="utf-8")
    old.unlink()
    out = apply_all(capsys, rig)
    assert "[1/2] cinema-xmas: moved from cinema" in out
    assert "[2/2] cinema-xmas: created" in out
    assert "done: 1 created, 0 retired, 1 moved;" in out
