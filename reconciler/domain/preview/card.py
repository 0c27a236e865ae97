"""One card from one payload: every customer-facing field, and the problems a reviewer should see.

A payload is read defensively: a published side may hold what today's rules refuse, so a value
of an unexpected type is shown as JSON text rather than trusted.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from pydantic import JsonValue

from reconciler.domain.contract import limits as lim
from reconciler.domain.contract.dates import END_MS, MIN_MS, format_hk
from reconciler.domain.plan_render.facts import PRODUCTS, money
from reconciler.domain.preview.checks import (
    date_problems,
    hidden_problems,
    image_problems,
    text_problems,
)
from reconciler.domain.preview.measure import visible_line, visible_lines
from reconciler.domain.preview.model import (
    LOCALE_TEXTS,
    LOCALES,
    ButtonView,
    CardProblem,
    CardView,
    CodeView,
    FieldView,
    ImageFacts,
    ImageView,
    PriceView,
    ProblemKind,
    Side,
)

# Drawn for every card of a code standard: the real value comes with each pass (createPass).
SAMPLE_VALUES: Final = {
    "QRCODE": "IPASS-SAMPLE-0001",
    "CODE128": "IPASS-SAMPLE-0001",
    "EAN-13": "4006381333931",
}
PROMO_SAMPLE: Final = "SAMPLE-PROMO-0001"
_BUTTON_LABELS: Final = {
    "usage": {"zh_HK": "立即使用", "en_US": "Use now"},
    "payment": {"zh_HK": "付款碼", "en_US": "Pay"},
}
# A card element -> the catalog field named in its problems, where the names differ.
_PATHS: Final = {
    "card": "localeInfo",
    "price": "currentAmountCent",
    "code": "codeType",
    "ticket": "passExtInfo",
}
_EXPOSURE: Final = {
    "exposed": "exposed: shown in AlipayHK's in-app areas",
    "hidden": "hidden: not shown in AlipayHK's in-app areas",
}


@dataclass(frozen=True)
class CardContext:
    """What a card is checked against, besides its payload."""

    now_ms: int
    # url -> what was found; None when no image source is set (placeholders, no checks).
    images: Mapping[str, ImageFacts] | None
    will_send: bool  # the payload is about to be sent: its start date must not have passed
    changed: Collection[str] = ()  # data-field names changed on this card
    merchant: str | None = None  # the environment's merchant id, which every template is for


def build_card(
    key: str, payload: Mapping[str, JsonValue], locale: str, side: Side, context: CardContext
) -> CardView:
    texts = _locale_texts(payload, locale)
    problems: list[CardProblem] = []
    missing = [other for other in LOCALES if _locale_texts(payload, other) is None]
    problems += [
        CardProblem(
            ProblemKind.MISSING_LOCALE,
            "card",
            f"no {other} texts: customers using {other} see the other language or nothing",
        )
        for other in missing
        if other != locale or texts is None
    ]
    fields = {
        name: _text_field(name, _string(texts, name), locale, context, problems)
        for name in ("brandName", "name", "subName", "description")
    }
    ticket_found = _ticket_problems(payload.get("passExtInfo"))
    problems += ticket_found
    start, end = _integer(payload.get("startDate")), _integer(payload.get("endDate"))
    date_flags = date_problems(start, end, context.now_ms, will_send=context.will_send)
    problems += date_flags
    return CardView(
        key=key,
        locale=locale,
        side=side,
        merchant_logo=_image("merchantLogo", payload, context, problems),
        brand_name=fields["brandName"],
        name=fields["name"],
        sub_name=fields["subName"],
        image=_image("imageUrl", payload, context, problems),
        price=_price(payload, context),
        start_date=_date_field("startDate", start, payload, date_flags, context),
        end_date=_date_field("endDate", end, payload, date_flags, context),
        code=_code(payload, context),
        button=_button(payload.get("button"), locale, context),
        description=fields["description"],
        categories=_plain("categories", _categories(payload, locale), context),
        stock=_plain("stock", _stock(payload.get("stock")), context),
        exposure=_plain("exposure", _exposure(payload.get("exposure")), context),
        ticket=FieldView(
            "ticket",
            _ticket(payload),
            tuple(dict.fromkeys(problem.kind for problem in ticket_found)),
            "ticket" in context.changed,
        ),
        biz_mids=_plain("bizMids", _joined(payload.get("bizMids")), context),
        merchant=FieldView(
            "merchantId", visible_line(context.merchant) if context.merchant else None
        ),
        order_page_link=_plain("orderPageLink", _shown(payload.get("orderPageLink")), context),
        detail_link=_plain("detailLink", _shown(payload.get("detailLink")), context),
        problems=tuple(_at_path(problem, locale) for problem in problems),
    )


def _at_path(problem: CardProblem, locale: str) -> CardProblem:
    """`problem` labelled with the catalog's field path of the value it is about."""
    if problem.path is not None:
        return problem
    if problem.field in LOCALE_TEXTS:
        path = f"localeInfo.{locale}.{problem.field}"
    else:
        path = _PATHS.get(problem.field, problem.field)
    return dataclasses.replace(problem, path=path)


def _locale_texts(payload: Mapping[str, JsonValue], locale: str) -> dict[str, JsonValue] | None:
    info = payload.get("localeInfo")
    texts = info.get(locale) if isinstance(info, dict) else None
    return texts if isinstance(texts, dict) else None


def _string(texts: Mapping[str, JsonValue] | None, name: str) -> str | None:
    value = None if texts is None else texts.get(name)
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _integer(value: JsonValue) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text_field(
    name: str, value: str | None, locale: str, context: CardContext, out: list[CardProblem]
) -> FieldView:
    if value is None:
        return FieldView(name, None, changed=name in context.changed)
    found, overflow = text_problems(name, value, locale)
    out += found
    shown = visible_lines(value) if name == "description" else visible_line(value)
    flags = tuple(problem.kind for problem in found)
    return FieldView(name, shown, flags, name in context.changed, overflow)


def _plain(name: str, text: str | None, context: CardContext) -> FieldView:
    return FieldView(name, text, changed=name in context.changed)


def _shown(value: JsonValue) -> str | None:
    """A value as one visible line: text as it is, anything else as JSON."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return visible_line(text)


def _image(
    name: str, payload: Mapping[str, JsonValue], context: CardContext, out: list[CardProblem]
) -> ImageView:
    url = payload.get(name)
    changed = name in context.changed
    if not isinstance(url, str):
        return ImageView(name, _shown(url), None, None, changed=changed)
    facts = None if context.images is None else context.images.get(url)
    found = image_problems(name, url, facts, checked=context.images is not None)
    out += found
    https = url.startswith("https://")
    return ImageView(
        name=name,
        url=visible_line(url),
        # Only with an image source: without one, building and opening stay offline.
        src=url if https and context.images is not None else None,
        checked=_facts_words(facts),
        flags=tuple(problem.kind for problem in found),
        changed=changed,
    )


def _facts_words(facts: ImageFacts | None) -> str | None:
    if facts is None:
        return None
    if facts.error is not None:
        return visible_line(facts.error)
    size = f"{facts.size_bytes / 1000:.1f} KB" if facts.size_bytes is not None else "size unknown"
    return f"{facts.width} x {facts.height} px, {size}"


def _price(payload: Mapping[str, JsonValue], context: CardContext) -> PriceView:
    currency = payload.get("currencyCode")
    code = visible_line(currency) if isinstance(currency, str) else None
    current, original = payload.get("currentAmountCent"), payload.get("originalAmountCent")
    return PriceView(
        current=_amount(current, code),
        original=_amount(original, code) if original != current else None,
        changed="price" in context.changed,
    )


def _amount(value: JsonValue, currency: str | None) -> str | None:
    """Money; a value that is not a whole number (an unchecked entry) as written; None: unset."""
    cents = _integer(value)
    return money(cents, currency) if cents is not None else _shown(value)


def _date_field(
    name: str,
    ms: int | None,
    payload: Mapping[str, JsonValue],
    problems: list[CardProblem],
    context: CardContext,
) -> FieldView:
    if ms is not None and MIN_MS <= ms < END_MS:
        text: str | None = _hong_kong(ms)
    else:
        text = _shown(payload.get(name))
    flags = tuple(problem.kind for problem in problems if problem.field == name)
    return FieldView(name, text, flags, name in context.changed)


@lru_cache(maxsize=1024)  # catalogs repeat a few dates across thousands of cards
def _hong_kong(ms: int) -> str:
    return format_hk(ms)


def _code(payload: Mapping[str, JsonValue], context: CardContext) -> CodeView:
    code_type, standard = payload.get("codeType"), payload.get("codeStandard")
    kind = code_type if isinstance(code_type, str) else "none"
    norm = standard if isinstance(standard, str) else ""
    sample: str | None = None
    if kind == "promocode":
        sample = PROMO_SAMPLE
    elif (kind, norm) in (("qrcode", "QRCODE"), ("barcode", "CODE128"), ("barcode", "EAN-13")):
        sample = SAMPLE_VALUES[norm]
    return CodeView(visible_line(kind), visible_line(norm), sample, "code" in context.changed)


def _button(button: JsonValue, locale: str, context: CardContext) -> ButtonView:
    changed = "button" in context.changed
    if not isinstance(button, dict):  # none, or (unchecked) not a button: shown as written
        return ButtonView(None, None, _shown(button), changed)
    kind = button.get("btnType")
    labels = _BUTTON_LABELS.get(kind) if isinstance(kind, str) else None
    label = labels[locale] if labels is not None else None
    if label is None and kind not in (None, "none"):
        label = _shown(kind)
    details = [
        f"{name}: {_shown(button[name])}" for name in ("urlType", "browserOpen") if name in button
    ]
    return ButtonView(label, _shown(button.get("btnUrl")), "; ".join(details) or None, changed)


def _categories(payload: Mapping[str, JsonValue], locale: str) -> str | None:
    categories = payload.get("categories")
    if not isinstance(categories, list):
        return _shown(categories)
    index = LOCALES.index(locale)
    words = [
        lim.COUPON_CATEGORIES[item][index]
        if isinstance(item, str) and item in lim.COUPON_CATEGORIES
        else _shown(item) or ""
        for item in categories
    ]
    return " · ".join(words)


def _stock(stock: JsonValue) -> str | None:
    count = _integer(stock)
    return f"{count:,} in stock" if count is not None else _shown(stock)


def _exposure(exposure: JsonValue) -> str | None:
    if isinstance(exposure, str) and exposure in _EXPOSURE:
        return _EXPOSURE[exposure]
    return _shown(exposure)


def _ticket(payload: Mapping[str, JsonValue]) -> str:
    product = payload.get("product")
    kind = payload.get("type")
    label = (
        PRODUCTS.get(product, _shown(product) or "product not set")
        if isinstance(product, str)
        else "product not set"
    )
    lines = [f"{label} ({_shown(kind) or 'type not set'})"]
    extra = payload.get("passExtInfo")
    if isinstance(extra, dict):
        lines += [f"{visible_line(name)}: {_shown(value)}" for name, value in sorted(extra.items())]
    elif extra is not None:
        lines.append(f"passExtInfo: {_shown(extra)}")
    return "\n".join(lines)


def _ticket_problems(extra: JsonValue) -> list[CardProblem]:
    """Hidden characters in the ticket details customers read (their names and texts)."""
    if not isinstance(extra, dict):
        return []
    found: list[CardProblem] = []
    for name, value in sorted(extra.items()):
        text = f"{name}: {value}" if isinstance(value, str) else name
        found += [
            dataclasses.replace(problem, path=f"passExtInfo.{visible_line(name)}")
            for problem in hidden_problems("ticket", text)
        ]
    return found


def _joined(values: JsonValue) -> str | None:
    if isinstance(values, list) and all(isinstance(v, str) for v in values):
        return ", ".join(visible_line(str(v)) for v in values)
    return _shown(values)


def entry_title(payload: Mapping[str, JsonValue]) -> str:
    """A short name for the index: the English name, else the Chinese one."""
    info = payload.get("localeInfo")
    for locale in reversed(LOCALES):
        texts = info.get(locale) if isinstance(info, dict) else None
        name = texts.get("name") if isinstance(texts, dict) else None
        if isinstance(name, str):
            return visible_line(name)
    return "(no name)"
