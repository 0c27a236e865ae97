"""Entries the catalog cannot send, shown anyway: their cards drawn from what they render to,
unchecked, with each problem the catalog check found marked on the field it names.

The rendered body of an invalid entry may hold anything (a number as text, a list where a text
belongs, a date the rules refuse): it is read as defensively as a published payload, converting
only what converts cleanly, and every value of an unexpected type is shown as text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, TypeVar

from pydantic import JsonValue
from pydantic_core import PydanticCustomError

from reconciler.domain.catalog import CatalogEntry, InvalidEntry
from reconciler.domain.contract.codes import ResultCode
from reconciler.domain.contract.dates import to_end_millis, to_epoch_millis
from reconciler.domain.plan import PlanStep, Vanished
from reconciler.domain.plan_render.facts import product_words
from reconciler.domain.preview.card import CardContext, build_card, entry_title
from reconciler.domain.preview.measure import visible_line
from reconciler.domain.preview.model import (
    LOCALES,
    ButtonView,
    CardProblem,
    CardRow,
    CardView,
    CodeView,
    EntryView,
    FieldView,
    ImageView,
    Invalid,
    PriceView,
    ProblemFile,
    ProblemKind,
)
from reconciler.domain.problems import Problem

_LOCALE_TEXTS: Final = frozenset({"brandName", "name", "subName", "description"})
# A payload field -> the card element (`data-field`) showing it, where the names differ.
_SHOWN_IN: Final = {
    "currentAmountCent": "price",
    "originalAmountCent": "price",
    "currencyCode": "price",
    "codeType": "code",
    "codeStandard": "code",
    "codeStandrad": "code",
    "passExtInfo": "ticket",
    "product": "ticket",
    "type": "ticket",
}
_ON_CARD: Final = frozenset(
    {
        "merchantLogo",
        "imageUrl",
        "startDate",
        "endDate",
        "button",
        "categories",
        "stock",
        "exposure",
        "bizMids",
        "orderPageLink",
        "detailLink",
    }
)
_WHOLE_NUMBER: Final = re.compile(r"^\s*-?\d{1,18}\s*$")
_DATES: Final[Mapping[str, Callable[[object], int]]] = {
    "startDate": to_epoch_millis,
    "endDate": to_end_millis,
}


def lenient_payload(tree: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    """`tree` as the card reads a payload: dates in milliseconds and whole numbers written as
    text as numbers, where they convert; every other value as it is."""
    payload = dict(tree)
    for name, convert in _DATES.items():
        if name in payload:
            # A date that does not convert is shown as written.
            with contextlib.suppress(PydanticCustomError, ValueError, TypeError, OverflowError):
                payload[name] = convert(payload[name])
    for name in ("currentAmountCent", "originalAmountCent", "stock"):
        value = payload.get(name)
        if isinstance(value, str) and _WHOLE_NUMBER.match(value):
            payload[name] = int(value)
    return payload


def invalid_entry_view(entry: InvalidEntry, context: CardContext, slug: str) -> EntryView:
    """The page of an invalid entry: its cards as far as they can be drawn, each problem of the
    catalog check on the card and field it names; the rest above the cards."""
    tree = entry.tree()
    payload = lenient_payload(tree)
    locales = _locales(payload)
    on_card, outside = _sorted_out(entry.problems, tree, locales)
    cards = tuple(
        with_found(build_card(entry.key, payload, locale, "catalog", context), on_card[locale])
        for locale in locales
    )
    count = len(entry.problems)
    product = payload.get("product")
    return EntryView(
        key=entry.key,
        slug=slug,
        action=Invalid.INVALID,
        reason=(
            f"invalid: {count} problem{'' if count == 1 else 's'} to fix before it can be sent "
            "(`ipass validate` lists them); the cards show what it renders to, unchecked"
        ),
        badge=None,
        note=None,
        product=product_words(product if isinstance(product, str) else None),
        title=entry_title(payload),
        source=visible_line(f"{entry.file}:{entry.line}"),
        rows=(CardRow("catalog (invalid: not sent)", cards),),
        entry_problems=tuple(outside),
    )


def _sorted_out(
    problems: Iterable[Problem], tree: Mapping[str, JsonValue], locales: Sequence[str]
) -> tuple[dict[str, list[CardProblem]], list[CardProblem]]:
    """The problems each locale's card shows, and those shown once above the cards."""
    on_card: dict[str, list[CardProblem]] = {locale: [] for locale in locales}
    outside: list[CardProblem] = []
    for at, problem in (place(problem, tree) for problem in problems):
        if problem.field == "card" and problem.kind is not ProblemKind.MISSING_LOCALE:
            outside.append(problem)  # no element holds it: said once, above the cards
        elif at is None:
            for found in on_card.values():
                found.append(problem)
        elif at in on_card:
            on_card[at].append(problem)
        else:
            outside.append(problem)  # texts of a locale that has no card
    return on_card, outside


def place(problem: Problem, tree: Mapping[str, JsonValue]) -> tuple[str | None, CardProblem]:
    """Which card shows `problem` (a locale, or None for every card) and what it shows: its
    kind, the element holding the value (`card` for none), its message and where it was found."""
    parts = [part for part in re.split(r"[.\[\]]", problem.field) if part]
    head = parts[0] if parts else ""
    locale: str | None = None
    if head == "localeInfo" and len(parts) >= 2:
        locale = parts[1]
        field = parts[2] if len(parts) >= 3 and parts[2] in _LOCALE_TEXTS else "card"
    else:
        field = _SHOWN_IN.get(head, head if head in _ON_CARD else "card")
    kind = _kind(problem, head, tree)
    if kind is ProblemKind.MISSING_LOCALE:
        locale, field = None, "card"
    message = visible_line(problem.message + (f" [{problem.code}]" if problem.code else ""))
    return locale, CardProblem(kind, field, message, _where(problem), problem.field or None)


def _kind(problem: Problem, head: str, tree: Mapping[str, JsonValue]) -> ProblemKind:
    code = problem.code
    if problem.message.startswith("longer than"):
        return ProblemKind.TOO_LONG
    if code == ResultCode.PASS_TEMPLATE_START_TIME_LESS_CURRENT:
        return ProblemKind.STARTS_IN_PAST
    if code == ResultCode.PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL and head == "endDate":
        return ProblemKind.ENDS_BEFORE_START
    url = tree.get(head) if head in ("imageUrl", "merchantLogo") else None
    if isinstance(url, str) and not url.startswith("https://"):
        return ProblemKind.NOT_HTTPS
    if problem.field == "localeInfo" and not _locale_dicts(tree.get("localeInfo")):
        return ProblemKind.MISSING_LOCALE
    return ProblemKind.INVALID


def _where(problem: Problem) -> str:
    where = f"{problem.file}:{problem.line}:{problem.column}"
    return visible_line(f"{where} {problem.field}" if problem.field else where)


def with_found(card: CardView, found: Sequence[CardProblem]) -> CardView:
    """`card`, of an invalid entry, with the catalog check's problems: each replaces the card's
    own of the same kind on the same field (the check's is located), and flags the element
    holding the value."""
    if not found:
        return dataclasses.replace(card, invalid=True)
    replaced = {(p.kind, p.field) for p in found}
    own = [p for p in card.problems if (p.kind, p.field) not in replaced]
    kinds: dict[str, list[ProblemKind]] = {}
    for problem in found:
        kinds.setdefault(problem.field, []).append(problem.kind)
    return dataclasses.replace(
        card,
        invalid=True,
        problems=(*found, *own),
        merchant_logo=_flagged(card.merchant_logo, "merchantLogo", kinds),
        brand_name=_one_line(card.brand_name, kinds),
        name=_one_line(card.name, kinds),
        sub_name=_one_line(card.sub_name, kinds),
        image=_flagged(card.image, "imageUrl", kinds),
        price=_flagged(card.price, "price", kinds),
        start_date=_flagged(card.start_date, "startDate", kinds),
        end_date=_flagged(card.end_date, "endDate", kinds),
        code=_flagged(card.code, "code", kinds),
        button=_flagged(card.button, "button", kinds),
        description=_flagged(card.description, "description", kinds),
        categories=_flagged(card.categories, "categories", kinds),
        stock=_flagged(card.stock, "stock", kinds),
        exposure=_flagged(card.exposure, "exposure", kinds),
        ticket=_flagged(card.ticket, "ticket", kinds),
        biz_mids=_flagged(card.biz_mids, "bizMids", kinds),
        order_page_link=_flagged(card.order_page_link, "orderPageLink", kinds),
        detail_link=_flagged(card.detail_link, "detailLink", kinds),
    )


_View = TypeVar("_View", FieldView, ImageView, PriceView, CodeView, ButtonView)


def _flagged(view: _View, name: str, kinds: Mapping[str, Sequence[ProblemKind]]) -> _View:
    """`view` (drawn in the element `name`) with the kinds found there added to its flags."""
    here: Sequence[ProblemKind] = kinds.get(name, ())
    if not here:
        return view
    merged = (*view.flags, *(kind for kind in dict.fromkeys(here) if kind not in view.flags))
    return dataclasses.replace(view, flags=merged)


def _one_line(view: FieldView, kinds: Mapping[str, Sequence[ProblemKind]]) -> FieldView:
    """A one-line text over the vendor's limit is marked like one too wide for its box."""
    flagged = _flagged(view, view.name, kinds)
    if ProblemKind.TOO_LONG in flagged.flags and not flagged.overflow:
        return dataclasses.replace(flagged, overflow=True)
    return flagged


def _locale_dicts(info: JsonValue) -> list[str]:
    if not isinstance(info, dict):
        return []
    return [locale for locale in LOCALES if isinstance(info.get(locale), dict)]


def _locales(payload: Mapping[str, JsonValue]) -> tuple[str, ...]:
    return tuple(_locale_dicts(payload.get("localeInfo"))) or LOCALES[:1]


def problem_files(problems: Iterable[Problem], placed: Iterable[InvalidEntry]) -> list[ProblemFile]:
    """The catalog's problems that no invalid entry's cards show, by file, in file order."""
    shown = {problem for entry in placed for problem in entry.problems}
    by_file: dict[str, list[CardProblem]] = {}
    for problem in sorted(set(problems) - shown):
        by_file.setdefault(problem.file, []).append(unreadable_problem(problem))
    return [ProblemFile(visible_line(file), tuple(found)) for file, found in by_file.items()]


def unreadable_problem(problem: Problem) -> CardProblem:
    """A problem of the catalog check that no card field holds, located."""
    message = problem.message + (f" [{problem.code}]" if problem.code else "")
    field = problem.field or "file"
    return CardProblem(ProblemKind.INVALID, field, visible_line(message), _where(problem), field)


def unreadable_files(
    problems: Iterable[Problem], placed: Iterable[InvalidEntry | CatalogEntry]
) -> dict[str, list[Problem]]:
    """The files no entry came from (they could not be read or rendered), with their problems:
    a published key recorded from one of them is not gone, its file is broken."""
    rendered = {entry.file for entry in placed}
    found: dict[str, list[Problem]] = {}
    for problem in sorted(set(problems)):
        if problem.file not in rendered:
            found.setdefault(problem.file, []).append(problem)
    return found


def recorded_file(step: PlanStep) -> str | None:
    """The file a published key gone from the catalog was recorded from."""
    source = step.recorded.source if isinstance(step, Vanished) else None
    return source.rsplit(":", 1)[0] if source is not None else None


def unread_problems(
    step: PlanStep, unreadable: Mapping[str, Sequence[Problem]]
) -> Sequence[Problem]:
    """The problems of the file `step`'s key was recorded from, if it could not be read."""
    file = recorded_file(step)
    return unreadable.get(file, ()) if file is not None else ()


def unreadable_view(view: EntryView, found: Sequence[Problem]) -> EntryView:
    """The entry of a published key missing from the catalog because its recorded file could
    not be read or rendered: invalid, naming the file's problem (it was not removed: nothing
    says retire it)."""
    first = found[0]
    more = len(found) - 1
    reason = (
        f"invalid: its file could not be read: {first}"
        + (f" (and {more} more problem{'' if more == 1 else 's'})" if more else "")
        + "; the card shows what is published, unchanged until the file is fixed"
    )
    return dataclasses.replace(
        view,
        action=Invalid.INVALID,
        reason=visible_line(reason),
        note=None,
        entry_problems=tuple(unreadable_problem(problem) for problem in found),
    )
