"""The plan as a pull-request comment: a summary, counts, one collapsible block per entry.

Catalog and state text is escaped exactly once for Markdown and HTML (`&`, `<`, `>`, `|`,
backticks and every other character that Markdown would act on become character references)
and shown in `<code>`, where GitHub neither links nor @-mentions. A multi-line value (a
description) is one `<code>` per line joined with `<br>`, so it keeps its line breaks inside a
table cell or a list item and no line of it can start a Markdown block.

A create, replace or adopt (and a move that publishes) shows its whole card, the two locales
side by side. Blocked and unknown entries are open; the entries with a card are open too while
the comment up to them stays under half its limit (the open cards are what a reviewer must
check), and the rest are collapsed after a note saying so. The comment stays under a length
limit, cut at an entry boundary with a note when the plan is longer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from reconciler.domain.plan import Action
from reconciler.domain.plan_document_models import CardDocument, PlanDocument, StepDocument
from reconciler.domain.plan_render.card import (
    LOCALES,
    card_facts,
    lines,
    locale_card,
    locale_facts,
    shown_card,
)
from reconciler.domain.plan_render.facts import (
    COUNTED,
    ORDER,
    Fact,
    Hint,
    attention,
    change_sides,
    changes_title,
    destination_line,
    facts,
    next_steps,
    one_line,
    options_line,
    path_words,
    plan_command,
    summary_line,
    unchanged,
)

DEFAULT_LIMIT: Final = 60_000
_MARKS: Final = {
    Action.CREATE: "🟢",
    Action.REPLACE: "🟡",
    Action.RETRY: "🟡",
    Action.RETIRE: "🟡",
    Action.MOVE: "🔵",
    Action.ADOPT: "🔵",
    Action.BLOCKED: "🔴",
    Action.UNKNOWN: "🔴",
    Action.NOOP: "⚪",
}
# Opened by default: a reviewer has to act on these; the entries showing a card (what will be
# published or recorded) are opened too, within the budget.
_OPEN: Final = frozenset({Action.BLOCKED, Action.UNKNOWN})
_OPENED: Final = "<details open>"
_CLOSED: Final = "<details>"
# Cards are open while the comment up to them is under 1/_OPEN_SHARE of its limit.
_OPEN_SHARE: Final = 2
_ESCAPES: Final = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{char: f"&#{ord(char)};" for char in "|`\\*_~[]$!#@"},
}
_TABLE: Final = str.maketrans(_ESCAPES)


@dataclass(frozen=True)
class _Block:
    """The text of one entry (or of one key in the unchanged list, or the collapse note)."""

    text: str
    action: Action | None  # None: the note before the collapsed creates


def document_markdown(document: PlanDocument, *, limit: int = DEFAULT_LIMIT) -> str:
    head = _head(document)
    tail = _unchanged_close(document) + _foot(document)
    blocks: list[_Block] = []
    used = len(head) + len(tail)
    # Entries are rendered until the comment is full; the ones after are only counted.
    for block in _blocks(document, len(head), limit // _OPEN_SHARE):
        if used + len(block.text) >= limit:
            return _cut(document, head, blocks, limit)
        used += len(block.text)
        blocks.append(block)
    if used >= limit:  # the summary alone is too long (_cut says so)
        return _cut(document, head, blocks, limit)
    return head + "".join(block.text for block in blocks) + tail


def md(text: str) -> str:
    """Untrusted text, safe anywhere in Markdown or HTML: one line, nothing Markdown acts on."""
    return one_line(text).translate(_TABLE)


def code(text: str) -> str:
    return f"<code>{md(text)}</code>"


def _head(document: PlanDocument) -> str:
    counts = document.summary.model_dump(by_alias=True)
    rows = "".join(f"| {_MARKS[a]} {COUNTED[a]} | {counts[a.value]} |\n" for a in ORDER)
    options = options_line(document)
    scope = f"Options: {code(options)}\n\n" if options is not None else ""
    scope += "".join(f"> **Warning:** {md(warning)}\n\n" for warning in document.warnings)
    return (
        "### ipass plan\n\n"
        f"**{md(summary_line(document))}**\n\n{md(destination_line(document))}\n\n{scope}"
        f"| Action | Entries |\n|---|---:|\n{rows}\n"
    )


def _foot(document: PlanDocument) -> str:
    binding = document.binding
    lineage = md(binding.lineage[:8]) if binding.lineage else "new"
    return (
        f"\n<sub>state {lineage}, serial {binding.serial}; "
        f"catalog {binding.catalog_hash[:12]}</sub>\n"
    )


def _blocks(document: PlanDocument, used: int, open_limit: int) -> Iterator[_Block]:
    """Every entry's block in reading order, the collapse note before the first closed card.

    `used` is the length of the comment before the entries: the entries showing a card stay
    open while the comment up to and including them is shorter than `open_limit`.
    """
    environment = document.binding.environment
    steps = attention(document)
    cards = sum(shown_card(step) is not None for step in steps)  # cards not yet shown
    collapsing = False
    for step in steps:
        text = _entry(step, environment)
        if shown_card(step) is not None:
            if not collapsing and used + len(text) >= open_limit:
                collapsing = True
                note = _collapsed_note(cards)
                used += len(note)
                yield _Block(note, None)
            if collapsing:
                text = _CLOSED + text.removeprefix(_OPENED)
            cards -= 1
        used += len(text)
        yield _Block(text, step.action)
    for item in _unchanged_items(unchanged(document)):
        yield _Block(item, Action.NOOP)


def _collapsed_note(count: int) -> str:
    these = "entry with a card to check is" if count == 1 else "entries with a card to check are"
    return (
        f"> [!NOTE]\n> **The other {count:,} {these} collapsed** to fit this comment's "
        "reading budget: open one to see its card.\n\n"
    )


def _entry(step: StepDocument, environment: str) -> str:
    card = shown_card(step)
    opened = _OPENED if step.action in _OPEN or card is not None else _CLOSED
    name = step.names.en_US or step.names.zh_HK
    title = f"{_MARKS[step.action]} <b>{step.action.value}</b> {code(step.key)}"
    if name is not None:
        title += f" · {code(name)}"
    parts = [f"{opened}<summary>{title}</summary>\n\n"]
    parts.extend(_item(fact) for fact in facts(step, names=card is None))
    if card is not None:
        parts.append(_card(card))
    if step.changes:
        parts.append(_changes(step))
    todo = next_steps(step, environment)
    if todo is not None:
        parts.append(_hints(*todo))
    parts.append("\n</details>\n\n")
    return "".join(parts)


def _item(fact: Fact) -> str:
    return f"- **{fact.label}:** {_fact(fact)}\n"


def _fact(fact: Fact) -> str:
    if not fact.literal:
        return md(fact.value)
    if fact.multiline:
        return "<br>".join(code(line) if line else "" for line in lines(fact.value))
    return code(fact.value)


def _card(card: CardDocument) -> str:
    """The texts as a table, one column per locale, then the rest of the card as a list."""
    columns = [locale_facts(locale_card(card, locale)) for locale in LOCALES]
    rows = "".join(
        f"| **{fact.label}** | " + " | ".join(_fact(column[row]) for column in columns) + " |\n"
        for row, fact in enumerate(columns[0])
    )
    table = f"\n| Text | {' | '.join(LOCALES)} |\n|---|---|---|\n{rows}\n"
    return table + "".join(_item(fact) for fact in card_facts(card))


def _changes(step: StepDocument) -> str:
    before = "Published" if step.action in (Action.BLOCKED, Action.REPLACE) else "Recorded"
    currency = step.price.currency if step.price is not None else None
    rows = []
    for change in step.changes:
        old, new = change_sides(change, currency)
        rows.append(f"| {code(path_words(change.path))} | {code(old)} | {code(new)} |\n")
    title = md(changes_title(step))
    return f"\n**{title}:**\n\n| Field | {before} | Catalog |\n|---|---|---|\n{''.join(rows)}"


def _hints(label: str, hints: tuple[Hint, ...]) -> str:
    shown = [
        f"{md(hint.prose)} {code(hint.command)}" if hint.command else md(hint.prose)
        for hint in hints
    ]
    return f"\n**{label}:**\n" + "".join(f"- {line}\n" for line in shown)


def _unchanged_items(keys: list[str]) -> list[str]:
    if not keys:
        return []
    opening = f"<details><summary>{_MARKS[Action.NOOP]} {len(keys)} unchanged</summary>\n\n"
    items = [f"{code(key)}, " for key in keys]
    items[0] = opening + items[0]
    items[-1] = items[-1].removesuffix(", ")
    return items


def _unchanged_close(document: PlanDocument) -> str:
    return "\n\n</details>\n" if unchanged(document) else ""


def _cut(document: PlanDocument, head: str, blocks: list[_Block], limit: int) -> str:
    """The comment cut at an entry boundary, with a note counting the entries left out.

    `blocks` are those rendered before the comment was full: the note needs room, so fewer
    may be shown.
    """
    environment = document.binding.environment
    entries = [step.action for step in attention(document)]
    entries.extend(Action.NOOP for _ in unchanged(document))
    close, foot = _unchanged_close(document), _foot(document)
    # The longest note is the one that leaves every entry out.
    used = len(head) + len(_note(entries, len(entries), environment)) + len(close) + len(foot)
    if used >= limit:
        raise ValueError(f"limit {limit} is too small for the plan's summary ({used} characters)")
    shown = 0
    for block in blocks:
        if used + len(block.text) >= limit:
            break
        used += len(block.text)
        shown += 1
    if shown and blocks[shown - 1].action is None:  # a collapse note with no card after it
        shown -= 1
    kept = blocks[:shown]
    body = "".join(block.text for block in kept)
    if any(block.action is Action.NOOP for block in kept):  # the unchanged list was opened
        body = body.removesuffix(", ") + close
    left_out = entries[sum(block.action is not None for block in kept) :]
    return head + body + _note(left_out, len(entries), environment) + foot


def _note(left_out: list[Action], total: int, environment: str) -> str:
    counts = dict.fromkeys(ORDER, 0)
    for action in left_out:
        counts[action] += 1
    which = ", ".join(f"{n:,} {COUNTED[action]}" for action, n in counts.items() if n)
    return (
        f"\n> [!NOTE]\n> **{len(left_out):,} of {total:,} entries are not shown** ({which}) "
        "to keep this comment short enough for GitHub. "
        f"Run {code(plan_command(environment))} locally to see the whole plan.\n"
    )
