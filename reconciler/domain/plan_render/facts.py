"""What a reviewer reads about each step, shared by the text and the Markdown renderers.

The values here are raw: catalog and state text is untrusted, and each renderer escapes every
value for its medium exactly once (`inline` for text, `markdown.md` for Markdown). A `literal`
fact is catalog or state text shown exactly (in `<code>` in Markdown).
"""

from __future__ import annotations

import json
import shlex
import unicodedata
from dataclasses import dataclass
from typing import Final, assert_never

from pydantic import JsonValue

from reconciler.domain.contract.dates import END_MS, MIN_MS, format_hk
from reconciler.domain.plan import Action
from reconciler.domain.plan_document_models import (
    ChangeDocument,
    MomentDocument,
    PlanDocument,
    PriceDocument,
    StepDocument,
)

# What needs a person first (so a long plan cut to fit a pull-request comment never hides it),
# then the changes, then retirements; unchanged entries last.
ORDER: Final = (
    Action.BLOCKED,
    Action.UNKNOWN,
    Action.CREATE,
    Action.REPLACE,
    Action.RETRY,
    Action.MOVE,
    Action.ADOPT,
    Action.RETIRE,
    Action.NOOP,
)
COUNTED: Final = {
    Action.CREATE: "to create",
    Action.REPLACE: "to replace",
    Action.RETRY: "to retry",
    Action.BLOCKED: "blocked",
    Action.UNKNOWN: "with an unknown outcome",
    Action.RETIRE: "to retire",
    Action.MOVE: "to move",
    Action.ADOPT: "to adopt",
    Action.NOOP: "unchanged",
}
PRODUCTS: Final = {
    "GIFT_CARD": "Gift card / coupon",
    "PASS": "Admission ticket",
    "MOVIE": "Movie ticket",
    "AIR_TICKET": "Flight ticket",
    "TRAIN_TICKET": "Train ticket",
    "BUS_TICKET": "Bus ticket",
    "SHIP_TICKET": "Ferry ticket",
}
# Invisible or line-breaking characters: controls, format characters (zero-width spaces,
# bidirectional overrides), lone surrogates, line and paragraph separators. ZWJ and ZWNJ stay:
# emoji sequences and several scripts need them.
_HIDDEN: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_JOINERS: Final = frozenset("\u200c\u200d")
_SHORT_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_AMOUNT_SUFFIX: Final = "AmountCent"
_DATE_PATHS: Final = frozenset({"startDate", "endDate"})


@dataclass(frozen=True)
class Fact:
    """One labelled value; `literal` values are catalog or state text, shown exactly, and a
    `multiline` one keeps its line breaks (each line shown on its own)."""

    label: str
    value: str
    literal: bool = False
    multiline: bool = False


@dataclass(frozen=True)
class Hint:
    """One line of advice, with the command to run if there is one."""

    prose: str
    command: str | None


def attention(document: PlanDocument) -> list[StepDocument]:
    """Steps that are not no-op, in reading order (stable: by key within an action)."""
    rank = {action: index for index, action in enumerate(ORDER)}
    steps = [step for step in document.steps if step.action is not Action.NOOP]
    return sorted(steps, key=lambda step: rank[step.action])


def unchanged(document: PlanDocument) -> list[str]:
    return [step.key for step in document.steps if step.action is Action.NOOP]


def summary_line(document: PlanDocument) -> str:
    counts = document.summary.model_dump(by_alias=True)
    parts = [f"{counts[a.value]} {COUNTED[a]}" for a in ORDER if counts[a.value]]
    where = document.binding.environment
    return f"Plan for {where}: {', '.join(parts) if parts else 'no entries in scope'}."


def destination_line(document: PlanDocument) -> str:
    """Where apply would publish, so a plan for the wrong merchant is seen before it runs."""
    binding = document.binding
    return f"Publishes to {binding.endpoint} for merchant {binding.merchant_id}."


def options_line(document: PlanDocument) -> str | None:
    """The plan's options as command-line flags, or None when there are none."""
    options = document.options
    flags = [
        *(f"--select {command_word(key)}" for key in options.targets),
        *(f"--exclude {command_word(key)}" for key in options.excludes),
        *(f"--replace {command_word(key)}" for key in options.replace),
        *(["--retry-unknown"] if options.retry_unknown else []),
    ]
    if not flags:
        return None
    outside = document.outside_selection
    left = f" ({outside} entr{'y' if outside == 1 else 'ies'} outside the selection)"
    return " ".join(flags) + (left if outside else "")


def facts(step: StepDocument, *, names: bool = True) -> list[Fact]:
    """The summary of a step; `names=False` when its whole card follows (names included)."""
    lines = [Fact("Why", step.reason), Fact("Product", product_words(step.product))]
    if names:
        lines.append(_literal("Name (zh_HK)", step.names.zh_HK, "not set"))
        lines.append(_literal("Name (en_US)", step.names.en_US, "not set"))
    lines.append(Fact("Price", price_words(step.price)))
    lines.append(Fact("Dates", date_words(step.start, step.end)))
    if step.template_code is not None:
        lines.append(_literal("Published as", step.template_code, ""))
    if step.action in (Action.UNKNOWN, Action.RETRY) and step.recorded_request_id is not None:
        lines.append(_literal("Request id", step.recorded_request_id, ""))
    lines.append(_literal("Source", step.source, "not recorded"))
    return lines


def _literal(label: str, value: str | None, missing: str) -> Fact:
    return Fact(label, value, literal=True) if value is not None else Fact(label, missing)


def changes_title(step: StepDocument) -> str:
    before = "published" if step.action in (Action.BLOCKED, Action.REPLACE) else "recorded"
    return f"Changes ({before} -> catalog)"


def change_sides(change: ChangeDocument, currency: str | None) -> tuple[str, str]:
    """Old and new value of one changed field, each one line (JSON, plus money or a date)."""
    old = "(not set)" if change.added else value_words(change.path, change.old, currency)
    new = "(removed)" if change.removed else value_words(change.path, change.new, currency)
    return old, new


def path_words(path: str) -> str:
    """A changed field's dotted path; quoted unless it starts like a field name does."""
    return path if path[:1].isascii() and path[:1].isalnum() else json.dumps(path)


def value_words(path: str, value: JsonValue, currency: str | None) -> str:
    shown = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, int) and not isinstance(value, bool):
        if path.endswith(_AMOUNT_SUFFIX):
            shown += f" ({money(value, currency)})"
        elif path in _DATE_PATHS and MIN_MS <= value < END_MS:
            shown += f" ({format_hk(value)})"
    return shown


def way_out(key: str, environment: str) -> tuple[Hint, ...]:
    """What unblocks a blocked entry: the catalog first (the Why line says what), then the
    emergency flag."""
    apply = f"ipass apply --env {command_word(environment)}"
    return (
        Hint("change the catalog as the Why line says (e.g. raise `revision:`), or", None),
        Hint(
            "in an emergency:",
            f"{apply} --replace {command_word(key)} --reason TEXT",
        ),
    )


def _vanished_way_out(key: str) -> tuple[Hint, ...]:
    """A published key that left the catalog: retire it in the catalog, or bring it back."""
    return (
        Hint(f"retire it: add `{key}: <reason>` to catalog/retired.yaml, or", None),
        Hint("restore its file (renamed? add `moved_from:` to the new one)", None),
    )


def resolve_commands(key: str, environment: str) -> tuple[Hint, ...]:
    """How to settle an unknown outcome, once AlipayHK's side is known."""
    env, word = command_word(environment), command_word(key)
    resolve = f"ipass state resolve {word} --env {env}"
    return (
        Hint("created at AlipayHK:", f"{resolve} --template-code CODE"),
        Hint("not created:", f"{resolve} --not-created"),
        Hint(
            "or re-send the same request:",
            f"ipass apply --env {env} --retry-unknown --target {word}",
        ),
    )


def next_steps(step: StepDocument, environment: str) -> tuple[str, tuple[Hint, ...]] | None:
    """What a person does about a step, for the steps that need one (blocked, unknown)."""
    key = step.key
    match step.action:
        case Action.BLOCKED if step.payload_hash is None:  # published, gone from the catalog
            return "Way out", _vanished_way_out(key)
        case Action.BLOCKED:
            return "Way out", way_out(key, environment)
        case Action.UNKNOWN:
            return "To resolve", resolve_commands(key, environment)
        case (
            Action.CREATE
            | Action.NOOP
            | Action.REPLACE
            | Action.RETIRE
            | Action.RETRY
            | Action.MOVE
            | Action.ADOPT
        ):
            return None
        case _:
            assert_never(step.action)


def plan_command(environment: str) -> str:
    return f"ipass plan --env {command_word(environment)}"


def product_words(product: str | None) -> str:
    if product is None:
        return "not set"
    return PRODUCTS.get(product, product)


def money(cents: int, currency: str | None) -> str:
    """`2800, "HKD"` -> `HK$28.00`; `1250, "USD"` -> `USD 12.50`."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    amount = f"{whole:,}.{part:02d}"
    if currency == "HKD":
        return f"{sign}HK${amount}"
    return f"{sign}{currency} {amount}" if currency else f"{sign}{amount}"


def price_words(price: PriceDocument | None) -> str:
    if price is None:
        return "not set"
    current, original, currency = price.current_cent, price.original_cent, price.currency
    if current is None:
        text = f"no selling price (original {money(original or 0, currency)})"
    elif original is not None and original != current:
        text = f"{money(current, currency)} (was {money(original, currency)})"
    else:
        text = money(current, currency)
    return text if currency else f"{text}, no currency code"


def date_words(start: MomentDocument | None, end: MomentDocument | None) -> str:
    if start is not None and end is not None:
        return f"{start.hong_kong} to {end.hong_kong}"
    if start is not None:
        return f"from {start.hong_kong}, no end date"
    if end is not None:
        return f"until {end.hong_kong}, no start date"
    return "not set"


def command_word(key: str) -> str:
    """A key as one shell word (`gift-card[100]` would otherwise be a glob)."""
    return shlex.quote(key)


def inline(text: str) -> str:
    """Untrusted text as one plain-text line, with legacy workflow commands defused.

    The GitHub Actions runner recognises `##[command]` anywhere in a line; `##[\\` is how the
    runner itself defuses its own markers in a step's output.
    """
    return one_line(text).replace("##[", "##[\\")


def one_line(text: str) -> str:
    """One visible line: line breaks and invisible characters shown as escapes."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_visible(char) for char in text)


def _visible(char: str) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if char not in _JOINERS and unicodedata.category(char) in _HIDDEN:
        return f"\\u{ord(char):04x}"
    return char
