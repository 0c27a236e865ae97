"""The plan as a pull-request comment: a summary, counts, one collapsible block per entry.

Catalog and state text is escaped for Markdown and HTML (`&`, `<`, `>`, `|`, backticks and
every other character that Markdown would act on become character references) and shown in
`<code>`, where GitHub neither links nor @-mentions. The comment stays under a length limit,
cut at an entry boundary with a note when the plan is longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from reconciler.domain.plan import Action
from reconciler.domain.plan_document import PlanDocument, StepDocument
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
# Opened by default: a reviewer has to act on these.
_OPEN: Final = frozenset({Action.BLOCKED, Action.UNKNOWN})
_ESCAPES: Final = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    **{char: f"&#{ord(char)};" for char in "|`\\*_~[]$!#@"},
}
_TABLE: Final = str.maketrans(_ESCAPES)


@dataclass(frozen=True)
class _Block:
    """The text of one entry (or of one key in the unchanged list)."""

    text: str
    action: Action


def document_markdown(document: PlanDocument, *, limit: int = DEFAULT_LIMIT) -> str:
    head = _head(document)
    foot = _foot(document)
    environment = document.binding.environment
    blocks = [_Block(_entry(step, environment), step.action) for step in attention(document)]
    blocks.extend(_Block(text, Action.NOOP) for text in _unchanged_items(unchanged(document)))
    full = head + "".join(block.text for block in blocks) + _unchanged_close(document) + foot
    if len(full) < limit:
        return full
    return _cut(document, head, blocks, foot, limit)


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


def _entry(step: StepDocument, environment: str) -> str:
    opened = " open" if step.action in _OPEN else ""
    name = step.names.en_US or step.names.zh_HK
    title = f"{_MARKS[step.action]} <b>{step.action.value}</b> {code(step.key)}"
    if name is not None:
        title += f" · {code(name)}"
    parts = [f"<details{opened}><summary>{title}</summary>\n\n"]
    parts.extend(f"- **{fact.label}:** {_fact(fact)}\n" for fact in facts(step))
    if step.changes:
        parts.append(_changes(step))
    todo = next_steps(step, environment)
    if todo is not None:
        parts.append(_hints(*todo))
    parts.append("\n</details>\n\n")
    return "".join(parts)


def _fact(fact: Fact) -> str:
    return code(fact.value) if fact.literal else md(fact.value)


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
    lines = [
        f"{md(hint.prose)} {code(hint.command)}" if hint.command else md(hint.prose)
        for hint in hints
    ]
    return f"\n**{label}:**\n" + "".join(f"- {line}\n" for line in lines)


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


def _cut(document: PlanDocument, head: str, blocks: list[_Block], foot: str, limit: int) -> str:
    # The longest note is the one that leaves every entry out.
    environment = document.binding.environment
    longest = _note(blocks, len(blocks), environment)
    reserve = len(longest) + len(_unchanged_close(document)) + len(foot)
    used = len(head) + reserve
    if used >= limit:
        raise ValueError(f"limit {limit} is too small for the plan's summary ({used} characters)")
    shown = 0
    for block in blocks:
        if used + len(block.text) >= limit:
            break
        used += len(block.text)
        shown += 1
    body = "".join(block.text for block in blocks[:shown])
    if shown > len(attention(document)):  # the unchanged list was opened: close it
        body = body.removesuffix(", ") + _unchanged_close(document)
    return head + body + _note(blocks[shown:], len(blocks), environment) + foot


def _note(left_out: list[_Block], total: int, environment: str) -> str:
    counts = dict.fromkeys(ORDER, 0)
    for block in left_out:
        counts[block.action] += 1
    which = ", ".join(f"{n:,} {COUNTED[action]}" for action, n in counts.items() if n)
    return (
        f"\n> [!NOTE]\n> **{len(left_out):,} of {total:,} entries are not shown** ({which}) "
        "to keep this comment short enough for GitHub. "
        f"Run {code(plan_command(environment))} locally to see the whole plan.\n"
    )
