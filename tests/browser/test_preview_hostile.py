"""Catalog text that tries HTML, script, script URLs and bidi tricks is inert on the page, shown as
the text it is; a name that fits the vendor's limit but not the card is flagged and shown past
its box; an EAN-13 barcode decodes. Pages are opened twice: as a reviewer does, and with their
CSP ignored, so escaping is proven on its own."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page

from browser import harness, projects
from browser.checks import LOCALES, cards_in_view, entries, entry_page, fields_fit_unless_flagged
from browser.projects import Site

pytestmark = pytest.mark.browser

OWN_PAGE = re.compile(r"^(\.\./|\./)?(cards/)?[A-Za-z0-9._%-]+\.html(#[A-Za-z0-9_-]*)?$")


def text_of(locator: Locator) -> str:
    """What the element shows, with runs of white space as one space (pre-line keeps breaks)."""
    return " ".join(locator.inner_text().split())


def field(page: Page, locale: str, name: str) -> Locator:
    return page.locator(
        f'[data-card][data-side="catalog"][data-locale="{locale}"] [data-field="{name}"]'
    )


@pytest.mark.parametrize("csp", ["kept", "ignored"])
def test_hostile_text_runs_nothing_injects_nothing_and_shows_as_text(
    hostile_site: Site,
    strict: harness.Offline,
    csp_off: harness.Offline,
    csp: str,
) -> None:
    context = strict if csp == "kept" else csp_off
    pages = [context.cached(hostile_site.index)]
    pages += [page for _, page in entries(hostile_site, context)]
    for page in pages:
        assert page.evaluate("typeof window.__pwned") == "undefined", page.url
        assert harness.active_elements(page) == [], page.url
        assert [href for href in harness.links(page) if not OWN_PAGE.match(href)] == []
    page = entry_page(hostile_site, projects.HOSTILE_KEY, context)
    assert {box.locale for box in cards_in_view(page)} == LOCALES
    # The closing tag in the name closed nothing: every card still holds all its fields.
    fields = page.evaluate(
        """Array.from(document.querySelectorAll('[data-card]'), (c) =>
             Array.from(c.querySelectorAll('[data-field]'), (e) => e.dataset.field).sort())"""
    )
    assert fields[0] == fields[1]
    assert {"name", "subName", "brandName", "description", "button"} <= set(fields[0])
    for locale in LOCALES:
        shown = text_of(field(page, locale, "description"))
        for attempt in (projects.SCRIPT, projects.IMG_ONERROR, projects.IFRAME, projects.JS_URL):
            assert attempt in shown, (locale, attempt)
    assert text_of(field(page, "en_US", "name")) == projects.CLOSE_CARD
    for locale in LOCALES:  # links are shown as text, whatever they hold
        assert projects.BTN_URL in field(page, locale, "button").inner_text().replace("\n", "")
        assert projects.ORDER_LINK in text_of(field(page, locale, "orderPageLink"))
        assert projects.DETAIL_LINK in text_of(field(page, locale, "detailLink"))
    assert text_of(field(page, "en_US", "subName")) == projects.SVG_ONLOAD
    assert text_of(field(page, "zh_HK", "subName")) == "<b>粗體</b>"
    assert text_of(field(page, "zh_HK", "brandName")) == "<i>品牌</i>"


def test_a_bidi_override_is_shown_and_turns_no_other_text_around(
    hostile_site: Site, strict: harness.Offline
) -> None:
    index = strict.cached(hostile_site.index)
    assert harness.reversed_latin_runs(index) == []
    page = entry_page(hostile_site, projects.HOSTILE_KEY, strict)
    assert harness.reversed_latin_runs(page) == []
    for element in (field(page, "zh_HK", "name"), field(page, "en_US", "brandName")):
        shown = element.inner_text()
        assert "txt.exe" in shown
        # Shown as the character itself, or as a visible escape naming it.
        assert projects.RLO in shown or "202e" in shown.lower(), shown


def test_a_name_too_wide_for_the_card_is_flagged_and_shown_past_its_box(
    hostile_site: Site, strict: harness.Offline
) -> None:
    page = entry_page(hostile_site, projects.WIDE_KEY, strict)
    measured = fields_fit_unless_flagged(hostile_site, page)
    flagged = {(m.locale, m.field) for m in measured if m.flagged}
    assert flagged == {("en_US", "name"), ("en_US", "subName"), ("en_US", "brandName")}
    assert all(m.overflows for m in measured if m.flagged)  # all within the vendor's limits
    for flagged_field in ("name", "subName", "brandName"):
        element = field(page, "en_US", flagged_field)
        assert "overflow" in (element.get_attribute("data-flagged") or "").split()
        assert harness.clipping(element) == []  # shown past the box, never hidden
    name = field(page, "en_US", "name")
    assert text_of(name) == projects.WIDE_NAME  # the whole text, not cut
    card = page.locator('[data-card][data-side="catalog"][data-locale="en_US"]')
    notes = card.locator('.problem[data-problem="overflow"]')
    assert notes.count() >= 1
    assert notes.first.is_visible()
    # The long word in the description wraps inside the card (it is not flagged, and fits).
    assert projects.LONG_WORD in text_of(field(page, "en_US", "description")).replace(" ", "")
    for _key, other in entries(hostile_site, strict):
        fields_fit_unless_flagged(hostile_site, other)


def test_an_ean13_barcode_decodes_back_to_its_sample(
    hostile_site: Site, strict: harness.Offline
) -> None:
    page = entry_page(hostile_site, projects.EAN_KEY, strict)
    codes = page.locator('[data-card][data-side="catalog"] [data-field="code"]')
    assert codes.count() == len(LOCALES)
    for i in range(codes.count()):
        code = codes.nth(i)
        assert code.get_attribute("data-code-type") == "barcode"
        assert code.get_attribute("data-code-standard") == "EAN-13"
        value = code.get_attribute("data-code-value") or ""
        assert re.fullmatch(r"\d{13}", value), value
        decoded = harness.decode(code.screenshot())
        assert [d.text for d in decoded] == [value]
        assert decoded[0].format == str(harness.ZXING_FORMAT["EAN-13"])


def test_a_missing_locale_is_flagged_on_the_card_there_is(
    hostile_site: Site, strict: harness.Offline
) -> None:
    page = entry_page(hostile_site, projects.ZH_ONLY_KEY, strict)
    boxes = cards_in_view(page)
    assert [(box.locale, box.side) for box in boxes] == [("zh_HK", "catalog")]
    card = page.locator("[data-card]")
    assert "missing-locale" in (card.get_attribute("data-flagged") or "").split()
    note = card.locator('.problem[data-problem="missing-locale"]')
    assert note.is_visible()
    assert "en_US" in note.inner_text()
