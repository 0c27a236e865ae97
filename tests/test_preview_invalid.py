"""`ipass preview` of an invalid catalog: the pages are written, each invalid entry is listed first
with its cards and every problem of the catalog check marked on its field (with file:line),
files that cannot be read are listed on the index, and the command exits 1 for CI."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import build_tree, copy_example, run_cli
from preview_support import Element, field_of, parse
from reconcile_support import rehearsal

from reconciler.domain.config import load_project
from reconciler.domain.contract.dates import to_epoch_millis
from reconciler.usecases.catalog import load_catalog

Capsys = pytest.CaptureFixture[str]

SCRIPT_NAME = "<script>alert(1)</script> Far Too Long"  # 38 characters; en_US takes 24
COUPON = """\
type: COUPON
product: GIFT_CARD
imageUrl: "{{{{ cdn }}}}/coupons/{key}-350.png"
currentAmountCent: 1000
stock: 10
categories: [Others]
{extra}localeInfo:
  zh_HK: {{name: 無效, brandName: 珍珠河, description: 無效}}
  en_US: {{name: {name}, brandName: Pearl River, description: Invalid}}
"""
INVALID = {
    "long-name": {"name": json.dumps(SCRIPT_NAME)},
    "plain-http": {"extra": "merchantLogo: http://cdn.example/logo.png\n"},
    "past-start": {"extra": "startDate: 2020-01-01\n"},
    "backwards": {"extra": "startDate: 2030-06-01\nendDate: 2030-05-01\n"},
}
BROKEN = "type: COUPON\nproduct: [GIFT_CARD\nstock: 10\n"  # the list is never closed
# Values of every wrong type, and a field AlipayHK does not know.
WRONG_TYPES = """\
type: COUPON
product: GIFT_CARD
imageUrl: [not, a, url]
startDate: soon
currentAmountCent: {a: 1}
stock: lots
categories: Food
button: push
codeType: laser
colour: red
localeInfo:
  zh_HK: 不是對象
  en_US: {name: [1, 2], subName: 3.5, description: null}
"""


def invalid_project(root: Path) -> Path:
    copy_example(root)
    files = {
        f"catalog/templates/bad/{key}.yaml": COUPON.format(
            key=key, name=parts.get("name", "Invalid"), extra=parts.get("extra", "")
        )
        for key, parts in INVALID.items()
    }
    files["catalog/templates/bad/broken.yaml"] = BROKEN
    return build_tree(root, files)


def preview(capsys: Capsys, root: Path, *args: str) -> tuple[int, str, str]:
    run = run_cli(capsys, "-C", str(root), "preview", *args)
    return run.code, run.out, run.err


def listed(out: Path) -> list[tuple[str, str, Element]]:
    """(key, action, li) for each entry of the index, in order."""
    index = parse(out / "index.html")
    return [
        (li.attrs["data-entry"], li.attrs["data-action"], li)
        for li in index.all()
        if li.tag == "li" and "data-entry" in li.attrs
    ]


def page_of(out: Path, li: Element) -> Element:
    href = next(e.attrs["href"] for e in li.all() if e.tag == "a")
    return parse(out / href)


def card(page: Element, locale: str) -> Element:
    return page.one(data_card="", data_locale=locale)


def flags(element: Element) -> list[str]:
    return element.attrs.get("data-flagged", "").split()


def notes(card: Element, kind: str, field: str) -> list[Element]:
    return [
        p
        for p in card.find(data_problem=kind)
        if p.attrs.get("data-problem-field") == field and "problem" in p.attrs.get("class", "")
    ]


def where(note: Element) -> str:
    return note.one(data_where="").text


def validate_lines(capsys: Capsys, root: Path) -> list[str]:
    run = run_cli(capsys, "-C", str(root), "validate")
    assert run.code == 1
    return [line for line in run.out.splitlines() if re.match(r"^catalog/\S+:\d+:\d+:", line)]


def test_an_invalid_catalog_is_written_with_each_problem_on_its_field_then_exits_1(
    tmp_path: Path, capsys: Capsys
) -> None:
    root = invalid_project(tmp_path / "project")
    out = tmp_path / "site"
    code, stdout, err = preview(capsys, root, "--out", str(out))
    assert code == 1, err
    entries = listed(out)
    lines = stdout.splitlines()
    # too-long and overflow on one card; not-https, starts-in-past, ends-before-start on both
    # cards of their entries, each counted once
    assert lines[0] == (
        f"wrote {out / 'index.html'}: {len(entries)} entries, 5 problems on the cards"
    )
    assert lines[1:] == [
        "images not checked (see --fetch-images)",
        "4 entries invalid and 1 file could not be read or rendered: the pages show why; "
        "`ipass validate` lists them",
    ]
    actions = [action for _, action, _ in entries]
    assert actions[:4] == ["invalid"] * 4  # before everything the plan holds
    assert sorted(key for key, _, _ in entries[:4]) == [key for key, _, _ in entries[:4]]
    assert set(actions[4:]) == {"create"}  # the valid entries are planned as before
    pages = {key: page_of(out, li) for key, action, li in entries if action == "invalid"}
    assert set(pages) == set(INVALID)

    en = card(pages["long-name"], "en_US")
    name = field_of(en, "name")
    assert name.text == SCRIPT_NAME  # shown whole, as text
    assert flags(name) == ["too-long", "overflow"]  # the card's own width check adds one
    assert name.attrs["data-overflow"] == "flagged"
    [note] = notes(en, "too-long", "name")
    assert "longer than 24 characters (38)" in note.text
    assert where(note) == "catalog/templates/bad/long-name.yaml:9:11 localeInfo.en_US.name"
    assert notes(card(pages["long-name"], "zh_HK"), "too-long", "name") == []
    assert [e for e in pages["long-name"].all() if e.tag == "script"] == []

    for locale in ("zh_HK", "en_US"):
        logo = field_of(card(pages["plain-http"], locale), "merchantLogo")
        assert flags(logo) == ["not-https"]
        [note] = notes(card(pages["plain-http"], locale), "not-https", "merchantLogo")
        assert where(note) == "catalog/templates/bad/plain-http.yaml:7:1 merchantLogo"
        start = field_of(card(pages["past-start"], locale), "startDate")
        assert flags(start) == ["starts-in-past"]
        assert start.text == "2020-01-01 00:00 HKT"
        [note] = notes(card(pages["past-start"], locale), "starts-in-past", "startDate")
        assert "[PASS_TEMPLATE_START_TIME_LESS_CURRENT]" in note.text
        end = field_of(card(pages["backwards"], locale), "endDate")
        assert flags(end) == ["ends-before-start"]
        [note] = notes(card(pages["backwards"], locale), "ends-before-start", "endDate")
        assert where(note) == "catalog/templates/bad/backwards.yaml:8:1 endDate"
        assert card(pages["backwards"], locale).attrs["data-side"] == "catalog"

    index = parse(out / "index.html")
    [broken] = index.find(data_file="catalog/templates/bad/broken.yaml")
    assert broken.attrs["data-action"] == "invalid"
    [note] = broken.find(data_problem="invalid")
    assert where(note) == "catalog/templates/bad/broken.yaml:3:6"
    assert "invalid YAML" in note.text

    # Every problem `ipass validate` reports is on a page, where it was found.
    shown = {e.text for path in out.rglob("*.html") for e in parse(path).find(data_where="")}
    for line in validate_lines(capsys, root):
        file, line_no, column = line.split(":")[:3]
        assert any(text.startswith(f"{file}:{line_no}:{column}") for text in shown), line


def test_values_of_the_wrong_type_are_shown_as_text_and_flagged(
    tmp_path: Path, capsys: Capsys
) -> None:
    root = build_tree(
        copy_example(tmp_path / "project"), {"catalog/templates/odd.yaml": WRONG_TYPES}
    )
    out = tmp_path / "site"
    code, stdout, err = preview(capsys, root, "--out", str(out))
    assert code == 1, err
    assert stdout.splitlines()[-1].startswith("1 entry invalid: the pages show why")
    [(_, _, li)] = [e for e in listed(out) if e[1] == "invalid"]
    page = page_of(out, li)
    [en] = page.find(data_card="")  # zh_HK is not a mapping: no card for it
    shown = {
        "name": "[1, 2]",
        "subName": "3.5",
        "startDate": "soon",
        "price": '{"a": 1}',
        "stock": "lots",
        "categories": "Food",
        "button": "push",
    }
    for name, text in shown.items():
        element = field_of(en, name)
        assert text in element.text, name
        assert flags(element) == ["invalid"], name
    assert field_of(en, "imageUrl").attrs["data-flagged"] == "invalid"
    assert '["not", "a", "url"]' in field_of(en, "imageUrl").text
    code_figure = field_of(en, "code")
    assert (code_figure.attrs["data-code-type"], flags(code_figure)) == ("laser", ["invalid"])
    assert "missing-locale" in flags(en)
    [above] = page.find(data_entry_problems="")
    held = {where(p).split(" ", 1)[1] for p in above.find(data_problem="invalid")}
    assert held == {"colour", "localeInfo.zh_HK"}  # no card field holds these


def test_selectors_see_the_invalid_entries_too(tmp_path: Path, capsys: Capsys) -> None:
    root = invalid_project(tmp_path / "project")
    out = tmp_path / "site"
    code, stdout, _ = preview(capsys, root, "--out", str(out), "--select", "long-name")
    assert code == 1
    assert [(key, action) for key, action, _ in listed(out)] == [("long-name", "invalid")]
    code, stdout, _ = preview(capsys, root, "--out", str(out), "--exclude", "templates/bad/")
    assert code == 1
    assert "invalid" not in {action for _, action, _ in listed(out)}
    assert "4 entries invalid (4 not selected, so not shown)" in stdout
    code, _, err = preview(capsys, root, "--out", str(out), "--select", "long-nme")
    assert code == 1
    assert err.startswith("error: --select 'long-nme' matches no entry")


def test_a_key_defined_twice_gets_a_page_per_definition(tmp_path: Path, capsys: Capsys) -> None:
    root = invalid_project(tmp_path / "project")
    bad = root / "catalog/templates/bad"
    build_tree(
        root,
        {
            "catalog/templates/more/long-name.yaml": (bad / "long-name.yaml").read_text(),
            "catalog/templates/more/cinema.yaml": (bad / "plain-http.yaml").read_text(),
        },
    )
    out = tmp_path / "site"
    code, _, err = preview(capsys, root, "--out", str(out))
    assert code == 1, err
    entries = listed(out)
    pages = [page_of(out, li) for _, _, li in entries]  # each link leads to its own page
    assert len({id(page) for page in pages}) == len(entries)
    hrefs = [next(e.attrs["href"] for e in li.all() if e.tag == "a") for _, _, li in entries]
    assert len(set(hrefs)) == len(hrefs)
    keys = [(key, action) for key, action, _ in entries]
    assert keys.count(("long-name", "invalid")) == 2
    assert ("cinema", "invalid") in keys
    assert ("cinema", "create") in keys
    index = parse(out / "index.html")
    duplicates = [p for p in index.find(data_problem="invalid") if "duplicate key" in p.text]
    assert len(duplicates) == 2


def test_a_published_key_that_turns_invalid_is_not_called_gone(
    tmp_path: Path, capsys: Capsys
) -> None:
    with rehearsal(tmp_path) as r:
        assert run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve").code == 0
    cinema = r.root / "catalog/templates/tickets/cinema.yaml"
    cinema.write_text(cinema.read_text(encoding="utf-8") + "stock: lots\n", encoding="utf-8")
    out = tmp_path / "site"
    code, _, err = preview(capsys, r.root, "--out", str(out))
    assert code == 1, err
    actions = {key: action for key, action, _ in listed(out)}
    assert actions["cinema"] == "invalid"  # one entry for the key, not also "vanished"
    assert list(actions.values()).count("invalid") == 1


START = to_epoch_millis("2027-03-01 10:00")


def test_an_entry_whose_start_passes_keeps_its_body_warm_or_cold(tmp_path: Path) -> None:
    """A cached valid file whose start date has since passed: its entry becomes invalid, with
    the body it would send, exactly as without the cache."""
    root = copy_example(tmp_path)
    build_tree(
        root,
        {
            "ipass.toml": 'catalog = "catalog"\nstate = "state"\n',
            "catalog/templates/late.yaml": COUPON.format(
                key="late", name="Late", extra="startDate: 2027-03-01 10:00\n"
            ),
        },
    )
    target = load_project(root).target(None)
    early = load_catalog(target, now_ms=START - 1)
    assert "late" in {entry.key for entry in early.entries}
    results = [
        load_catalog(replace(target, render_cache=cache), now_ms=START + 1)
        for cache in (True, False)
    ]
    for result in results:
        [late] = [entry for entry in result.invalid if entry.key == "late"]
        assert late.tree()["startDate"] == START
        assert [p.field for p in late.problems] == ["startDate"]
    assert results[0].invalid == results[1].invalid


def test_a_published_key_whose_file_cannot_be_read_is_invalid_not_gone(
    tmp_path: Path, capsys: Capsys
) -> None:
    """A typo in a published entry's file (or a for_each file's) is not a removal: its entries
    are shown invalid with the file's problem, never with the advice to retire them."""
    with rehearsal(tmp_path) as r:
        assert run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve").code == 0
    for name in ("tickets/museum-pass.yaml", "coupons/gift-card.yaml"):
        path = r.root / "catalog/templates" / name
        path.write_text(path.read_text(encoding="utf-8") + "  product: [oops\n", encoding="utf-8")
    out = tmp_path / "site"
    code, stdout, err = preview(capsys, r.root, "--out", str(out))
    assert code == 1, err
    assert "retired.yaml" not in stdout + err
    assert stdout.splitlines()[-1] == (
        "4 entries invalid and 2 files could not be read or rendered: the pages show why; "
        "`ipass validate` lists them"
    )
    actions = {key: (action, li) for key, action, li in listed(out)}
    for key, file in [
        ("museum-pass", "tickets/museum-pass.yaml"),
        *((f"gift-card[{value}]", "coupons/gift-card.yaml") for value in (100, 200, 500)),
    ]:
        action, li = actions[key]
        assert action == "invalid", key
        assert "no problems" not in li.text
        page = page_of(out, li)
        text = page.text
        assert "retire" not in text.lower(), key
        assert "removed from the catalog" not in text
        problem = page.one(data_entry_problems="").find(data_problem="invalid")
        assert len(problem) == 1
        assert f"its file could not be read: catalog/templates/{file}:" in text
        assert where(problem[0]).startswith(f"catalog/templates/{file}:")
        sides = {c.attrs["data-side"] for c in page.find(data_card="")}
        assert sides == {"published"}  # what customers see now, not a new card


def test_plan_refuses_a_catalog_whose_published_file_cannot_be_read(
    tmp_path: Path, capsys: Capsys
) -> None:
    with rehearsal(tmp_path) as r:
        assert run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve").code == 0
        path = r.root / "catalog/templates/tickets/museum-pass.yaml"
        path.write_text(path.read_text(encoding="utf-8") + "  product: [oops\n", encoding="utf-8")
        run = run_cli(capsys, "-C", str(r.root), "plan")
    assert run.code != 0
    assert "catalog/templates/tickets/museum-pass.yaml:" in run.out + run.err
    assert "retired.yaml" not in run.out + run.err


def test_problems_are_counted_once_each_as_validate_counts_them(
    tmp_path: Path, capsys: Capsys
) -> None:
    """A problem shown on both locales' cards is one problem: the terminal, the index and the
    entry's page say what `ipass validate` says."""
    root = copy_example(tmp_path / "project")
    extra = "exposure: everywhere\ndetailLink: 12\n"
    files = {"catalog/templates/bad/two.yaml": COUPON.format(key="two", name="Two", extra=extra)}
    build_tree(root, files)
    lines = validate_lines(capsys, root)
    assert len(lines) == 2, lines
    out = tmp_path / "site"
    code, stdout, _ = preview(capsys, root, "--out", str(out))
    assert code == 1
    assert "2 problems on the cards" in stdout
    (li,) = [li for key, _, li in listed(out) if key == "two"]
    assert li.attrs["data-problems"] == "2"
    assert "2 problems" in li.text
    page = page_of(out, li)
    assert "· 2 problems" in page.one(**{"class": "meta"}).text
    for locale in ("zh_HK", "en_US"):  # shown on both cards, counted once
        assert len(notes(card(page, locale), "invalid", "exposure")) == 1


def test_the_terminal_names_only_what_is_there(tmp_path: Path, capsys: Capsys) -> None:
    root = copy_example(tmp_path / "project")
    build_tree(root, {"catalog/templates/bad/broken.yaml": BROKEN})
    code, stdout, _ = preview(capsys, root, "--out", str(tmp_path / "site"))
    assert code == 1
    assert stdout.splitlines()[-1] == (
        "1 file could not be read or rendered: the pages show why; `ipass validate` lists them"
    )
