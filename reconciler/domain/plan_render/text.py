"""The plan as plain text for a terminal or a CI log: a proof sheet, one block per entry.

Every line starts with text of ours (a label, an action word, or the `|` that opens each line
of a description), never with catalog text, so a name cannot forge a line, a terminal escape
or a GitHub Actions workflow command. Catalog text goes through `inline` exactly once.
"""

from __future__ import annotations

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
    Fact,
    Hint,
    attention,
    change_sides,
    changes_title,
    destination_line,
    facts,
    inline,
    next_steps,
    options_line,
    path_words,
    summary_line,
    unchanged,
)

_GREEN: Final = "\x1b[32m"
_YELLOW: Final = "\x1b[33m"
_RED: Final = "\x1b[31m"
_BOLD: Final = "\x1b[1m"
_RESET: Final = "\x1b[0m"
_COLORS: Final = {
    Action.CREATE: _GREEN,
    Action.REPLACE: _YELLOW,
    Action.RETRY: _YELLOW,
    Action.RETIRE: _YELLOW,
    Action.MOVE: _YELLOW,
    Action.ADOPT: _YELLOW,
    Action.BLOCKED: _RED,
    Action.UNKNOWN: _RED,
}
_LABEL_WIDTH: Final = 15
_INDENT: Final = "  "
# A locale's texts are one level in, their values in the same column as every other value.
_NESTED: Final = (_INDENT * 2, _LABEL_WIDTH - len(_INDENT))


def document_text(document: PlanDocument, *, color: bool = False) -> str:
    lines = [inline(summary_line(document)), inline(destination_line(document))]
    options = options_line(document)
    if options is not None:
        lines.append(f"Options: {inline(options)}")
    lines.extend(f"Warning: {inline(warning)}" for warning in document.warnings)
    for step in attention(document):
        lines.extend(["", *_entry(step, document.binding.environment, color=color)])
    keys = unchanged(document)
    if keys:
        lines.extend(["", f"Unchanged ({len(keys)}): {', '.join(inline(k) for k in keys)}"])
    return "\n".join(lines) + "\n"


def _entry(step: StepDocument, environment: str, *, color: bool) -> list[str]:
    header = f"{step.action.value:<8} {inline(step.key)}"
    if color:
        header = f"{_BOLD}{_COLORS.get(step.action, '')}{header}{_RESET}"
    card = shown_card(step)
    lines = [header]
    for fact in facts(step, names=card is None):
        lines.extend(_fact(fact))
    if card is not None:
        lines.extend(_card(card))
    if step.changes:
        lines.append(f"{_INDENT}{changes_title(step)}:")
        currency = step.price.currency if step.price is not None else None
        for change in step.changes:
            old, new = change_sides(change, currency)
            path = path_words(change.path)
            lines.append(f"{_INDENT * 2}{inline(path)}: {inline(old)} -> {inline(new)}")
    todo = next_steps(step, environment)
    if todo is not None:
        lines.extend(_block(*todo))
    return lines


def _card(card: CardDocument) -> list[str]:
    shown = []
    for locale in LOCALES:
        texts = locale_card(card, locale)
        if texts is None:
            shown.append(_labelled(locale, "not set"))
            continue
        shown.append(f"{_INDENT}{locale}:")
        for fact in locale_facts(texts):
            shown.extend(_fact(fact, *_NESTED))
    for fact in card_facts(card):
        shown.extend(_fact(fact))
    return shown


def _fact(fact: Fact, indent: str = _INDENT, width: int = _LABEL_WIDTH) -> list[str]:
    """A fact's lines; each line of a multi-line value starts with `|`, so it starts with ours."""
    if not fact.multiline:
        return [_labelled(fact.label, inline(fact.value), indent, width)]
    values = [f"| {inline(line)}" if line else "|" for line in lines(fact.value)]
    return [
        _labelled("" if index else fact.label, value, indent, width)
        for index, value in enumerate(values)
    ]


def _labelled(label: str, value: str, indent: str = _INDENT, width: int = _LABEL_WIDTH) -> str:
    head = f"{label}:" if label else ""
    return f"{indent}{head:<{width}}{value}"


def _block(label: str, hints: tuple[Hint, ...]) -> list[str]:
    words = [f"{hint.prose} {hint.command}" if hint.command else hint.prose for hint in hints]
    return [_labelled("" if index else label, inline(text)) for index, text in enumerate(words)]
