"""One plan step as a step document: what it is about, what it sends, what changed.

The descriptive fields (type, product, names, price, dates and the card) describe the step's
*subject*: the recorded payload for retry, unknown and retire (what was sent, or what stays
live), else the catalog's. A payload is read leniently here (a field of an unexpected type is
shown as not set): the catalog's was checked when rendered, and a recorded one is what was sent.

Documents are built with `model_construct`, without validating again what is already checked:
every value is taken from a checked plan step, or read here with a type check (`_text`,
`_integer`, ...), so it has its field's type. A document is validated where that matters, when
it is read from a file (`read_plan_document`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, assert_never

from pydantic import JsonValue

from reconciler.domain.contract.dates import END_MS, MIN_MS, format_hk
from reconciler.domain.plan import (
    Adopt,
    Blocked,
    Create,
    Desired,
    FieldChange,
    Move,
    NoOp,
    PlanStep,
    Replace,
    Retire,
    Retry,
    Unknown,
    Vanished,
    step_source,
)
from reconciler.domain.plan_document_models import (
    ButtonDocument,
    CardDocument,
    ChangeDocument,
    LocaleCardDocument,
    MomentDocument,
    NamesDocument,
    PriceDocument,
    StepDocument,
)
from reconciler.domain.state import TemplateRecord

_NO_NAMES: Final = NamesDocument(zh_HK=None, en_US=None)


@dataclass(frozen=True)
class _Parts:
    """What a step is about, whatever its kind."""

    subject: dict[str, JsonValue]
    desired: Desired | None
    recorded: TemplateRecord | None
    changes: tuple[FieldChange, ...]
    send: dict[str, JsonValue] | None
    generation: int


def _parts(step: PlanStep) -> _Parts:  # noqa: PLR0911 - one arm per step kind
    """The subject is the recorded payload for retry, unknown and retire (what was sent, or
    what stays live), else the catalog's."""
    match step:
        case Create():
            return _Parts(step.desired.payload, step.desired, None, (), step.send, step.generation)
        case NoOp():
            subject = step.desired.payload if step.desired is not None else step.recorded.payload
            return _Parts(subject, step.desired, step.recorded, (), None, step.recorded.generation)
        case Blocked():
            return _Parts(
                step.desired.payload,
                step.desired,
                step.recorded,
                step.changes,
                None,
                step.recorded.generation,
            )
        case Replace():
            return _Parts(
                step.desired.payload,
                step.desired,
                step.recorded,
                step.changes,
                step.send,
                step.generation,
            )
        case Retire():
            return _Parts(step.recorded.payload, None, step.recorded, (), None, 0)
        case Unknown():
            return _Parts(
                step.recorded.payload,
                step.desired,
                step.recorded,
                step.changes,
                None,
                step.recorded.generation,
            )
        case Retry():
            return _Parts(
                step.recorded.payload,
                step.desired,
                step.recorded,
                step.changes,
                step.send,
                step.generation,
            )
        case Move():
            return _Parts(
                step.desired.payload,
                step.desired,
                step.recorded,
                step.changes,
                step.send,
                step.generation,
            )
        case Adopt():
            return _Parts(step.desired.payload, step.desired, None, (), None, 0)
        case Vanished():
            return _Parts(step.recorded.payload, None, step.recorded, (), None, 0)
        case _:
            assert_never(step)


def step_document(step: PlanStep, *, slim: bool) -> StepDocument:
    """`slim` leaves out the details of an unchanged entry (people see only its key). An
    unchanged entry has no card in either document: nothing of it is published, and its
    payload is named by its hash."""
    if slim and isinstance(step, NoOp):
        return _bare_step(step)
    parts = _parts(step)
    payload, recorded, desired = parts.subject, parts.recorded, parts.desired
    request_id = parts.send.get("requestId") if parts.send is not None else None
    return StepDocument.model_construct(
        key=step.key,
        action=step.action,
        reason=step.reason,
        source=step_source(step),
        type=_text(payload, "type"),
        product=_text(payload, "product"),
        names=NamesDocument.model_construct(
            zh_HK=_name(payload, "zh_HK"), en_US=_name(payload, "en_US")
        ),
        price=_price(payload),
        start=_moment(payload.get("startDate")),
        end=_moment(payload.get("endDate")),
        card=None if isinstance(step, NoOp) else card_document(payload),
        template_code=_template_code(step, recorded),
        recorded_request_id=recorded.request_id if recorded is not None else None,
        request_id=request_id if isinstance(request_id, str) else None,
        payload_hash=desired.payload_hash if desired is not None else None,
        recorded_payload_hash=recorded.payload_hash if recorded is not None else None,
        generation=parts.generation,
        changes=tuple(_change(change) for change in parts.changes),
        send=parts.send,
        old_key=step.old_key if isinstance(step, Move) else None,
    )


def card_document(payload: dict[str, JsonValue]) -> CardDocument:
    """Every customer-facing field of a createTemplate body."""
    button = payload.get("button")
    ticket = payload.get("passExtInfo")
    return CardDocument.model_construct(
        zh_HK=_locale(payload, "zh_HK"),
        en_US=_locale(payload, "en_US"),
        image_url=_text(payload, "imageUrl"),
        logo_url=_text(payload, "merchantLogo"),
        categories=_texts(payload, "categories"),
        stock=_integer(payload, "stock"),
        code_type=_text(payload, "codeType"),
        code_standard=_text(payload, "codeStandard"),
        button=_button(button) if isinstance(button, dict) else None,
        order_page_link=_text(payload, "orderPageLink"),
        detail_link=_text(payload, "detailLink"),
        exposure=_text(payload, "exposure"),
        merchant_id=_text(payload, "merchantId"),
        biz_mids=_texts(payload, "bizMids"),
        ticket_details=ticket if isinstance(ticket, dict) else None,
    )


def _template_code(step: PlanStep, recorded: TemplateRecord | None) -> str | None:
    if isinstance(step, Adopt):
        return step.template_code
    return recorded.template_code if recorded is not None else None


def _bare_step(step: NoOp) -> StepDocument:
    """An unchanged step with only its key and action (how people see unchanged entries).

    Built without re-validation: every field is a constant or already a checked string, and a
    plan of 10,000 unchanged entries would otherwise spend most of its rendering here.
    """
    return StepDocument.model_construct(
        key=step.key,
        action=step.action,
        reason=step.reason,
        source=None,
        type=None,
        product=None,
        names=_NO_NAMES,
        price=None,
        start=None,
        end=None,
        card=None,
        template_code=None,
        recorded_request_id=None,
        request_id=None,
        payload_hash=None,
        recorded_payload_hash=None,
        generation=0,
        changes=(),
        send=None,
        old_key=None,
    )


def _change(change: FieldChange) -> ChangeDocument:
    return ChangeDocument.model_construct(
        path=change.path,
        old=change.old,
        new=change.new,
        added=change.added,
        removed=change.removed,
    )


def _text(payload: dict[str, JsonValue], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) else None


def _integer(payload: dict[str, JsonValue], name: str) -> int | None:
    value = payload.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _texts(payload: dict[str, JsonValue], name: str) -> tuple[str, ...]:
    value = payload.get(name)
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def _locale_texts(payload: dict[str, JsonValue], locale: str) -> dict[str, JsonValue] | None:
    locales = payload.get("localeInfo")
    texts = locales.get(locale) if isinstance(locales, dict) else None
    return texts if isinstance(texts, dict) else None


def _name(payload: dict[str, JsonValue], locale: str) -> str | None:
    texts = _locale_texts(payload, locale)
    return _text(texts, "name") if texts is not None else None


def _locale(payload: dict[str, JsonValue], locale: str) -> LocaleCardDocument | None:
    texts = _locale_texts(payload, locale)
    if texts is None:
        return None
    return LocaleCardDocument.model_construct(
        name=_text(texts, "name"),
        sub_name=_text(texts, "subName"),
        brand_name=_text(texts, "brandName"),
        description=_text(texts, "description"),
    )


def _button(button: dict[str, JsonValue]) -> ButtonDocument:
    browser_open = button.get("browserOpen")
    return ButtonDocument.model_construct(
        type=_text(button, "btnType"),
        url=_text(button, "btnUrl"),
        browser_open=browser_open if isinstance(browser_open, bool) else None,
    )


def _price(payload: dict[str, JsonValue]) -> PriceDocument | None:
    current = _integer(payload, "currentAmountCent")
    original = _integer(payload, "originalAmountCent")
    if current is None and original is None:
        return None
    return PriceDocument.model_construct(
        current_cent=current, original_cent=original, currency=_text(payload, "currencyCode")
    )


def _moment(value: JsonValue) -> MomentDocument | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    shown = format_hk(value) if MIN_MS <= value < END_MS else f"{value} ms (out of range)"
    return MomentDocument.model_construct(ms=value, hong_kong=shown)
