"""The public entry points: check a template or pass body, get every violation with its code.

The catalog validator (plan time) and the sandbox (server side) both call these, so a rule gives
the same vendor result code in both places. Field rules come from the models (pydantic errors,
converted here); rules that span fields (section 5) run on the raw input, each only where the
fields it reads are themselves valid, so one mistake is reported once and all are reported.

Numbers are checked over the whole body, including where a field's type is unknown (the
passExtInfo of most products): no integer beyond a Java long, no inf or NaN (`limits.py`).

A caller that could not produce some fields (the catalog, when a value fails to render) names
them as `unrendered`: the rest of the body is still checked, and nothing is said about those
fields or because of them (not "required", not a rule that reads them).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from reconciler.domain.contract import limits as lim
from reconciler.domain.contract.codes import (
    Loc,
    ResultCode,
    Violation,
    field_hint,
    shown,
    suggest,
    violations_of,
)
from reconciler.domain.contract.dates import (
    END_MS,
    MIN_MS,
    format_hk,
    to_end_millis,
    to_epoch_millis,
)

if TYPE_CHECKING:
    from reconciler.domain.contract.passes import PassRequest
from reconciler.domain.contract.template import (
    CODE_STANDARDS_BY_CODE_TYPE,
    PRODUCTS_BY_TYPE,
    PassExtInfo,
    TemplateContent,
    TemplateRequest,
)

__all__ = [
    "Checked",
    "Violation",
    "check_pass_request",
    "check_template_content",
    "check_template_request",
    "checked_start_ms",
    "start_date_violation",
    "template_json_schema",
]

Code = ResultCode
T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Checked(Generic[T]):
    """The validated model when nothing is wrong (`value` is None otherwise), and every problem."""

    value: T | None
    violations: tuple[Violation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def _from_pydantic(
    data: object, model: type[T], dynamic: Mapping[str, type[BaseModel]]
) -> tuple[T | None, list[Violation]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, violations_of(exc, model, dynamic)


# --- cross-field rules (section 5) -------------------------------------------------------------


def _related(loc: Loc, others: Collection[Loc]) -> bool:
    """True if `loc` is one of `others`, inside one, or holds one."""
    for other in others:
        shared = min(len(other), len(loc))
        if other[:shared] == loc[:shared]:
            return True
    return False


@dataclass(frozen=True)
class _Input:
    """The raw body, read only where no field error touches the location."""

    data: dict[str, object]
    broken: tuple[Loc, ...]
    unrendered: tuple[Loc, ...] = ()

    def valid(self, *loc: str) -> object:
        if self.broken and _related(loc, self.broken):
            return None
        return self._at(loc)

    def given(self, *loc: str) -> bool:
        # A field that could not be rendered was written, so it is not missing.
        if self.unrendered and any(loc[: len(u)] == u for u in self.unrendered):
            return True
        return self._at(loc) is not None

    def _at(self, loc: tuple[str, ...]) -> object:
        if len(loc) == 1:  # most rules read a top-level field
            return self.data.get(loc[0])
        value: object = self.data
        for part in loc:
            value = value.get(part) if isinstance(value, dict) else None
        return value

    def date(self, key: str, *, end: bool = False) -> int | None:
        value = self.valid(key)
        convert = to_end_millis if end else to_epoch_millis
        try:
            return None if value is None else convert(value)
        except PydanticCustomError:  # cannot happen for a valid field; never raise
            return None


def _when(ms: int) -> str:
    return format_hk(ms) if MIN_MS <= ms < END_MS else f"{ms} ms"


def _type_and_product(body: _Input) -> Iterator[Violation]:
    kind, product = body.valid("type"), body.valid("product")
    allowed = PRODUCTS_BY_TYPE.get(kind) if isinstance(kind, str) else None
    if allowed and isinstance(product, str) and product not in allowed:
        message = f"{product!r} is not allowed with type {kind}; use one of {', '.join(allowed)}"
        yield Violation(("product",), message, Code.PARAM_ILLEGAL)


def _code_standard(body: _Input) -> Iterator[Violation]:
    code_type, standard = body.valid("codeType"), body.valid("codeStandard")
    allowed = CODE_STANDARDS_BY_CODE_TYPE.get(code_type) if isinstance(code_type, str) else None
    if allowed and isinstance(standard, str) and standard not in allowed:
        message = (
            f"{shown(standard)} is not allowed with codeType {code_type}; "
            f"use one of {', '.join(allowed)}"
        )
        yield Violation(("codeStandard",), message, Code.PARAM_ILLEGAL)


# (field, value, fields it makes required) - 5.3
_REQUIRED_WHEN: Final = (
    ("type", "COUPON", ("stock", "orderPageLink", "exposure")),
    ("product", "PASS", ("orderPageLink", "detailLink", "exposure", "passExtInfo")),
    ("product", "MOVIE", ("orderPageLink", "detailLink", "exposure", "passExtInfo")),
)


def _conditionally_required(body: _Input) -> Iterator[Violation]:
    reported: set[str] = set()
    for field, value, required in _REQUIRED_WHEN:
        if body.valid(field) != value:
            continue
        for name in required:
            if not body.given(name) and name not in reported:
                reported.add(name)
                hint = field_hint(TemplateContent, name)
                message = f"required when {field} is {value}; {hint}"
                yield Violation((name,), message, Code.PARAM_ILLEGAL)


def _button_url(body: _Input) -> Iterator[Violation]:
    if body.valid("button", "btnType") == "usage" and not body.given("button", "btnUrl"):
        message = "required when btnType is usage; an alipayhk:// or https:// URL"
        yield Violation(("button", "btnUrl"), message, Code.PASS_TEMPLATE_BTN_URL_ILLEGAL)


def _amounts(body: _Input) -> Iterator[Violation]:
    current, original = body.valid("currentAmountCent"), body.valid("originalAmountCent")
    if isinstance(current, int) and isinstance(original, int) and current > original:
        message = f"must not exceed originalAmountCent ({original}), not {current}"
        yield Violation(("currentAmountCent",), message, Code.PARAM_ILLEGAL)


_COUPON_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        text.casefold(): code
        for code, names in lim.COUPON_CATEGORIES.items()
        for text in (code, *names)
    }
)
_TICKET_CATEGORY: Final = (
    f"a ticket category code ({lim.TICKET_CATEGORY_CODE_DIGITS} digits, e.g. 0002000100020009)"
    f" or a label of at most {lim.TICKET_CATEGORY_MAX} characters"
)


def _category_problem(kind: object, category: str) -> str | None:
    if kind == "COUPON" and category not in lim.COUPON_CATEGORIES:
        guess = _COUPON_ALIASES.get(category.casefold()) or suggest(category, lim.COUPON_CATEGORIES)
        hint = (
            f"did you mean {guess!r}?"
            if guess
            else f"use one of {', '.join(lim.COUPON_CATEGORIES)}"
        )
        return f"{shown(category)} is not a coupon category; {hint}"
    if kind == "TICKET" and not (
        category.strip() and lim.vendor_length(category) <= lim.TICKET_CATEGORY_MAX
    ):
        return f"must be {_TICKET_CATEGORY}"
    return None


def _categories(body: _Input) -> Iterator[Violation]:
    kind, categories = body.valid("type"), body.valid("categories")
    for index, category in enumerate(categories if isinstance(categories, list) else ()):
        problem = _category_problem(kind, category) if isinstance(category, str) else None
        if problem is not None:
            yield Violation(("categories", index), problem, Code.PARAM_ILLEGAL)


def _biz_mids(body: _Input) -> Iterator[Violation]:
    if body.valid("type") == "TICKET" and body.given("bizMids"):
        yield Violation(
            ("bizMids",), "only allowed when type is COUPON; remove it", Code.PARAM_ILLEGAL
        )


def start_date_violation(start_ms: int, now_ms: int) -> Violation | None:
    """The one rule that depends on the time of day: a start date must not lie in the past."""
    if start_ms >= now_ms:
        return None
    message = f"{_when(start_ms)} is in the past (now {_when(now_ms)}); start from now on"
    return Violation(("startDate",), message, Code.PASS_TEMPLATE_START_TIME_LESS_CURRENT)


def _dates(body: _Input, now_ms: int | None) -> Iterator[Violation]:
    start, end = body.date("startDate"), body.date("endDate", end=True)
    if start is not None and now_ms is not None:
        past = start_date_violation(start, now_ms)
        if past is not None:
            yield past
    if start is not None and end is not None and end <= start:
        message = f"{_when(end)} must be after startDate ({_when(start)})"
        yield Violation(("endDate",), message, Code.PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL)


def _template_rules(body: _Input, now_ms: int | None) -> Iterator[Violation]:
    yield from _type_and_product(body)
    yield from _code_standard(body)
    yield from _conditionally_required(body)
    yield from _button_url(body)
    yield from _amounts(body)
    yield from _categories(body)
    yield from _biz_mids(body)
    yield from _dates(body, now_ms)


def _pass_rules(body: _Input) -> Iterator[Violation]:
    yield from _type_and_product(body)
    if not body.given("userId") and not body.given("openId"):
        message = "required unless openId is given; the AlipayHK user ID"
        yield Violation(("userId",), message, Code.PARAM_ILLEGAL)
    if body.valid("type") == "TICKET" and not body.given("dataInfo"):
        from reconciler.domain.contract.passes import PassRequest

        hint = field_hint(PassRequest, "dataInfo")
        yield Violation(("dataInfo",), f"required when type is TICKET; {hint}", Code.PARAM_ILLEGAL)


# --- entry points ------------------------------------------------------------------------------


def _number_violations(data: object, known: Collection[Loc]) -> list[Violation]:
    """Numbers no vendor field takes, where no other problem is known (the model's own limit on a
    field says more than ours)."""
    return [
        Violation(loc, message, Code.PARAM_ILLEGAL)
        for loc, message in lim.unsendable_numbers(data)
        if not _related(loc, known)
    ]


def _check(
    model: type[T],
    data: object,
    dynamic: Mapping[str, type[BaseModel]],
    rules: Callable[[_Input], Iterator[Violation]],
    unrendered: tuple[Loc, ...] = (),
) -> Checked[T]:
    value, violations = _from_pydantic(data, model, dynamic)
    if unrendered:
        violations = [v for v in violations if not _related(v.loc, unrendered)]
    if lim.has_unsendable_number(data):
        violations += _number_violations(data, [*unrendered, *(v.loc for v in violations)])
    broken = (*unrendered, *(violation.loc for violation in violations))
    if isinstance(data, dict) and () not in broken:
        violations.extend(rules(_Input(data, broken, unrendered)))
    ok = not violations and not unrendered
    return Checked(value if ok else None, tuple(violations))


def _product(data: object) -> object:
    return data.get("product") if isinstance(data, Mapping) else None


def _template_dynamic(data: object) -> Mapping[str, type[BaseModel]]:
    return {"passExtInfo": PassExtInfo} if _product(data) == "PASS" else {}


def check_template_content(
    data: object, *, now_ms: int | None, unrendered: Collection[Loc] = ()
) -> Checked[TemplateContent]:
    """A catalog entry's template body. `now_ms=None` skips "startDate not in the past".

    `unrendered` names fields whose value failed to render (left out of `data`, or None inside a
    list): nothing is reported about them, and `value` is None.
    """
    return _check(
        TemplateContent,
        data,
        _template_dynamic(data),
        lambda b: _template_rules(b, now_ms),
        tuple(unrendered),
    )


def checked_start_ms(
    data: object, violations: Collection[Violation], unrendered: Collection[Loc] = ()
) -> int | None:
    """The start date `start_date_violation` would read in `data`, given what
    `check_template_content(data, now_ms=None, unrendered=...)` found: None where that check
    would say nothing (no valid start date, or a body too broken for cross-field rules).

    For a caller that keeps the time-independent result and checks the time on every run.
    """
    if not isinstance(data, dict):
        return None
    # Rule violations never touch startDate (nor the whole body), so counting them as broken
    # too gives the same answer as `_check`, which counts only field violations.
    broken = (*unrendered, *(violation.loc for violation in violations))
    if () in broken:
        return None
    return _Input(data, broken, tuple(unrendered)).date("startDate")


def _with_typo_fixed(data: object) -> object:
    """The sandbox tolerates the vendor's own typo `codeStandrad` (#4) when it stands alone."""
    if isinstance(data, Mapping) and "codeStandrad" in data and "codeStandard" not in data:
        fixed = {k: v for k, v in data.items() if k != "codeStandrad"}
        fixed["codeStandard"] = data["codeStandrad"]
        return fixed
    return data


def check_template_request(data: object, *, now_ms: int | None) -> Checked[TemplateRequest]:
    """A whole createTemplate body (as the sandbox receives it)."""
    data = _with_typo_fixed(data)
    return _check(
        TemplateRequest, data, _template_dynamic(data), lambda b: _template_rules(b, now_ms)
    )


def check_pass_request(data: object) -> Checked[PassRequest]:
    """A whole createPass body."""
    # createPass models are only needed by the sandbox and the pass issuer, not by `validate`.
    from reconciler.domain.contract.passes import DATA_INFO_MODELS, PassRequest

    product = _product(data)
    model = DATA_INFO_MODELS.get(product) if isinstance(product, str) else None
    return _check(PassRequest, data, {"dataInfo": model} if model else {}, _pass_rules)


def template_json_schema() -> dict[str, object]:
    """JSON Schema of TemplateContent (what catalog authors write), with the vendor's names."""
    return TemplateContent.model_json_schema(by_alias=True)
