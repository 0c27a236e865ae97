"""`ipass preview` end to end, read with an HTML parser: every entry has a page with both
locales, the index follows the plan, hostile catalog text stays inert, codes decode, and edits of
published entries show both sides with the changed fields marked."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import REPO, build_tree, copy_example, run_cli
from preview_support import (
    FORMATS,
    Element,
    barcode_image,
    decoded,
    field_of,
    parse,
    qr_image,
)
from reconcile_support import Rehearsal, rehearsal

from reconciler.domain.config import SANDBOX_MERCHANT_ID
from reconciler.domain.plan_render.facts import ORDER
from reconciler.domain.preview import slug_of
from reconciler.domain.preview.card import SAMPLE_VALUES

CSP = (
    "default-src 'none'; img-src https: data:; style-src 'self'; base-uri 'none'; "
    "form-action 'none'"
)
# Each fits the vendor's limit where it is used, so the catalog is valid and the page shows it.
HOSTILE = {
    "script": "<script>alert(1)</script>",
    "img": '"><img src=x onerror=alert(1)>',
    "close": '"></section><b>x',
    "bold": "<b>粗體</b>",
    "braces": "{{ 7*7 }}",
    "bidi": "\u202etxt.exe",
}


def preview(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    run = run_cli(capsys, "-C", str(root), "preview", *args)
    return run.code, run.out, run.err


def cards(page: Element) -> list[Element]:
    return page.find(data_card="")


def index_entries(out: Path) -> list[tuple[str, str, Path]]:
    index = parse(out / "index.html")
    return [
        (li.attrs["data-entry"], li.attrs["data-action"], out / _link(li))
        for li in index.all()
        if li.tag == "li" and "data-entry" in li.attrs
    ]


def _link(li: Element) -> str:
    return next(e.attrs["href"] for e in li.all() if e.tag == "a")


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "project")


def test_the_example_catalog_gets_a_page_per_entry_with_both_locales(
    example: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "site"
    code, stdout, err = preview(capsys, example, "--out", str(out))
    assert code == 0, err
    keys = json.loads(run_cli(capsys, "-C", str(example), "render").out)
    assert stdout.splitlines() == [
        f"wrote {out / 'index.html'}: {len(keys)} entries, 0 problems on the cards",
        "images not checked (see --fetch-images)",
    ]
    listed = index_entries(out)
    assert sorted(key for key, _, _ in listed) == sorted(keys)
    products = set()
    for key, action, page_path in listed:
        assert action == "create"
        assert page_path.parent == out / "cards"
        page = parse(page_path)
        assert [(c.attrs["data-locale"], c.attrs["data-side"]) for c in cards(page)] == [
            ("zh_HK", "catalog"),
            ("en_US", "catalog"),
        ]
        body = keys[key]
        products.add(body["product"])
        for card in cards(page):
            texts = body["localeInfo"][card.attrs["data-locale"]]
            assert texts["name"] in field_of(card, "name").text
            assert field_of(card, "imageUrl").attrs.get("data-placeholder") == ""
            assert body["imageUrl"] in field_of(card, "imageUrl").text
            assert field_of(card, "code").attrs["data-code-standard"] == body["codeStandard"]
            assert "HKT" in field_of(card, "endDate").text
        assert page.one(data_badge="").text == "new"
        metas = [e for e in page.all() if e.tag == "meta" and "http-equiv" in e.attrs]
        assert [m.attrs["content"] for m in metas] == [CSP]
    assert len(products) == 7
    assert (out / "preview.css").is_file()
    assert (out / ".ipass-preview").is_file()


def test_a_second_run_replaces_the_pages_and_removes_stale_ones(
    example: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "site"
    assert preview(capsys, example, "--out", str(out))[0] == 0
    before = {p.name for p in (out / "cards").iterdir()}
    (example / "catalog/templates/tickets/cinema.yaml").unlink()
    assert preview(capsys, example, "--out", str(out))[0] == 0
    after = {p.name for p in (out / "cards").iterdir()}
    assert len(after) == len(before) - 1
    assert not any(p.name.startswith(".cards-") for p in out.iterdir())


def test_a_folder_that_is_not_a_preview_is_refused(
    example: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = build_tree(tmp_path / "mine", {"notes.txt": "keep me"})
    code, _, err = preview(capsys, example, "--out", str(out))
    assert code == 1
    assert err.startswith(f"error: {out}: exists and is not an ipass preview")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_links_are_never_followed(
    example: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    code, _, err = preview(capsys, example, "--out", str(link))
    assert code == 3
    assert "is a symbolic link" in err
    out = tmp_path / "site"
    assert preview(capsys, example, "--out", str(out))[0] == 0
    (out / "cards").rename(tmp_path / "old-cards")
    (out / "cards").symlink_to(elsewhere)
    code, _, err = preview(capsys, example, "--out", str(out))
    assert code == 3
    assert "is not a folder (a link or a file)" in err
    assert list(elsewhere.iterdir()) == []


def test_the_default_folder_is_under_ipass_per_environment(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = preview(capsys, example)
    assert code == 0
    assert out.startswith(f"wrote {example / '.ipass/preview/sandbox/index.html'}: ")


def test_an_invalid_catalog_is_shown_then_exits_1(
    example: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """More in test_preview_invalid.py."""
    cinema = example / "catalog/templates/tickets/cinema.yaml"
    cinema.write_text(cinema.read_text() + "codeType: laser\n")
    out = tmp_path / "site"
    code, stdout, err = preview(capsys, example, "--out", str(out))
    assert code == 1, err
    assert stdout.splitlines()[-1] == (
        "1 entry invalid: the pages show why; `ipass validate` lists them"
    )
    key, action, page = index_entries(out)[0]
    assert (key, action) == ("cinema", "invalid")
    for card in cards(parse(page)):
        code_figure = field_of(card, "code")
        assert code_figure.attrs["data-flagged"] == "invalid"
        [note] = card.find(data_problem="invalid", data_problem_field="code")
        assert "'laser' is not allowed" in note.text
        assert note.one(data_where="").text.startswith("catalog/templates/tickets/cinema.yaml:")


HOSTILE_ENTRY = """\
type: COUPON
product: GIFT_CARD
imageUrl: https://cdn.example/hostile-350.png
currentAmountCent: 1000
stock: 10
categories: [Others]
localeInfo:
  zh_HK:
    name: {bidi}
    subName: {bold}
    brandName: {braces}
    description: {all}
  en_US:
    name: {close}
    subName: {img}
    brandName: {script}
    description: {all}
"""


def _hostile(root: Path) -> None:
    # The catalog's own Jinja would render {{ 7*7 }}: written as a literal there.
    source = {**HOSTILE, "braces": "{{ '{{ 7*7 }}' }}"}
    values = {name: json.dumps(text, ensure_ascii=False) for name, text in source.items()}
    values["all"] = json.dumps("\n".join(source.values()), ensure_ascii=False)
    build_tree(root, {"catalog/templates/coupons/hostile.yaml": HOSTILE_ENTRY.format(**values)})


def test_hostile_catalog_text_is_shown_as_inert_text(
    example: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _hostile(example)
    out = tmp_path / "site"
    code, _, err = preview(capsys, example, "--out", str(out))
    assert code == 0, err
    pages = [out / "index.html", *sorted((out / "cards").iterdir())]
    for path in pages:
        elements = parse(path).all()
        assert [e.tag for e in elements if e.tag in ("script", "iframe", "object", "base")] == []
        assert [(e.tag, a) for e in elements for a in e.attrs if a.startswith("on")] == []
        for e in elements:
            href, src = e.attrs.get("href"), e.attrs.get("src")
            own = href in (None, "preview.css", "../preview.css", "../index.html")
            assert own or (href or "").startswith("cards/"), e  # only our own pages
            assert src is None or src.startswith("data:image/svg+xml;base64,"), e
        assert "\u202e" not in path.read_text(encoding="utf-8")
    page = parse(next(p for _, _, p in index_entries(out) if "hostile" in p.name))
    zh, en = cards(page)
    assert field_of(zh, "name").text == "\\u202etxt.exe"  # the override shown, not obeyed
    assert field_of(zh, "subName").text == HOSTILE["bold"]
    assert field_of(zh, "brandName").text == HOSTILE["braces"]
    assert field_of(en, "name").text == HOSTILE["close"]
    assert field_of(en, "subName").text == HOSTILE["img"]
    assert field_of(en, "brandName").text == HOSTILE["script"]
    injected = [e for e in page.all() if e.tag == "b" and e.text in ("粗體", "x")]
    assert injected == []
    assert [e for e in page.all() if e.tag == "img" and e.attrs.get("src") == "x"] == []
    assert len(page.find(data_card="")) == 2  # the closing tag in a name closed nothing
    shown = [*list(HOSTILE.values())[:-1], "\\u202etxt.exe"]
    assert field_of(en, "description").text.split("\n") == shown


def test_the_codes_decode_back_to_their_sample_values(
    example: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    build_tree(
        example,
        {
            "catalog/templates/coupons/ean.yaml": """\
                type: COUPON
                product: GIFT_CARD
                codeType: barcode
                codeStandard: EAN-13
                imageUrl: https://cdn.example/ean-350.png
                currentAmountCent: 1000
                stock: 10
                categories: [Others]
                localeInfo:
                  en_US: {name: Barcode Voucher}
                """
        },
    )
    out = tmp_path / "site"
    assert preview(capsys, example, "--out", str(out))[0] == 0
    seen = set()
    for _key, _action, path in index_entries(out):
        for card in cards(parse(path)):
            code = field_of(card, "code")
            standard, value = code.attrs["data-code-standard"], code.attrs["data-code-value"]
            assert value == SAMPLE_VALUES[standard]
            svg = [e for e in code.all() if e.tag == "svg"]
            if standard == "QRCODE":
                assert decoded(qr_image(svg[0])) == [(FORMATS[standard], value)]
            else:
                img = next(e for e in code.all() if e.tag == "img")
                assert decoded(barcode_image(img.attrs["src"])) == [(FORMATS[standard], value)]
            seen.add(standard)
    assert seen == {"QRCODE", "CODE128", "EAN-13"}


# --- plan-aware ---------------------------------------------------------------------------------


@pytest.fixture
def rig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Rehearsal]:
    """The example published to a sandbox, then edited: cinema blocked, coffee-voucher replaced,
    ferry-macau retired, one new entry."""
    with rehearsal(tmp_path) as r:
        assert run_cli(capsys, "-C", str(r.root), "apply", "--auto-approve").code == 0
        yield r


def _edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / "catalog/templates" / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_edits_show_both_sides_with_the_changes_marked_in_plan_order(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = rig.root
    _edit(root, "tickets/cinema.yaml", "currentAmountCent: 9500", "currentAmountCent: 8800")
    _edit(root, "tickets/cinema.yaml", "name: Christmas Movie Ticket", "name: Xmas Movie Ticket")
    _edit(root, "coupons/coffee-voucher.yaml", "name: Coffee Voucher", "name: Coffee Coupon")
    _edit(root, "coupons/coffee-voucher.yaml", "type: COUPON", "revision: 2\ntype: COUPON")
    _edit(root, "tickets/ferry-macau.yaml", "type: TICKET", "retired: true\ntype: TICKET")
    new = (root / "catalog/templates/tickets/bus-shenzhen-bay.yaml").read_text(encoding="utf-8")
    (root / "catalog/templates/tickets/bus-late.yaml").write_text(new, encoding="utf-8")
    out = tmp_path / "site"
    code, _, err = preview(capsys, root, "--out", str(out))
    assert code == 0, err  # blocked entries are shown, not refused
    listed = index_entries(out)
    actions = [action for _, action, _ in listed]
    rank = [a.value for a in ORDER]
    assert actions == sorted(actions, key=rank.index)
    by_key = {key: (action, path) for key, action, path in listed}
    assert by_key["cinema"][0] == "blocked"
    assert by_key["coffee-voucher"][0] == "replace"
    assert by_key["ferry-macau"][0] == "retire"
    assert by_key["bus-late"][0] == "create"

    cinema = cards(parse(by_key["cinema"][1]))
    sides = [(c.attrs["data-locale"], c.attrs["data-side"]) for c in cinema]
    assert sides == [
        ("zh_HK", "published"),
        ("zh_HK", "catalog"),
        ("en_US", "published"),
        ("en_US", "catalog"),
    ]
    for card in cinema:
        assert field_of(card, "price").attrs.get("data-changed") == "true"
        assert field_of(card, "description").attrs.get("data-changed") is None
    en_old, en_new = cinema[2:]
    assert field_of(en_old, "name").text == "Christmas Movie Ticket"
    assert field_of(en_new, "name").text == "Xmas Movie Ticket"
    assert field_of(en_new, "name").attrs.get("data-changed") == "true"
    assert field_of(cinema[1], "name").attrs.get("data-changed") is None  # zh_HK unchanged

    coffee = cards(parse(by_key["coffee-voucher"][1]))
    assert [c.attrs["data-side"] for c in coffee] == ["published", "catalog"] * 2
    assert parse(by_key["coffee-voucher"][1]).one(data_note="").text == (
        "published as a new template; the old one stays live until 2027-12-31 23:59 HKT"
    )
    unchanged = cards(parse(by_key["museum-pass"][1]))
    labels = [e.text for c in unchanged for e in c.all() if e.attrs.get("class") == "card-label"]
    assert labels == ["zh_HK · published (unchanged)", "en_US · published (unchanged)"]
    ferry = parse(by_key["ferry-macau"][1])
    assert ferry.one(data_note="").text.startswith("stays live until 2027-12-31 23:59 HKT")
    assert [c.attrs["data-side"] for c in cards(ferry)] == ["published", "published"]
    late = parse(by_key["bus-late"][1])
    assert late.one(data_badge="").text == "new"


def test_entry_pages_name_the_published_template_and_the_merchant(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = rig.root
    _edit(root, "tickets/cinema.yaml", "currentAmountCent: 9500", "currentAmountCent: 8800")
    new = (root / "catalog/templates/tickets/bus-shenzhen-bay.yaml").read_text(encoding="utf-8")
    (root / "catalog/templates/tickets/bus-late.yaml").write_text(new, encoding="utf-8")
    out = tmp_path / "site"
    code, _, err = preview(capsys, root, "--out", str(out))
    assert code == 0, err
    by_key = {key: parse(path) for key, _, path in index_entries(out)}
    code_of = rig.state()["entries"]["cinema"]["current"]["template_code"]
    facts = by_key["cinema"].one(data_entry_facts="")
    assert [e.text for e in facts.all() if e.tag in ("dt", "dd")] == ["Published as", code_of]
    assert by_key["bus-late"].find(data_entry_facts="") == []  # nothing published yet
    for page in by_key.values():
        for card in cards(page):
            assert field_of(card, "merchantId").text == SANDBOX_MERCHANT_ID
    labels = [e.text for e in cards(by_key["cinema"])[0].all() if e.tag == "dt"]
    assert "Merchant" in labels
    assert "Also valid at merchants" in labels
    assert "Merchants" not in labels


def test_a_retired_entry_is_labelled_and_its_removed_file_said_so(
    rig: Rehearsal, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = rig.root
    (root / "catalog/templates/tickets/ferry-macau.yaml").unlink()
    (root / "catalog/retired.yaml").write_text("ferry-macau: route closed\n", encoding="utf-8")
    out = tmp_path / "site"
    code, _, err = preview(capsys, root, "--out", str(out))
    assert code == 0, err
    index = parse(out / "index.html")
    li = index.one(data_entry="ferry-macau")
    assert li.attrs["data-action"] == "retire"
    assert li.one(data_until="").text == "stays live until 2027-12-31 23:59 HKT"
    assert run_cli(capsys, "-C", str(root), "apply", "--auto-approve").code == 0
    code, _, err = preview(capsys, root, "--out", str(out))
    assert code == 0, err
    index = parse(out / "index.html")
    li = index.one(data_entry="ferry-macau")
    assert li.attrs["data-action"] == "no-op"
    assert li.one(data_badge="").text == "retired"  # not like a live unchanged entry
    assert li.one(data_until="").text == "stays live until 2027-12-31 23:59 HKT"
    live = index.one(data_entry="cinema")
    assert live.find(data_badge="") == []
    assert live.find(data_until="") == []
    page = parse(out / f"cards/{slug_of('ferry-macau')}.html")
    meta = next(e for e in page.all() if e.attrs.get("class") == "meta")
    assert "catalog/templates/tickets/ferry-macau.yaml:" in meta.text
    assert meta.text.count("(file removed)") == 1
    assert page.one(data_note="").text.startswith("retired earlier; stays live until 2027-12-31")
    cinema = parse(out / f"cards/{slug_of('cinema')}.html")
    assert "file removed" not in cinema.text


def test_the_readme_row_names_every_preview_option(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "preview", "--help")
    options = set(re.findall(r"^  (--[a-z-]+)", run.out, re.M)) - {"--help"}
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    [row] = [line for line in readme.splitlines() if line.startswith("| `ipass preview ")]
    usage = row.split("`")[1]
    assert {option for option in options if option not in usage} == set()
