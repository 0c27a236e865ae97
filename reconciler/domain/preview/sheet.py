"""The proof sheet from a plan: one entry per step, in the plan's reading order, with the
published card beside the catalog card wherever an edit is pending."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, assert_never

from pydantic import JsonValue

from reconciler.domain.catalog import CatalogEntry, InvalidEntry
from reconciler.domain.contract.dates import END_MS, MIN_MS, format_hk
from reconciler.domain.plan import (
    Adopt,
    Blocked,
    Create,
    FieldChange,
    Move,
    NoOp,
    Plan,
    PlanStep,
    Replace,
    Retire,
    Retry,
    Unknown,
    Vanished,
    step_source,
)
from reconciler.domain.plan_render.facts import COUNTED, ORDER, product_words
from reconciler.domain.preview.card import CardContext, build_card, entry_title
from reconciler.domain.preview.invalid import (
    invalid_entry_view,
    problem_files,
    recorded_file,
    unread_problems,
    unreadable_files,
    unreadable_view,
)
from reconciler.domain.preview.measure import visible_line
from reconciler.domain.preview.model import (
    LOCALES,
    CardRow,
    CardView,
    EntryView,
    ImageFacts,
    IndexRow,
    PreviewSheet,
    ProblemFile,
    Side,
)
from reconciler.domain.problems import Problem

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")
_SLUG_STEM_MAX: Final = 80
# A changed payload path's first part -> the card field showing it.
_FIELD_OF: Final = {
    "currentAmountCent": "price",
    "originalAmountCent": "price",
    "currencyCode": "price",
    "codeType": "code",
    "codeStandard": "code",
    "passExtInfo": "ticket",
    "product": "ticket",
    "type": "ticket",
}
_LOCALE_FIELDS: Final = ("brandName", "name", "subName", "description")


@dataclass(frozen=True)
class SheetInputs:
    """What the cards are checked against: the clock and the images found (None: no source)."""

    now_ms: int
    images: Mapping[str, ImageFacts] | None
    merchant: str | None = None  # the environment's merchant id (the plan's binding)
    # Recorded source files that no longer exist (the use case looks; the domain does no I/O).
    removed: frozenset[str] = frozenset()


def slug_of(key: str) -> str:
    """A file name for the key's page: safe characters, plus a short hash to keep it unique."""
    stem = _UNSAFE.sub("_", key)[:_SLUG_STEM_MAX]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{stem}-{digest}"


@dataclass(frozen=True)
class CatalogFaults:
    """What the catalog check refused: entries that rendered but are invalid (shown first, with
    their cards), and every problem found (those no card shows are listed by file)."""

    invalid: Sequence[InvalidEntry] = ()
    problems: Sequence[Problem] = ()
    entries: Sequence[CatalogEntry] = ()  # the valid ones (their files were read)


@dataclass(frozen=True)
class SheetOutline:
    """The sheet before its views: the entries in page order (an invalid entry's view already
    built, a plan step's view still to build with `page_view`), and the index's summary."""

    environment: str
    summary: str
    items: tuple[EntryView | PlanStep, ...]
    problem_files: tuple[ProblemFile, ...]
    inputs: SheetInputs
    # Unreadable files' problems, for the steps whose recorded file could not be read.
    unreadable: Mapping[str, Sequence[Problem]]


def sheet_outline(
    plan: Plan, inputs: SheetInputs, faults: CatalogFaults = CatalogFaults()
) -> SheetOutline:
    """One entry per step in the plan's reading order, after the invalid entries (what needs a
    person most). Only the invalid entries' views are built here."""
    inputs = dataclasses.replace(inputs, merchant=plan.binding.merchant_id)
    rank = {action: index for index, action in enumerate(ORDER)}
    steps = sorted(plan.steps, key=lambda step: (rank[step.action], step.key))
    taken = {step.key for step in steps}
    invalid: list[EntryView | PlanStep] = []
    for entry in sorted(faults.invalid, key=lambda entry: (entry.key, entry.file)):
        # A key defined twice (a problem listed on its own) still gets a page per definition.
        name = entry.key if entry.key not in taken else f"{entry.key}@{entry.file}:{entry.line}"
        taken.add(name)
        context = CardContext(inputs.now_ms, inputs.images, False, merchant=inputs.merchant)
        invalid.append(invalid_entry_view(entry, context, slug_of(name)))
    unreadable = unreadable_files(faults.problems, [*faults.entries, *faults.invalid])
    # A published key whose file could not be read is as invalid as one that rendered wrong.
    unread = sorted((s for s in steps if unread_problems(s, unreadable)), key=lambda s: s.key)
    read = [step for step in steps if not unread_problems(step, unreadable)]
    invalid += unread
    counts = [(a, sum(1 for step in read if step.action is a)) for a in ORDER]
    parts = [f"{count} {COUNTED[action]}" for action, count in counts if count]
    if invalid:
        parts.insert(0, f"{len(invalid)} invalid")
    summary = f"{len(invalid) + len(read)} entries for {plan.binding.environment}: " + (
        ", ".join(parts) if parts else "none in scope"
    )
    files = problem_files(faults.problems, faults.invalid)
    return SheetOutline(
        plan.binding.environment,
        summary,
        (*invalid, *read),
        tuple(files),
        inputs,
        {file: unreadable[file] for s in unread if (file := recorded_file(s)) is not None},
    )


def page_view(
    item: EntryView | PlanStep, inputs: SheetInputs, unreadable: Mapping[str, Sequence[Problem]]
) -> EntryView:
    """The view of an outline's entry (`inputs` and `unreadable` are the outline's)."""
    return item if isinstance(item, EntryView) else _unread_view(item, unreadable, inputs)


def sheet_index(outline: SheetOutline, rows: Sequence[IndexRow]) -> PreviewSheet:
    """The index of the outline, from the rows of its views in page order."""
    return PreviewSheet(outline.environment, outline.summary, tuple(rows), outline.problem_files)


def _unread_view(
    step: PlanStep, unreadable: Mapping[str, Sequence[Problem]], inputs: SheetInputs
) -> EntryView:
    view = entry_view(step, inputs)
    found = unread_problems(step, unreadable)
    return unreadable_view(view, found) if found else view


def entry_view(step: PlanStep, inputs: SheetInputs) -> EntryView:
    sides = _sides(step)
    rows = _rows(step.key, sides, inputs)
    payload = sides.catalog if sides.catalog is not None else sides.published or {}
    source = step_source(step)
    if source is not None and source.rsplit(":", 1)[0] in inputs.removed:
        source = f"{source} (file removed)"
    retired = _retired(step)
    until = _until(sides.published, inputs.now_ms) if retired else None
    old_until = _until(sides.published, inputs.now_ms) if isinstance(step, Replace) else None
    return EntryView(
        key=step.key,
        slug=slug_of(step.key),
        action=step.action,
        reason=visible_line(step.reason),
        badge="new" if isinstance(step, Create) else "retired" if retired else None,
        note=_note(step, until or old_until),
        until=until,
        product=product_words(_text(payload.get("product"))),
        title=entry_title(payload),
        source=visible_line(source) if source is not None else None,
        rows=rows,
        facts=_published_facts(step),
    )


def _published_facts(step: PlanStep) -> tuple[tuple[str, str], ...]:
    """The template a step is about at AlipayHK: its code, and for a create in doubt the
    request id to ask about."""
    if isinstance(step, Adopt):
        return (("Published as", visible_line(step.template_code)),)
    if isinstance(step, Create):
        return ()
    record = step.recorded
    found = []
    if record.template_code is not None:
        found.append(("Published as", visible_line(record.template_code)))
    if isinstance(step, Unknown | Retry):
        found.append(("Request id", visible_line(record.request_id)))
    return tuple(found)


Payload = Mapping[str, JsonValue]


@dataclass(frozen=True)
class _Sides:
    published: Payload | None
    catalog: Payload | None
    changes: tuple[FieldChange, ...] = ()
    will_send: bool = False  # the catalog side is about to be sent
    unchanged: bool = False  # published and unchanged: the catalog side is what is live


def _sides(step: PlanStep) -> _Sides:  # noqa: PLR0911 - one arm per step kind
    match step:
        case Create():
            return _Sides(None, step.desired.payload, will_send=True)
        case Adopt():
            return _Sides(None, step.desired.payload)
        case NoOp():
            desired = step.desired.payload if step.desired is not None else None
            return _Sides(
                step.recorded.payload if desired is None else None, desired, unchanged=True
            )
        case Blocked() | Replace() | Unknown():
            desired = step.desired.payload if step.desired is not None else None
            return _Sides(step.recorded.payload, desired, step.changes, isinstance(step, Replace))
        case Move():
            published = step.recorded.payload if step.changes else None
            return _Sides(published, step.desired.payload, step.changes, step.send is not None)
        case Retry():
            desired = step.desired.payload if step.desired is not None else None
            published = step.recorded.payload if desired is None or step.changes else None
            return _Sides(published, desired, step.changes, will_send=True)
        case Retire() | Vanished():
            return _Sides(step.recorded.payload, None)
        case _:
            assert_never(step)


def changed_fields(changes: Iterable[FieldChange]) -> dict[str | None, set[str]]:
    """Card fields each change touches: under a locale for locale texts, else under None."""
    found: dict[str | None, set[str]] = {}
    for change in changes:
        parts = re.split(r"[.\[]", change.path)
        head = parts[0]
        if head == "localeInfo" and len(parts) >= 2:
            locale = parts[1]
            names = {parts[2]} if len(parts) >= 3 else set(_LOCALE_FIELDS)
            found.setdefault(locale, set()).update(names)
        else:
            found.setdefault(None, set()).add(_FIELD_OF.get(head, head))
    return found


def _rows(key: str, sides: _Sides, inputs: SheetInputs) -> tuple[CardRow, ...]:
    changed = changed_fields(sides.changes)
    published, catalog, will_send = sides.published, sides.catalog, sides.will_send

    def cards(payload: Payload, side: Side, sent: bool, marked: bool) -> list[CardView]:
        return [
            build_card(
                key,
                payload,
                locale,
                side,
                CardContext(
                    inputs.now_ms,
                    inputs.images,
                    sent,
                    (changed.get(None, set()) | changed.get(locale, set())) if marked else (),
                    inputs.merchant,
                ),
            )
            for locale in _locales(payload)
        ]

    if published is not None and catalog is not None:
        old = {card.locale: card for card in cards(published, "published", False, True)}
        new = {card.locale: card for card in cards(catalog, "catalog", will_send, True)}
        return tuple(
            CardRow(f"{locale}: published, then catalog", tuple(_present(old, new, locale)))
            for locale in LOCALES
            if locale in old or locale in new
        )
    if catalog is not None and sides.unchanged:
        live = cards(catalog, "catalog", False, False)
        shown = tuple(dataclasses.replace(card, unchanged=True) for card in live)
        return (CardRow("published (unchanged)", shown),)
    if catalog is not None:
        return (CardRow("catalog", tuple(cards(catalog, "catalog", will_send, False))),)
    if published is not None:
        return (CardRow("published", tuple(cards(published, "published", False, False))),)
    return ()


def _present(
    old: Mapping[str, CardView], new: Mapping[str, CardView], locale: str
) -> list[CardView]:
    return [side[locale] for side in (old, new) if locale in side]


def _locales(payload: Payload) -> tuple[str, ...]:
    info = payload.get("localeInfo")
    present = tuple(
        locale
        for locale in LOCALES
        if isinstance(info, dict) and isinstance(info.get(locale), dict)
    )
    return present or LOCALES[:1]  # no texts at all: one card that says so


def _retired(step: PlanStep) -> bool:
    """Retired now, or earlier (an unchanged entry whose template is recorded retired)."""
    return isinstance(step, Retire) or (
        isinstance(step, NoOp) and step.recorded.status == "retired"
    )


def _end_of(payload: Payload | None) -> int | None:
    end = payload.get("endDate") if payload is not None else None
    if isinstance(end, int) and not isinstance(end, bool) and MIN_MS <= end < END_MS:
        return end
    return None


def _until(published: Payload | None, now_ms: int) -> str:
    end = _end_of(published)
    if end is None:
        return "stays live until its end date"
    return f"stays live until {format_hk(end)}" if end > now_ms else f"ended {format_hk(end)}"


def _note(step: PlanStep, until: str | None) -> str | None:
    match step:
        case Retire():
            live = until is None or not until.startswith("ended")
            why = "AlipayHK has no API to withdraw a template" if live else "no longer live"
            return f"{until}: {why}"
        case NoOp() if until is not None:
            return f"retired earlier; {until}"
        case Vanished():
            return "gone from the catalog without being declared retired"
        case Adopt():
            code = visible_line(step.template_code)
            return f"recorded as the existing template {code}; nothing is sent"
        case Replace():
            return f"published as a new template; the old one {until}"
        case _:
            return None


def _text(value: JsonValue) -> str | None:
    return value if isinstance(value, str) else None


def image_urls(plan: Plan, invalid: Iterable[InvalidEntry] = ()) -> list[str]:
    """Every https image and logo URL the cards of `plan` and of the `invalid` entries show, once
    each, in the order of the pages."""
    payloads: list[Payload | None] = [entry.tree() for entry in invalid]
    for step in plan.steps:
        sides = _sides(step)
        payloads += [sides.published, sides.catalog]
    seen: dict[str, None] = {}
    for payload in payloads:
        for name in ("imageUrl", "merchantLogo"):
            url = payload.get(name) if payload is not None else None
            if isinstance(url, str) and url.startswith("https://"):
                seen.setdefault(url, None)
    return list(seen)
