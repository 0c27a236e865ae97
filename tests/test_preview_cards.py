"""The card view and its problems, from payloads written here: each problem kind of the page
contract is found, marked on the element holding the value, and shown on the rendered card."""

from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from preview_support import Element, field_of, parse_text

from reconciler.adapters.preview.images import LocalImages, basename_of
from reconciler.adapters.preview.pages import PageRenderer
from reconciler.domain.contract.dates import to_epoch_millis
from reconciler.domain.plan import Action, FieldChange
from reconciler.domain.preview import CardRow, EntryView, ImageFacts, ProblemKind
from reconciler.domain.preview.card import CardContext, build_card
from reconciler.domain.preview.invalid import lenient_payload, place, with_found
from reconciler.domain.preview.measure import BOXES, estimated_width
from reconciler.domain.preview.sheet import changed_fields, slug_of
from reconciler.domain.problems import Problem

NOW = to_epoch_millis("2027-06-01 12:00:00")
IMAGE = "https://cdn.example/coupons/coffee-350.png"
LOGO = "https://cdn.example/brand/logo.png"
PAYLOAD: dict[str, Any] = {
    "type": "COUPON",
    "product": "GIFT_CARD",
    "codeType": "qrcode",
    "codeStandard": "QRCODE",
    "imageUrl": IMAGE,
    "merchantLogo": LOGO,
    "startDate": to_epoch_millis("2027-07-01 10:00:00"),
    "endDate": to_epoch_millis("2027-12-31 23:59:59"),
    "currentAmountCent": 2800,
    "originalAmountCent": 3800,
    "currencyCode": "HKD",
    "stock": 5000,
    "exposure": "exposed",
    "categories": ["CoffeeAndTea"],
    "button": {"btnType": "usage", "btnUrl": "alipayhk://platformapi/startapp?appId=1"},
    "localeInfo": {
        "zh_HK": {"name": "咖啡券", "brandName": "珍珠河咖啡", "description": "一\n二"},
        "en_US": {"name": "Coffee Voucher", "subName": "Any branch"},
    },
}


def card_of(
    payload: dict[str, Any],
    locale: str = "en_US",
    *,
    images: dict[str, ImageFacts] | None = None,
    will_send: bool = True,
) -> Any:
    return build_card("coffee", payload, locale, "catalog", CardContext(NOW, images, will_send))


def kinds(card: Any) -> dict[str, list[ProblemKind]]:
    found: dict[str, list[ProblemKind]] = {}
    for problem in card.problems:
        found.setdefault(problem.field, []).append(problem.kind)
    return found


def with_(path: str, value: Any) -> dict[str, Any]:
    payload = copy.deepcopy(PAYLOAD)
    *parents, last = path.split(".")
    target = payload
    for part in parents:
        target = target[part]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return payload


def test_a_good_card_has_every_field_and_no_problem() -> None:
    card = card_of(PAYLOAD, "zh_HK")
    assert card.problems == ()
    assert card.name.text == "咖啡券"
    assert card.price.current == "HK$28.00"
    assert card.price.original == "HK$38.00"
    assert card.start_date.text == "2027-07-01 10:00 HKT"
    assert card.code.sample == "IPASS-SAMPLE-0001"
    assert card.button.label == "立即使用"
    assert card.categories.text == "咖啡茶飲"
    assert card.description.text == "一\n二"
    assert card.image.src is None  # no image source: a placeholder, nothing loads


@pytest.mark.parametrize(
    ("payload", "locale", "field", "kind"),
    [
        (with_("localeInfo.en_US.name", "N" * 25), "en_US", "name", ProblemKind.TOO_LONG),
        (with_("localeInfo.zh_HK.name", "咖" * 13), "zh_HK", "name", ProblemKind.TOO_LONG),
        (with_("localeInfo.en_US.name", "W" * 24), "en_US", "name", ProblemKind.OVERFLOW),
        (with_("localeInfo.en_US", None), "zh_HK", "card", ProblemKind.MISSING_LOCALE),
        (with_("imageUrl", "http://cdn.example/a.png"), "en_US", "imageUrl", ProblemKind.NOT_HTTPS),
        (
            with_("merchantLogo", "http://cdn.example/l.png"),
            "en_US",
            "merchantLogo",
            ProblemKind.NOT_HTTPS,
        ),
        (with_("endDate", NOW - 1), "en_US", "endDate", ProblemKind.ENDED),
        (with_("endDate", PAYLOAD["startDate"]), "en_US", "endDate", ProblemKind.ENDS_BEFORE_START),
        (with_("startDate", NOW - 1), "en_US", "startDate", ProblemKind.STARTS_IN_PAST),
    ],
)
def test_each_problem_is_found_on_the_field_holding_it(
    payload: dict[str, Any], locale: str, field: str, kind: ProblemKind
) -> None:
    card = card_of(payload, locale)
    assert kind in kinds(card)[field]
    html = render_one(card)
    assert html.find(data_problem=kind.value), kind
    if field == "card":
        assert kind.value in html.one(data_card="").attrs["data-flagged"].split()
    else:
        assert kind.value in field_of(html, field).attrs["data-flagged"].split()


def test_a_published_card_that_started_long_ago_is_fine() -> None:
    card = card_of(with_("startDate", NOW - 1), will_send=False)
    assert kinds(card) == {}


def test_too_long_and_too_wide_single_lines_are_flagged_to_overflow() -> None:
    card = card_of(with_("localeInfo.en_US.subName", "M" * 33))
    assert card.sub_name.overflow
    assert set(card.sub_name.flags) == {ProblemKind.TOO_LONG, ProblemKind.OVERFLOW}
    assert field_of(render_one(card), "subName").attrs["data-overflow"] == "flagged"
    assert not card_of(PAYLOAD).name.overflow


def test_the_width_estimate_counts_wide_characters_as_one_em() -> None:
    box = BOXES["name"]
    assert estimated_width("咖" * 10, box) > estimated_width("i" * 10, box) * 3
    assert estimated_width("W" * 24, box) > box.width_px  # within the vendor's 24, wider
    assert estimated_width("Christmas Movie Ticket", box) < box.width_px


def test_bidi_controls_are_shown_not_obeyed() -> None:
    card = card_of(with_("localeInfo.en_US.name", "\u202etxt.exe"))
    assert card.name.text == "\\u202etxt.exe"


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (ImageFacts(IMAGE, 350, 350, 42_000), set()),
        (ImageFacts(IMAGE, 400, 300, 42_000), {ProblemKind.IMAGE_SIZE, ProblemKind.IMAGE_RATIO}),
        (ImageFacts(IMAGE, 700, 700, 42_000), {ProblemKind.IMAGE_SIZE}),
        (ImageFacts(IMAGE, 350, 350, 100_000), {ProblemKind.IMAGE_BYTES}),
        (ImageFacts(IMAGE, error="not a readable image"), {ProblemKind.IMAGE_UNAVAILABLE}),
        (None, {ProblemKind.IMAGE_UNAVAILABLE}),
    ],
)
def test_image_checks(facts: ImageFacts | None, expected: set[ProblemKind]) -> None:
    images = {IMAGE: facts} if facts is not None else {}
    images[LOGO] = ImageFacts(LOGO, 64, 64, 3_000)
    card = card_of(PAYLOAD, images=images)
    assert set(kinds(card).get("imageUrl", [])) == expected
    assert card.image.src == IMAGE  # checked images are shown from their https URL


def test_changed_fields_map_payload_paths_to_card_fields() -> None:
    changes = [
        FieldChange("currentAmountCent", 9500, 8800),
        FieldChange("localeInfo.en_US.name", "A", "B"),
        FieldChange("localeInfo.zh_HK", None, {}, added=True),
        FieldChange("categories[1]", None, "Food", added=True),
        FieldChange("button.btnUrl", "a", "b"),
    ]
    assert changed_fields(changes) == {
        None: {"price", "categories", "button"},
        "en_US": {"name"},
        "zh_HK": {"brandName", "name", "subName", "description"},
    }


def located(field: str, message: str, code: str | None = None) -> Problem:
    return Problem("catalog/templates/x.yaml", 3, 5, field, message, code)


@pytest.mark.parametrize(
    ("problem", "tree", "at", "field", "kind"),
    [
        (
            located("localeInfo.en_US.name", "longer than 24 characters (31)"),
            {},
            "en_US",
            "name",
            ProblemKind.TOO_LONG,
        ),
        (
            located("imageUrl", "must start with https://", "PASS_TEMPLATE_IMAGE_URL_ILLEGAL"),
            {"imageUrl": "http://x.example/a.png"},
            None,
            "imageUrl",
            ProblemKind.NOT_HTTPS,
        ),
        (
            located("startDate", "is in the past", "PASS_TEMPLATE_START_TIME_LESS_CURRENT"),
            {},
            None,
            "startDate",
            ProblemKind.STARTS_IN_PAST,
        ),
        (
            located("endDate", "must be after startDate", "PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL"),
            {},
            None,
            "endDate",
            ProblemKind.ENDS_BEFORE_START,
        ),
        (
            located("localeInfo", "needs at least one of zh_HK, en_US"),
            {"localeInfo": {}},
            None,
            "card",
            ProblemKind.MISSING_LOCALE,
        ),
        (located("currentAmountCent", "must be a whole number"), {}, None, "price", "invalid"),
        (located("codeType", "'laser' is not allowed"), {}, None, "code", "invalid"),
        (located("passExtInfo.seat", "unknown field"), {}, None, "ticket", "invalid"),
        (located("categories[0]", "unknown category"), {}, None, "categories", "invalid"),
        (located("colour", "unknown field"), {}, None, "card", "invalid"),
    ],
)
def test_each_catalog_problem_is_placed_on_the_field_it_names(
    problem: Problem, tree: dict[str, Any], at: str | None, field: str, kind: str
) -> None:
    locale, shown = place(problem, tree)
    assert (locale, shown.field, shown.kind.value) == (at, field, str(kind))
    assert shown.where == f"catalog/templates/x.yaml:3:5 {problem.field}"


def test_an_unchecked_body_converts_what_converts_and_keeps_the_rest() -> None:
    tree: dict[str, Any] = {
        "startDate": "2027-07-01 10:00:00",
        "endDate": "later",
        "stock": "12",
        "x": [1],
    }
    payload = lenient_payload(tree)
    assert payload == {**tree, "startDate": PAYLOAD["startDate"], "stock": 12}


def test_a_located_problem_replaces_the_cards_own_of_the_same_kind() -> None:
    card = card_of(with_("localeInfo.en_US.name", "N" * 25))
    assert kinds(card) == {"name": [ProblemKind.TOO_LONG, ProblemKind.OVERFLOW]}
    found = place(located("localeInfo.en_US.name", "longer than 24 characters (25)"), {})[1]
    merged = with_found(card, [found])
    assert merged.problems == (found, card.problems[1])  # the card's own overflow stays
    assert merged.name.flags == (ProblemKind.TOO_LONG, ProblemKind.OVERFLOW)
    assert merged.invalid
    html = render_one(merged)
    note = html.one(data_problem="too-long")
    assert note.one(data_where="").text == "catalog/templates/x.yaml:3:5 localeInfo.en_US.name"
    [label] = [e for e in html.all() if e.attrs.get("class") == "card-label"]
    assert label.text == "en_US · catalog (invalid: not sent)"


def test_slugs_are_file_safe_and_unique() -> None:
    assert slug_of("gift-card[100]").startswith("gift-card_100_-")
    assert slug_of("a/b") != slug_of("a_b")
    assert slug_of("../x").startswith(".._x-")
    assert "/" not in slug_of("../../etc/passwd")


def render_one(card: Any) -> Element:
    entry = EntryView(
        key=card.key,
        slug=slug_of(card.key),
        action=Action.CREATE,
        reason="new entry",
        badge="new",
        note=None,
        product="Gift card / coupon",
        title="t",
        source=None,
        rows=(CardRow("catalog", (card,)),),
    )
    return parse_text(PageRenderer().entry(entry, "sandbox"))


# --- image files --------------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), "white")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_local_images_are_matched_by_file_name_and_read_safely(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "good-350.png").write_bytes(png(350, 350))
    (folder / "wide.png").write_bytes(png(400, 300))
    (folder / "corrupt.png").write_bytes(png(350, 350)[:60])
    (folder / "not-an-image.png").write_bytes(b"<html>")
    (folder / "link.png").symlink_to(folder / "good-350.png")
    urls = [
        "https://cdn.example/a/good-350.png?v=2",
        "https://cdn.example/wide.png",
        "https://cdn.example/corrupt.png",
        "https://cdn.example/not-an-image.png",
        "https://cdn.example/link.png",
        "https://cdn.example/missing.png",
        "https://cdn.example/",
    ]
    facts = LocalImages(folder).inspect(urls)
    assert (facts[urls[0]].width, facts[urls[0]].height, facts[urls[0]].error) == (350, 350, None)
    assert (facts[urls[1]].width, facts[urls[1]].height) == (400, 300)
    assert all(facts[url].error for url in urls[2:])
    assert "no file images/missing.png" in str(facts[urls[5]].error)
    assert basename_of("https://cdn.example/x/..") is None


def test_problems_are_labelled_with_the_catalogs_field_path() -> None:
    """The card element showing a value (`ticket`, `price`) is not what the catalog calls it: a
    problem is labelled with the catalog's field path, as `ipass validate` prints it."""
    card = card_of(with_("localeInfo.en_US.name", "N" * 25))
    found = place(located("product", "'VOUCHER' is not allowed"), {})[1]
    assert (found.field, found.label) == ("ticket", "product")
    html = render_one(with_found(card, [found]))
    labels = {
        p.attrs["data-problem-field"]: next(e.text for e in p.all() if e.tag == "b")
        for p in html.all()
        if "problem" in p.attrs.get("class", "").split()
    }
    assert labels == {"ticket": "product", "name": "localeInfo.en_US.name"}


@pytest.mark.parametrize(
    ("path", "value", "shown"),
    [
        ("localeInfo.en_US.name", "\u202etxt.exe", "\\u202e"),
        ("localeInfo.en_US.subName", "a\u2066b\u2069", "\\u2066, \\u2069"),
        ("localeInfo.en_US.brandName", "Zero\u200bWidth", "\\u200b"),
        ("localeInfo.en_US.description", "line one\nline\u202atwo\tend", "\\u202a, \\t"),
        ("passExtInfo.seat", "A\u202d12", "\\u202d"),
    ],
)
def test_invisible_and_direction_changing_characters_are_flagged(
    path: str, value: str, shown: str
) -> None:
    payload = with_("passExtInfo", {"seat": value}) if path == "passExtInfo.seat" else None
    card = card_of(payload or with_(path, value))
    [problem] = [p for p in card.problems if p.kind is ProblemKind.HIDDEN_CHARACTERS]
    assert f"(shown as {shown}):" in problem.message
    assert "customers would see this text reordered or with hidden characters" in problem.message
    assert problem.label == path
    html = render_one(card)
    element = html.one(data_card="").one(data_field=problem.field)
    assert "hidden-characters" in element.attrs["data-flagged"].split()


def test_joiners_and_line_breaks_in_a_description_are_not_hidden_characters() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # an emoji sequence joined by ZWJ
    for path, value in [
        ("localeInfo.en_US.name", f"Family {family}"),
        ("localeInfo.en_US.description", "one\ntwo\r\nthree"),
        ("localeInfo.zh_HK.name", "普通\u00a0名字"),  # a no-break space is visible space
    ]:
        card = card_of(with_(path, value), path.split(".")[1])
        assert ProblemKind.HIDDEN_CHARACTERS not in {p.kind for p in card.problems}, path


def test_a_field_not_set_is_named_in_the_customers_words() -> None:
    payload = with_("localeInfo.en_US.subName", None)
    del payload["localeInfo"]["en_US"]["name"]
    html = render_one(card_of(payload))
    assert html.one(data_field="subName").text == "Subtitle not set"
    assert html.one(data_field="name").text == "Name not set"
    assert "subName" not in html.one(data_card="").text
