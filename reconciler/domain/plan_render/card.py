"""The whole card of a step, as facts: what a reviewer checks before a template is published.

Shown for the steps that publish or record a catalog card: create, replace, adopt, and a move
that publishes a new template. Like every fact, the values are raw and each renderer escapes
them once; a `multiline` fact (a description) is split with `lines` and each line escaped.
"""

from __future__ import annotations

import json
from typing import Final

from reconciler.domain.plan import Action
from reconciler.domain.plan_document_models import CardDocument, LocaleCardDocument, StepDocument
from reconciler.domain.plan_render.facts import Fact

LOCALES: Final = ("zh_HK", "en_US")
_PUBLISHING: Final = frozenset({Action.CREATE, Action.REPLACE, Action.ADOPT})
_NOT_SET: Final = "not set"


def shown_card(step: StepDocument) -> CardDocument | None:
    """The card to show in full for this step, or None (the step shows its summary only)."""
    if step.card is None:
        return None
    if step.action in _PUBLISHING or (step.action is Action.MOVE and step.send is not None):
        return step.card
    return None


def locale_card(card: CardDocument, locale: str) -> LocaleCardDocument | None:
    return card.zh_HK if locale == "zh_HK" else card.en_US


def locale_facts(texts: LocaleCardDocument | None) -> list[Fact]:
    """The texts of one locale; every label is there, with "not set" for what is missing."""
    if texts is None:
        texts = LocaleCardDocument(name=None, sub_name=None, brand_name=None, description=None)
    return [
        _literal("Name", texts.name),
        _literal("Subtitle", texts.sub_name),
        _literal("Brand", texts.brand_name),
        _literal("Description", texts.description, multiline=True),
    ]


def card_facts(card: CardDocument) -> list[Fact]:
    """Everything on the card but its texts; optional extras only when they are set."""
    lines = [
        _literal("Image", card.image_url),
        _literal("Logo", card.logo_url),
        _literal("Categories", ", ".join(card.categories) or None),
        Fact("Stock", f"{card.stock:,}" if card.stock is not None else _NOT_SET),
        _literal("Code", _code_words(card)),
        *_button_facts(card),
        _literal("Order page", card.order_page_link),
        _literal("Detail page", card.detail_link),
        _literal("Exposure", card.exposure),
        _literal("Merchant", card.merchant_id),
    ]
    if card.biz_mids:
        lines.append(_literal("bizMids", ", ".join(card.biz_mids)))
    if card.ticket_details is not None:
        details = json.dumps(card.ticket_details, ensure_ascii=False, sort_keys=True)
        lines.append(_literal("Ticket info", details))
    return lines


def lines(value: str) -> list[str]:
    """A multi-line value's lines; the final line break (YAML's `|` adds one) is not a line."""
    return value.removesuffix("\n").split("\n")


def _code_words(card: CardDocument) -> str | None:
    if card.code_type is None:
        return None
    return f"{card.code_type} ({card.code_standard})" if card.code_standard else card.code_type


def _button_facts(card: CardDocument) -> list[Fact]:
    button = card.button
    if button is None:
        return [Fact("Button", _NOT_SET)]
    found = [_literal("Button", button.type), _literal("Button link", button.url)]
    if button.browser_open is not None:
        found.append(Fact("Opens in", "a browser" if button.browser_open else "the app"))
    return found


def _literal(label: str, value: str | None, *, multiline: bool = False) -> Fact:
    if value is None:
        return Fact(label, _NOT_SET)
    return Fact(label, value, literal=True, multiline=multiline)
