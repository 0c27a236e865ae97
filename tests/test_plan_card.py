"""The plan shows the whole card: every customer-facing field a reviewer must see, in text and
in the pull-request comment, safely and within the comment's budget."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from helpers import EXAMPLE_CATALOG, REPO, run_cli
from pydantic import JsonValue
from test_plan_render import (
    APP,
    CDN,
    MUSEUM_NEW,
    MUSEUM_OLD,
    assert_no_workflow_command,
    blocked,
    body,
    create,
    details,
    entry,
    make_plan,
    replaced,
    retire,
    summaries,
)

from reconciler.domain.plan import Adopt, Desired, PlanStep
from reconciler.domain.plan_render import plan_markdown, plan_text
from reconciler.domain.plan_render.markdown import md

LOCALES = ("zh_HK", "en_US")
EXAMPLE_KEYS = 10


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example project (its catalog and ipass.toml), with no state yet."""
    shutil.copytree(EXAMPLE_CATALOG, tmp_path / "catalog")
    shutil.copy(REPO / "ipass.toml", tmp_path / "ipass.toml")
    return tmp_path


def ipass(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> str:
    run = run_cli(capsys, "-C", str(root), *args)
    assert run.code == 0, run.err
    return run.out


def rendered(capsys: pytest.CaptureFixture[str], root: Path) -> dict[str, dict[str, JsonValue]]:
    bodies = json.loads(ipass(capsys, root, "render"))
    assert len(bodies) == EXAMPLE_KEYS
    return {key: value for key, value in bodies.items() if isinstance(value, dict)}


def texts(payload: dict[str, JsonValue], locale: str) -> dict[str, str]:
    locales = payload["localeInfo"]
    assert isinstance(locales, dict)
    found = locales[locale]
    assert isinstance(found, dict)
    return {name: value for name, value in found.items() if isinstance(value, str)}


def description_lines(text: str) -> list[str]:
    return text.removesuffix("\n").split("\n")


def strings(payload: dict[str, JsonValue], name: str) -> str | None:
    """A list of strings as the plan shows it, or None when the field is not set."""
    value = payload.get(name)
    return ", ".join(str(item) for item in value) if isinstance(value, list) else None


def expected_facts(payload: dict[str, JsonValue]) -> list[tuple[str, str | None]]:
    """The card's fields after its texts, as (label, value); None: shown as not set."""
    button = payload["button"]
    assert isinstance(button, dict)
    stock = payload.get("stock")
    found: list[tuple[str, str | None]] = [
        ("Image", str(payload["imageUrl"])),
        ("Logo", str(payload["merchantLogo"])),
        ("Categories", strings(payload, "categories")),
        ("Stock", f"{stock:,}" if isinstance(stock, int) else None),
        ("Code", f"{payload['codeType']} ({payload['codeStandard']})"),
        ("Button", str(button["btnType"])),
        ("Button link", str(button["btnUrl"])),
        ("Order page", _optional(payload, "orderPageLink")),
        ("Detail page", _optional(payload, "detailLink")),
        ("Exposure", str(payload["exposure"])),
        ("Merchant", str(payload["merchantId"])),
    ]
    if "bizMids" in payload:
        found.append(("bizMids", strings(payload, "bizMids")))
    if "passExtInfo" in payload:
        ticket = json.dumps(payload["passExtInfo"], ensure_ascii=False, sort_keys=True)
        found.append(("Ticket info", ticket))
    return found


def _optional(payload: dict[str, JsonValue], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) else None


def expected_card_lines(payload: dict[str, JsonValue]) -> list[str]:
    """The card as the text plan must show it, written from the request body."""
    lines: list[str] = []
    for locale in LOCALES:
        words = texts(payload, locale)
        lines += [
            f"  {locale}:",
            f"    Name:        {words['name']}",
            f"    Subtitle:    {words.get('subName', 'not set')}",
            f"    Brand:       {words['brandName']}",
        ]
        for index, line in enumerate(description_lines(words["description"])):
            lines.append(f"    {'' if index else 'Description:':<13}| {line}")
    lines += [
        f"  {label + ':':<15}{value or 'not set'}" for label, value in expected_facts(payload)
    ]
    return lines


# --- the example catalog, planned against an empty state --------------------------------------


def test_text_plan_of_the_example_shows_every_field_of_every_card(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = rendered(capsys, project)
    text = ipass(capsys, project, "plan").removesuffix("\n")  # click.echo adds a line break
    for key, payload in bodies.items():
        lines = entry(text, key)
        assert lines[0] == f"create   {key}"
        card = expected_card_lines(payload)
        start = lines.index("  zh_HK:")
        assert lines[start:] == card, key
        assert not any(line.startswith("  Name (") for line in lines)  # names are in the card
    # The fields that only some products have are all in the example, so all were checked.
    assert any("subName" in texts(payload, "en_US") for payload in bodies.values())
    assert any("\n" in texts(payload, "zh_HK")["description"] for payload in bodies.values())
    assert any("bizMids" in payload and "stock" in payload for payload in bodies.values())
    assert any("passExtInfo" in payload for payload in bodies.values())
    assert any("detailLink" in payload for payload in bodies.values())


def test_markdown_plan_of_the_example_opens_every_card_with_every_field(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = rendered(capsys, project)
    markdown = ipass(capsys, project, "plan", "--format", "markdown")
    assert markdown.count("<details open>") == EXAMPLE_KEYS
    assert "collapsed" not in markdown
    for key, payload in bodies.items():
        block = details(markdown, md(key))
        assert block.startswith("<details open><summary>🟢 <b>create</b>")
        for label, field in (("Name", "name"), ("Subtitle", "subName"), ("Brand", "brandName")):
            cells = [texts(payload, locale).get(field) for locale in LOCALES]
            shown = [f"<code>{md(cell)}</code>" if cell else "not set" for cell in cells]
            assert f"| **{label}** | {shown[0]} | {shown[1]} |\n" in block
        descriptions = [
            "<br>".join(f"<code>{md(line)}</code>" for line in description_lines(text))
            for text in (texts(payload, locale)["description"] for locale in LOCALES)
        ]
        assert f"| **Description** | {descriptions[0]} | {descriptions[1]} |\n" in block
        for label, value in expected_facts(payload):
            if value is None:
                shown_value = "not set"
            else:  # catalog text is shown exactly, in <code>; the stock is a number of ours
                shown_value = value if label == "Stock" else f"<code>{md(value)}</code>"
            assert f"- **{label}:** {shown_value}\n" in block, (key, label)


def test_json_plan_carries_the_card(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bodies = rendered(capsys, project)
    document = json.loads(ipass(capsys, project, "plan", "--format", "json"))
    assert document["format_version"] == 6
    steps = {step["key"]: step for step in document["steps"]}
    coffee, card = bodies["coffee-voucher"], steps["coffee-voucher"]["card"]
    assert card["en_US"] == {
        "name": texts(coffee, "en_US")["name"],
        "sub_name": texts(coffee, "en_US")["subName"],
        "brand_name": texts(coffee, "en_US")["brandName"],
        "description": texts(coffee, "en_US")["description"],
    }
    assert card["biz_mids"] == coffee["bizMids"]
    assert steps["museum-pass"]["card"]["ticket_details"] == bodies["museum-pass"]["passExtInfo"]


# --- hostile card text ------------------------------------------------------------------------

HOSTILE_DESCRIPTION = (
    "first </details><script>alert(1)</script>\n"
    "`rm -rf` ``` a | b | c\n"
    "@octocat ![pixel](https://evil.example/p.png)\n"
    "ok ##[error]forged annotation\n"
    "::set-output name=approved::true\n"
    "evil\u202egnp.exe \x1b[2J\n"
    "\n"
    "- [x] # last"
)


def hostile_payload(key: str) -> dict[str, JsonValue]:
    payload = body(key)
    payload["localeInfo"] = {
        "en_US": {"brandName": "B", "description": HOSTILE_DESCRIPTION, "name": "N"},
        "zh_HK": {"brandName": "</td>|", "description": HOSTILE_DESCRIPTION, "name": "名"},
    }
    payload["categories"] = ["a | b", "<b>c</b>"]
    payload["passExtInfo"] = {"tags": ["</details>", "::error::x"], "rating": "`5`"}
    return payload


def test_a_hostile_description_stays_inert_and_multi_line_in_text() -> None:
    text = plan_text(make_plan([create("h", hostile_payload("h"))]))
    assert_no_workflow_command(text)
    assert "\x1b" not in text
    assert "\u202e" not in text
    lines = entry(text, "h")
    start = lines.index("    Description: | first </details><script>alert(1)</script>")
    assert lines[start : start + 8] == [
        "    Description: | first </details><script>alert(1)</script>",
        "                 | `rm -rf` ``` a | b | c",
        "                 | @octocat ![pixel](https://evil.example/p.png)",
        "                 | ok ##[\\error]forged annotation",
        "                 | ::set-output name=approved::true",
        "                 | evil\\u202egnp.exe \\u001b[2J",
        "                 |",
        "                 | - [x] # last",
    ]
    assert '  Ticket info:   {"rating": "`5`", "tags": ["</details>", "::error::x"]}' in lines


def test_a_hostile_description_stays_escaped_and_multi_line_in_markdown() -> None:
    markdown = plan_markdown(make_plan([create("h", hostile_payload("h"))]))
    assert_no_workflow_command(markdown)
    assert "<script>" not in markdown
    assert "`" not in markdown
    assert "\x1b" not in markdown
    assert "\u202e" not in markdown
    assert "@octocat" not in markdown
    assert markdown.count("<details") == markdown.count("</details>") == 1
    (row,) = [line for line in markdown.splitlines() if line.startswith("| **Description** |")]
    assert row.count("|") == 4  # one row of three cells: nothing escaped the table
    description = "<br>".join(
        [
            "<code>first &lt;/details&gt;&lt;script&gt;alert(1)&lt;/script&gt;</code>",
            "<code>&#96;rm -rf&#96; &#96;&#96;&#96; a &#124; b &#124; c</code>",
            "<code>&#64;octocat &#33;&#91;pixel&#93;(https://evil.example/p.png)</code>",
            "<code>ok &#35;&#35;&#91;error&#93;forged annotation</code>",
            "<code>::set-output name=approved::true</code>",
            "<code>evil\\u202egnp.exe \\u001b&#91;2J</code>",
            "",
            "<code>- &#91;x&#93; &#35; last</code>",
        ]
    ).replace("\\", "&#92;")
    assert row == f"| **Description** | {description} | {description} |"
    assert "| **Brand** | <code>&lt;/td&gt;&#124;</code> | <code>B</code> |" in markdown
    assert "- **Categories:** <code>a &#124; b, &lt;b&gt;c&lt;/b&gt;</code>\n" in markdown


# --- which steps show the card ----------------------------------------------------------------


def test_replace_and_adopt_show_the_card_and_blocked_keeps_its_changes() -> None:
    key = "museum-pass"
    adopted = Adopt(
        key="adopted",
        reason="adopt a template published outside ipass",
        desired=Desired("adopted", "catalog/templates/adopted.yaml", body("adopted"), "0" * 64),
        template_code="2024110122009",
    )
    steps: list[PlanStep] = [
        replaced(key, MUSEUM_OLD, MUSEUM_NEW),
        blocked("blocked-pass", MUSEUM_OLD, {**MUSEUM_NEW, "stock": 1}),
        retire("gone", body("gone")),
        adopted,
    ]
    text = plan_text(make_plan(steps))
    replace_lines = entry(text, key)
    assert "    Subtitle:    All galleries" in replace_lines
    assert "  Changes (published -> catalog):" in replace_lines  # before -> after, as before
    assert '    localeInfo.en_US.subName: (not set) -> "All galleries"' in replace_lines
    assert f"  Image:         {CDN}/museum-pass-350.png" in entry(text, key)
    assert "  Published as:  2024110122009" in entry(text, "adopted")
    assert "    Name:        Coffee Voucher" in entry(text, "adopted")
    for summary_only in ("blocked-pass", "gone"):
        lines = entry(text, summary_only)
        assert not any(line.startswith(("  zh_HK:", "  Image:")) for line in lines)
        assert any(line.startswith("  Name (en_US):  ") for line in lines)
    markdown = plan_markdown(make_plan(steps))
    assert "| **Subtitle** | not set | <code>All galleries</code> |" in details(markdown, key)
    assert "| Field | Published | Catalog |" in details(markdown, key)
    # A replace shows the card a reviewer must check: open, like a create.
    assert details(markdown, key).startswith("<details open><summary>🟡")
    assert details(markdown, "adopted").startswith("<details open><summary>")
    assert details(markdown, "gone").startswith("<details><summary>")  # summary only
    assert "| Text |" not in details(markdown, "blocked-pass")


def test_a_missing_locale_and_unset_fields_say_not_set() -> None:
    payload = body("solo")
    payload["localeInfo"] = {"en_US": {"name": "Solo"}}
    for name in ("merchantLogo", "stock", "exposure"):
        del payload[name]
    lines = entry(plan_text(make_plan([create("solo", payload)])), "solo")
    assert "  zh_HK:         not set" in lines
    assert "    Description: not set" in lines
    assert "  Logo:          not set" in lines
    assert "  Stock:         not set" in lines
    assert "  Exposure:      not set" in lines
    markdown = plan_markdown(make_plan([create("solo", payload)]))
    assert "| **Name** | not set | <code>Solo</code> |" in markdown


# --- the comment's budget ---------------------------------------------------------------------


def many_creates(count: int) -> list[PlanStep]:
    return [create(f"c-{index:03d}", body(f"c-{index:03d}")) for index in range(count)]


def test_creates_are_open_until_half_the_limit_then_collapsed_with_a_note() -> None:
    limit = 20_000
    markdown = plan_markdown(make_plan(many_creates(12)), limit=limit)
    assert len(markdown) < limit
    keys = summaries(markdown)
    assert keys == [f"c-{index:03d}" for index in range(12)]  # everything fits
    opened = [key for key in keys if details(markdown, key).startswith("<details open>")]
    assert 0 < len(opened) < 12
    assert opened == keys[: len(opened)]  # the first ones
    note = (
        f"> [!NOTE]\n> **The other {12 - len(opened)} entries with a card to check are "
        "collapsed** to fit this comment's reading budget: open one to see its card.\n"
    )
    assert markdown.count("[!NOTE]") == 1
    # The note sits just before the first collapsed create, after the last open one.
    first_closed = f"<details><summary>🟢 <b>create</b> <code>{keys[len(opened)]}</code>"
    assert f"{note}\n{first_closed}" in markdown
    assert markdown.index(note) > markdown.index(f"<code>{opened[-1]}</code>")
    last_open_end = markdown.index("</details>", markdown.index(f"<code>{opened[-1]}</code>"))
    assert last_open_end < limit // 2
    # One more open card would have passed half the limit.
    reopened = len(details(markdown, keys[len(opened)])) + len(" open\n\n")
    assert markdown.index(note) + reopened >= limit // 2


def test_collapsed_creates_and_a_cut_comment_have_both_notes() -> None:
    limit = 20_000
    markdown = plan_markdown(make_plan(many_creates(40)), limit=limit)
    assert len(markdown) < limit
    shown = summaries(markdown)
    assert 0 < len(shown) < 40
    opened = sum(details(markdown, key).startswith("<details open>") for key in shown)
    assert 0 < opened < len(shown)
    assert f"**The other {40 - opened} entries with a card to check are collapsed**" in markdown
    assert f"**{40 - len(shown)} of 40 entries are not shown** ({40 - len(shown)} to create)" in (
        markdown
    )
    assert markdown.count("<details") == markdown.count("</details>") == len(shown)


def test_no_collapse_note_dangles_before_the_cut() -> None:
    """When the cut falls right after the collapse note, the note goes too (this happens with
    a limit small enough that the first create is already past half of it)."""
    plan = make_plan(many_creates(6))
    dropped = 0
    for limit in range(1_000, 8_000, 25):
        try:
            markdown = plan_markdown(plan, limit=limit)
        except ValueError:  # below the summary and the cut note
            continue
        assert len(markdown) < limit
        if "are collapsed**" in markdown:
            assert "<details><summary>" in markdown.split("are collapsed**", 1)[1], limit
        elif "<details" not in markdown:
            dropped += 1  # no entry fits: neither may the note about collapsing them
    assert dropped
    assert "collapsed" not in plan_markdown(plan, limit=200_000)


def test_a_link_is_shown_whole_and_never_linked() -> None:
    markdown = plan_markdown(make_plan([create("x", body("x"))]))
    link = f"{APP}&amp;page=pages/use/index&amp;query=key%3Dx"
    assert f"- **Button link:** <code>{link}</code>\n" in markdown
    assert not re.search(r"\]\(|<a ", markdown)


def test_a_summary_longer_than_the_limit_is_refused_even_with_no_entries() -> None:
    with pytest.raises(ValueError, match="too small"):
        plan_markdown(make_plan([]), limit=300)


def test_replaces_are_opened_like_creates_within_the_same_budget() -> None:
    limit = 20_000
    steps = [replaced(f"r-{i:03d}", body(f"r-{i:03d}"), body(f"r-{i:03d}x")) for i in range(12)]
    markdown = plan_markdown(make_plan(steps), limit=limit)
    keys = summaries(markdown)
    opened = [key for key in keys if details(markdown, key).startswith("<details open>")]
    assert 0 < len(opened) < 12
    assert opened == keys[: len(opened)]
    assert f"**The other {12 - len(opened)} entries with a card to check are collapsed**" in (
        markdown
    )
    last_open_end = markdown.index("</details>", markdown.index(f"<code>{opened[-1]}</code>"))
    assert last_open_end < limit // 2
