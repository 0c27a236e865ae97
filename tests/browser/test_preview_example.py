"""The example catalog's preview as a reviewer's phone shows it: every entry, every product type,
both locales, every card in view, no text past its box unless flagged, real codes, and the
stylesheet applied under the page's Content Security Policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser import harness
from browser.checks import LOCALES, cards_in_view, entries, fields_fit_unless_flagged
from browser.projects import Site

pytestmark = pytest.mark.browser

NEW = re.compile(r"^\s*new\s*$", re.IGNORECASE)
CSP_DIRECTIVES = (
    "default-src 'none'",
    "img-src https: data:",
    "style-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
)


def test_the_index_lists_every_entry_once_as_a_create(
    example_site: Site, strict: harness.Offline
) -> None:
    index = strict.cached(example_site.index)
    listed = list(harness.entry_pages(index, example_site.out))
    assert sorted(key for key, _, _ in listed) == sorted(example_site.bodies)
    assert {action for _, action, _ in listed} == {"create"}
    assert all(path.is_file() and path.parent.name == "cards" for _, _, path in listed)
    assert harness.active_elements(index) == []


def test_every_card_of_every_entry_is_in_view_on_a_phone_in_both_locales(
    example_site: Site, strict: harness.Offline
) -> None:
    seen: dict[str, set[str]] = {}
    for key, page in entries(example_site, strict):
        boxes = cards_in_view(page)
        assert {box.key for box in boxes} == {key}
        seen[key] = {box.locale for box in boxes if box.side == "catalog"}
        badge = page.get_by_text(NEW)
        assert badge.count() >= 1, f"{key}: no 'new' badge"
        assert badge.first.is_visible(), f"{key}: the 'new' badge is hidden"
    assert seen == dict.fromkeys(example_site.bodies, LOCALES)


def test_every_product_type_is_shown_with_its_details(
    example_site: Site, strict: harness.Offline
) -> None:
    products = {body["product"] for body in example_site.bodies.values()}
    assert len(products) >= 7  # every product type the example has
    shown: set[str] = set()
    for key, page in entries(example_site, strict):
        body = example_site.bodies[key]
        for locale in LOCALES:
            card = page.locator(f'[data-card][data-side="catalog"][data-locale="{locale}"]')
            name = card.locator('[data-field="name"]')
            assert name.is_visible()
            assert body["localeInfo"][locale]["name"] in name.inner_text()
            if body["type"] == "TICKET":
                assert card.locator('[data-field="ticket"]').inner_text().strip(), key
        shown.add(body["product"])
    assert shown == products


def test_without_checked_images_the_pages_ask_for_nothing_beyond_their_folder(
    example_site: Site, strict: harness.Offline
) -> None:
    for _key, page in entries(example_site, strict):
        assert page.locator('[data-field="imageUrl"][data-placeholder]').count() >= 1
    folder = example_site.out.as_uri()
    assert [(page, url) for page, url in strict.blocked if page.startswith(folder)] == []


def money(cents: int) -> str:
    return f"HK${cents / 100:,.2f}"


def test_the_image_marks_its_bottom_third_and_a_discount_strikes_the_old_price(
    example_site: Site, strict: harness.Offline
) -> None:
    for key, page in entries(example_site, strict):
        body = example_site.bodies[key]
        for card in page.locator('[data-card][data-side="catalog"]').all():
            crop = harness.crop_of(card)
            assert crop.square, (key, crop)
            assert crop.marks_bottom_third, (key, crop)
            assert crop.label.strip().lower() == "may be cropped"
            price = card.locator('[data-field="price"]')
            assert money(body["currentAmountCent"]) in price.inner_text()
            original = body.get("originalAmountCent", body["currentAmountCent"])
            struck = [] if original == body["currentAmountCent"] else [money(original)]
            assert harness.struck_texts(price) == struck, key
            lines = body["localeInfo"][card.get_attribute("data-locale")]["description"]
            shown = card.locator('[data-field="description"]').inner_text()
            assert shown.strip().splitlines() == lines.strip().splitlines(), key


def test_no_text_passes_its_box_unless_flagged_and_flags_are_real(
    example_site: Site, strict: harness.Offline
) -> None:
    fields: set[str] = set()
    for _key, page in entries(example_site, strict):
        fields |= {m.field for m in fields_fit_unless_flagged(example_site, page)}
    assert {"name", "brandName", "price", "code", "description", "button"} <= fields


def test_every_page_has_the_csp_and_its_stylesheet_and_refuses_injected_script(
    example_site: Site, strict: harness.Offline
) -> None:
    pages = [strict.cached(example_site.index)]
    pages += [page for _, page in entries(example_site, strict)]
    for page in pages:
        csp = page.evaluate(
            """Array.from(document.querySelectorAll('meta[http-equiv]'))
                 .filter((m) => m.httpEquiv.toLowerCase() === 'content-security-policy')
                 .map((m) => m.content)"""
        )
        assert len(csp) == 1, page.url
        assert all(directive in csp[0] for directive in CSP_DIRECTIVES), csp
        assert harness.active_elements(page) == [], page.url
        assert not any(v.startswith("style-src") for v in harness.violations(page)), page.url
        page.evaluate(
            """() => { const s = document.createElement('script');
                       s.textContent = 'window.__probe = 1'; document.body.append(s);
                       s.remove(); }"""
        )
        assert page.evaluate("window.__probe") is None, f"{page.url} runs injected script"
    card = pages[-1].locator("[data-card]").first
    name = card.locator('[data-field="name"]')
    assert harness.style_of(name, "whiteSpace", "overflowX", "textOverflow") == {
        "whiteSpace": "nowrap",
        "overflowX": "visible",
        "textOverflow": "clip",
    }
    description = card.locator('[data-field="description"]')
    assert harness.style_of(description, "whiteSpace") == {"whiteSpace": "pre-line"}


def test_each_code_decodes_back_to_its_sample_value(
    example_site: Site, strict: harness.Offline
) -> None:
    standards: set[str] = set()
    for key, page in entries(example_site, strict):
        body = example_site.bodies[key]
        codes = page.locator('[data-card][data-side="catalog"] [data-field="code"]')
        assert codes.count() == len(LOCALES)
        for i in range(codes.count()):
            code = codes.nth(i)
            assert code.get_attribute("data-code-type") == body["codeType"]
            standard = code.get_attribute("data-code-standard") or ""
            assert standard == body["codeStandard"]
            value = code.get_attribute("data-code-value") or ""
            assert value, key
            decoded = harness.decode(code.screenshot())
            assert [d.text for d in decoded] == [value], f"{key} {standard}"
            assert decoded[0].format == str(harness.ZXING_FORMAT[standard])
            standards.add(standard)
    assert standards == {"QRCODE", "CODE128"}


@pytest.fixture(scope="module")
def product_shots(example_site: Site, strict: harness.Offline, artifacts: Path) -> list[Path]:
    """One zh_HK card per product type, written before any test's write guard is set."""
    shots: dict[str, Path] = {}
    for key, page in entries(example_site, strict):
        product = example_site.bodies[key]["product"]
        if product in shots:
            continue
        card = page.locator('[data-card][data-side="catalog"][data-locale="zh_HK"]')
        shots[product] = artifacts / f"{product.lower()}.png"
        shots[product].write_bytes(card.screenshot())
    return sorted(shots.values())


def test_a_screenshot_of_one_card_per_product_type_is_kept(
    example_site: Site, product_shots: list[Path]
) -> None:
    products = {body["product"].lower() for body in example_site.bodies.values()}
    assert {shot.stem for shot in product_shots} == products
    for shot in product_shots:
        width, height = harness.png_size(shot.read_bytes())
        assert width == 2 * harness.CARD_WIDTH_PX  # device scale factor 2
        assert height > width / 2
