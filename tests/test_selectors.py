"""Selectors: keys, globs with literal brackets, folders and files, tags, products, types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import copy_example, run_cli

from reconciler.domain.selectors import Candidate, parse_selector, select
from reconciler.errors import InvalidInput

ENTRIES = [
    Candidate("coffee-voucher", "catalog/templates/coffee-voucher.yaml:1", "GIFT_CARD", "COUPON",
              ("food", "launch")),
    Candidate("gift-card[100]", "catalog/templates/gift-card.yaml:1", "GIFT_CARD", "COUPON"),
    Candidate("gift-card[200]", "catalog/templates/gift-card.yaml:1", "GIFT_CARD", "COUPON"),
    Candidate("cinema", "catalog/templates/tickets/cinema.yaml:1", "MOVIE", "TICKET", ("launch",)),
    Candidate("ferry-2027", "catalog/templates/tickets/ferry.yaml:1", "SHIP_TICKET", "TICKET"),
    Candidate("gone", None, "PASS", "TICKET"),  # recorded only, no longer in the catalog
]  # fmt: skip


def keys(*selects: str, exclude: tuple[str, ...] = ()) -> list[str]:
    return sorted(select(ENTRIES, selects, exclude).keys)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("cinema", ["cinema"]),
        ("gift-card[100]", ["gift-card[100]"]),
        ("gift-card[*]", ["gift-card[100]", "gift-card[200]"]),
        ("gift-card[?00]", ["gift-card[100]", "gift-card[200]"]),
        ("*-2027", ["ferry-2027"]),
        ("templates/tickets/", ["cinema", "ferry-2027"]),
        ("catalog/templates/tickets", ["cinema", "ferry-2027"]),
        ("templates/gift-card.yaml", ["gift-card[100]", "gift-card[200]"]),
        ("tag:launch", ["cinema", "coffee-voucher"]),
        ("product:movie", ["cinema"]),
        ("type:TICKET", ["cinema", "ferry-2027", "gone"]),
    ],
)
def test_each_kind_of_selector(selector: str, expected: list[str]) -> None:
    assert keys(selector) == expected


def test_selectors_combine_as_a_union_then_excludes_are_taken_away() -> None:
    assert keys("tag:launch", "gift-card[*]", exclude=("gift-card[200]",)) == [
        "cinema",
        "coffee-voucher",
        "gift-card[100]",
    ]
    assert keys(exclude=("type:TICKET",)) == ["coffee-voucher", "gift-card[100]", "gift-card[200]"]


def test_the_selection_counts_what_it_left_out() -> None:
    assert select(ENTRIES, ["cinema"], []).outside == len(ENTRIES) - 1


@pytest.mark.parametrize(
    ("selector", "hint"),
    [
        ("cinemaa", "did you mean 'cinema'?"),
        ("gift-cards[*]", "did you mean 'gift-card[200]'?"),
        ("tag:lunch", "did you mean 'tag:launch'?"),
        ("templates/ticket/", "did you mean 'templates/tickets/ferry.yaml'?"),
        (
            "gift-card",
            "'gift-card' is a for_each file's base name: 'gift-card[*]' selects all 2 of its "
            "entries (or the file, 'templates/gift-card.yaml'), 'gift-card[100]' one of them",
        ),
    ],
)
def test_a_selector_that_matches_nothing_is_an_error_with_a_guess(selector: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        select(ENTRIES, [selector], [])
    assert caught.value.message == f"--select {selector!r} matches no entry"
    assert caught.value.hint == hint


def test_an_exclude_that_matches_nothing_is_an_error_too() -> None:
    with pytest.raises(InvalidInput, match="--exclude 'tag:nope' matches no entry"):
        select(ENTRIES, [], ["tag:nope"])


@pytest.mark.parametrize("text", ["", "  ", "tag:", "product:"])
def test_empty_selectors_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_selector(text)


def test_brackets_are_literal_not_character_classes() -> None:
    # fnmatch would read `[1]` as "the character 1"; keys of for_each items hold brackets.
    assert keys("gift-card[1*") == ["gift-card[100]"]
    with pytest.raises(InvalidInput):
        select(ENTRIES, ["gift-card1*"], [])


def test_validate_and_render_take_selectors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_example(tmp_path)
    run = run_cli(capsys, "-C", str(root), "validate", "--select", "tag:transport")
    assert (run.code, run.out) == (
        0,
        "ok: 4 selected entries from 8 files are valid for environment sandbox\n",
    )
    run = run_cli(capsys, "-C", str(root), "render", "--select", "gift-card[*]")
    assert sorted(json.loads(run.out)) == ["gift-card[100]", "gift-card[200]", "gift-card[500]"]
    run = run_cli(
        capsys, "-C", str(root), "render", "--select", "type:COUPON", "--exclude", "gift-card[*]"
    )
    assert sorted(json.loads(run.out)) == ["coffee-voucher"]
    # A broken file: a path selector still reports its problems; others leave it out.
    cinema = root / "catalog/templates/tickets/cinema.yaml"
    cinema.write_text(cinema.read_text().replace("product: MOVIE", "product: MOVIES"))
    run = run_cli(capsys, "-C", str(root), "validate", "--select", "templates/tickets/cinema.yaml")
    assert run.code == 1
    assert run.out.splitlines()[0].startswith("catalog/templates/tickets/cinema.yaml:5:1: product:")
    run = run_cli(capsys, "-C", str(root), "validate", "--select", "templates/coupons/")
    assert run.code == 0
    run = run_cli(capsys, "-C", str(root), "validate", "--select", "tag:nope")
    assert run.code == 1
    assert run.err.startswith("error: --select 'tag:nope' matches no entry")


def test_preview_of_a_for_each_base_name_points_at_all_its_entries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_example(tmp_path)
    run = run_cli(capsys, "-C", str(root), "preview", "--select", "gift-card")
    assert run.code != 0
    assert "error: --select 'gift-card' matches no entry" in run.err
    assert "'gift-card[*]' selects all 3 of its entries" in run.err
    assert "did you mean" not in run.err
