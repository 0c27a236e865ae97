"""An invalid catalog's preview as a reviewer opens it: the invalid entries come first, a name
over the vendor's limit is flagged and really runs past its box, and every problem the catalog
check found is visible on the card, on the field it names, with where it was found."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from browser import harness, projects
from browser.checks import LOCALES, cards_in_view, entry_page
from browser.projects import Site
from reconciler.domain.contract import limits

pytestmark = pytest.mark.browser


def flagged_kinds(page: Page, locale: str, name: str) -> list[str]:
    element = page.locator(f'[data-card][data-locale="{locale}"] [data-field="{name}"]')
    return (element.get_attribute("data-flagged") or "").split()


def test_the_invalid_entries_come_first_and_the_unreadable_file_is_listed(
    invalid_site: Site, strict: harness.Offline
) -> None:
    index = strict.cached(invalid_site.index)
    actions = [action for _, action, _ in harness.entry_pages(index, invalid_site.out)]
    assert actions[:4] == ["invalid"] * 4
    assert "invalid" not in actions[4:]
    broken = index.locator(f'li[data-file="{projects.BROKEN_FILE}"]')
    assert broken.get_attribute("data-action") == "invalid"
    note = broken.locator('.problem[data-problem="invalid"]')
    assert note.is_visible()
    assert "invalid YAML" in note.inner_text()
    assert f"{projects.BROKEN_FILE}:3:1" in note.locator("[data-where]").inner_text()


def test_a_too_long_name_is_flagged_and_runs_past_its_box(
    invalid_site: Site, strict: harness.Offline, artifacts: Path
) -> None:
    page = entry_page(invalid_site, projects.LONG_KEY, strict)
    assert page.evaluate("typeof window.__pwned") == "undefined"  # the name's script is text
    assert {box.locale for box in cards_in_view(page)} == LOCALES
    measured = harness.measure_fields(page)
    assert [m for m in measured if m.overflows and not m.flagged] == []
    [name] = [m for m in measured if (m.locale, m.field) == ("en_US", "name")]
    assert name.flagged
    assert " ".join(name.text.split()) == projects.LONG_NAME  # the whole text, not cut
    assert limits.vendor_length(name.text) > limits.NAME_MAX_EN
    assert name.overflows  # and on a phone it really passes the card's width
    assert flagged_kinds(page, "en_US", "name") == ["too-long", "overflow"]
    element = page.locator('[data-card][data-locale="en_US"] [data-field="name"]')
    assert harness.clipping(element) == []  # shown past the box, never hidden
    note = page.locator('[data-card][data-locale="en_US"] .problem[data-problem="too-long"]')
    assert note.is_visible()
    assert "longer than 24 characters" in note.inner_text()
    where = note.locator("[data-where]").inner_text()
    assert where == "catalog/templates/bad/long-name.yaml:9:11 localeInfo.en_US.name"
    assert flagged_kinds(page, "zh_HK", "name") == []
    page.screenshot(path=artifacts / "invalid-long-name.png", full_page=True)


@pytest.mark.parametrize(
    ("key", "kind", "field"),
    [
        (projects.HTTP_KEY, "not-https", "merchantLogo"),
        (projects.PAST_KEY, "starts-in-past", "startDate"),
        (projects.BACKWARDS_KEY, "ends-before-start", "endDate"),
    ],
)
def test_each_problem_is_visible_on_both_cards_at_its_field(
    invalid_site: Site, strict: harness.Offline, key: str, kind: str, field: str
) -> None:
    page = entry_page(invalid_site, key, strict)
    assert {box.locale for box in cards_in_view(page)} == LOCALES
    for locale in LOCALES:
        card = page.locator(f'[data-card][data-locale="{locale}"]')
        element = card.locator(f'[data-field="{field}"]')
        assert element.is_visible()
        assert kind in flagged_kinds(page, locale, field)
        note = card.locator(f'.problem[data-problem="{kind}"][data-problem-field="{field}"]')
        assert note.is_visible()
        assert note.locator("[data-where]").inner_text().startswith(f"catalog/templates/bad/{key}")
        assert "catalog (invalid: not sent)" in card.locator(".card-label").inner_text()
