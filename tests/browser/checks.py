"""Checks shared by the preview tests, stated against the page contract. No tests here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from playwright.sync_api import Page

from browser import harness
from browser.projects import Site
from reconciler.domain.contract import limits

LOCALES: Final = frozenset({"zh_HK", "en_US"})
VENDOR_LIMITS: Final = {
    ("name", "zh_HK"): limits.NAME_MAX_ZH,
    ("name", "en_US"): limits.NAME_MAX_EN,
    ("subName", "zh_HK"): limits.SUB_NAME_MAX_ZH,
    ("subName", "en_US"): limits.SUB_NAME_MAX_EN,
    ("brandName", "zh_HK"): limits.BRAND_NAME_MAX_ZH,
    ("brandName", "en_US"): limits.BRAND_NAME_MAX_EN,
}


def entries(site: Site, context: harness.Offline) -> Iterator[tuple[str, Page]]:
    """(key, its page) for every entry the index lists, opened through the index's links."""
    index = context.cached(site.index)
    for key, _action, path in harness.entry_pages(index, site.out):
        yield key, context.cached(path)


def entry_page(site: Site, key: str, context: harness.Offline) -> Page:
    for listed, page in entries(site, context):
        if listed == key:
            return page
    raise AssertionError(f"the index does not list {key}")


def over_vendor_limit(site: Site, m: harness.Measured) -> bool:
    """Whether the catalog's value for this field is longer than the vendor allows."""
    limit = VENDOR_LIMITS.get((m.field, m.locale))
    if limit is None or m.side != "catalog":
        return False
    value = site.bodies[m.key]["localeInfo"][m.locale].get(m.field) or ""
    return limits.vendor_length(value) > limit


def fields_fit_unless_flagged(site: Site, page: Page) -> list[harness.Measured]:
    """No unflagged field passes its box; every flagged one really does or is too long."""
    measured = harness.measure_fields(page)
    assert measured, f"no data-field elements on {page.url}"
    unflagged_overflow = [m for m in measured if not m.flagged and m.overflows]
    assert unflagged_overflow == []
    flagged_in_vain = [
        m for m in measured if m.flagged and not (m.overflows or over_vendor_limit(site, m))
    ]
    assert flagged_in_vain == []
    return measured


def cards_in_view(page: Page) -> list[harness.Box]:
    """Every card's box, after checking each is shown, on top, and within a phone's width."""
    boxes = harness.card_boxes(page)
    assert boxes, f"no cards on {page.url}"
    assert [b for b in boxes if not (b.shown and b.inside_phone and b.on_top)] == []
    assert {box.width for box in boxes} == {harness.CARD_WIDTH_PX}
    return boxes
