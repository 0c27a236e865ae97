"""Edits of published entries: the index puts what needs a person first, and a blocked or replaced
entry shows the published card next to the catalog's, the changed fields highlighted."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page

from browser import harness, projects
from browser.checks import LOCALES, cards_in_view, entries, entry_page, fields_fit_unless_flagged
from browser.projects import Site
from reconciler.domain.plan_render.facts import ORDER

pytestmark = pytest.mark.browser

# What each edit changed, per locale, as the customer sees it (a revision is not shown).
CHANGED = {
    projects.BLOCKED_KEY: {"zh_HK": {"price"}, "en_US": {"price", "name"}},
    projects.REPLACED_KEY: {"zh_HK": set(), "en_US": {"name"}},
}
HIGHLIGHT = (
    "backgroundColor",
    "outlineStyle",
    "outlineColor",
    "borderLeftStyle",
    "borderLeftColor",
    "boxShadow",
    "textDecorationLine",
)


def changed_fields(page: Page, side: str, locale: str) -> set[str]:
    card = page.locator(f'[data-card][data-side="{side}"][data-locale="{locale}"]')
    assert card.count() == 1, (side, locale)
    marked = card.locator('[data-field][data-changed="true"]')
    return {marked.nth(i).get_attribute("data-field") or "" for i in range(marked.count())}


def name_of(page: Page, locale: str) -> Locator:
    return page.locator(
        f'[data-card][data-side="catalog"][data-locale="{locale}"] [data-field="name"]'
    )


def test_the_index_lists_every_entry_in_plan_order(
    edited_site: Site, strict: harness.Offline
) -> None:
    index = strict.cached(edited_site.index)
    listed = [(key, action) for key, action, _ in harness.entry_pages(index, edited_site.out)]
    actions = dict(listed)
    assert actions[projects.BLOCKED_KEY] == "blocked"
    assert actions[projects.REPLACED_KEY] == "replace"
    assert actions[projects.RETIRED_KEY] == "retire"
    assert set(actions) == {*edited_site.bodies, projects.RETIRED_KEY}  # render skips retired
    rank = {action.value: i for i, action in enumerate(ORDER)}
    ranks = [rank[action] for _, action in listed]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("key", sorted(CHANGED))
def test_an_edit_shows_both_sides_with_the_changed_fields_highlighted(
    edited_site: Site, strict: harness.Offline, key: str
) -> None:
    page = entry_page(edited_site, key, strict)
    boxes = cards_in_view(page)
    assert {(box.side, box.locale) for box in boxes} == {
        (side, locale) for side in ("published", "catalog") for locale in LOCALES
    }
    for locale in LOCALES:
        assert changed_fields(page, "catalog", locale) == CHANGED[key][locale]
        assert changed_fields(page, "published", locale) <= CHANGED[key][locale]
    # The English name changed and the Chinese one did not: they must look different.
    changed = harness.style_of(name_of(page, "en_US"), *HIGHLIGHT)
    unchanged = harness.style_of(name_of(page, "zh_HK"), *HIGHLIGHT)
    assert changed != unchanged
    published = page.locator(
        '[data-card][data-side="published"][data-locale="en_US"] [data-field="name"]'
    )
    before = {
        projects.BLOCKED_KEY: "Christmas Movie Ticket",
        projects.REPLACED_KEY: "Coffee Voucher",
    }
    assert before[key] in published.inner_text()
    assert (
        edited_site.bodies[key]["localeInfo"]["en_US"]["name"]
        in name_of(page, "en_US").inner_text()
    )


def test_a_retired_entry_says_until_when_it_stays_live(
    edited_site: Site, strict: harness.Offline
) -> None:
    page = entry_page(edited_site, projects.RETIRED_KEY, strict)
    note = page.get_by_text(re.compile(r"stays live until \d{4}-\d{2}-\d{2}"))
    assert note.count() >= 1
    assert note.first.is_visible()


def test_every_page_of_a_plan_with_edits_fits_a_phone(
    edited_site: Site, strict: harness.Offline
) -> None:
    for _key, page in entries(edited_site, strict):
        cards_in_view(page)
        fields_fit_unless_flagged(edited_site, page)
