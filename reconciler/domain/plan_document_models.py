"""The models of the plan document (`plan_document` describes the format and its versions).

Field names are ours (snake case), except where a field repeats the vendor's: each field's
description names the createTemplate field it comes from.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from reconciler.domain.plan import Action

PLAN_FORMAT: Final = "ipass-plan"
PLAN_FORMAT_VERSION: Final = 6

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[int, Field(ge=0)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BindingDocument(_Document):
    """What the plan was computed from."""

    environment: str
    endpoint: str = Field(description="where apply sends: a host, or the embedded sandbox")
    merchant_id: str = Field(description="the merchant the templates are published for")
    lineage: str | None = Field(description="the state's lineage; null before the first write")
    serial: Count = Field(description="the state's serial when the plan was made")
    catalog_hash: Sha256 = Field(description="keys and payload hashes of the rendered catalog")


class OptionsDocument(_Document):
    targets: tuple[str, ...] = Field(
        description="--select (or --target) selectors; empty means every entry"
    )
    excludes: tuple[str, ...] = Field(description="--exclude selectors")
    replace: tuple[str, ...] = Field(description="--replace keys")
    retry_unknown: bool = Field(description="--retry-unknown")


class SummaryDocument(_Document):
    """Steps per action; all nine keys are always present."""

    create: Count
    no_op: Count = Field(alias="no-op")
    blocked: Count
    replace: Count
    retire: Count
    unknown: Count
    retry: Count
    move: Count
    adopt: Count


class NamesDocument(_Document):
    zh_HK: str | None = Field(description="localeInfo.zh_HK.name")
    en_US: str | None = Field(description="localeInfo.en_US.name")


class PriceDocument(_Document):
    current_cent: int | None = Field(description="currentAmountCent")
    original_cent: int | None = Field(description="originalAmountCent")
    currency: str | None = Field(description="currencyCode (ISO 4217)")


class MomentDocument(_Document):
    ms: int = Field(description="epoch milliseconds, as sent")
    hong_kong: str = Field(description="the same moment in Hong Kong time, for people")


class ChangeDocument(_Document):
    path: str = Field(description="dotted path, e.g. localeInfo.en_US.name")
    old: JsonValue = Field(description="published value; null when added")
    new: JsonValue = Field(description="catalog value; null when removed")
    added: bool
    removed: bool


class LocaleCardDocument(_Document):
    """The texts of one locale, as the customer reads them."""

    name: str | None = Field(description="localeInfo.<locale>.name")
    sub_name: str | None = Field(description="localeInfo.<locale>.subName")
    brand_name: str | None = Field(description="localeInfo.<locale>.brandName")
    description: str | None = Field(description="localeInfo.<locale>.description (multi-line)")


class ButtonDocument(_Document):
    type: str | None = Field(description="button.btnType: usage, payment or none")
    url: str | None = Field(description="button.btnUrl")
    browser_open: bool | None = Field(description="button.browserOpen")


class CardDocument(_Document):
    """Every customer-facing field of the step's subject payload (what the card shows)."""

    zh_HK: LocaleCardDocument | None = Field(description="localeInfo.zh_HK; null when absent")
    en_US: LocaleCardDocument | None = Field(description="localeInfo.en_US; null when absent")
    image_url: str | None = Field(description="imageUrl")
    logo_url: str | None = Field(description="merchantLogo")
    categories: tuple[str, ...] = Field(description="categories")
    stock: int | None = Field(description="stock")
    code_type: str | None = Field(description="codeType: barcode, qrcode, promocode or none")
    code_standard: str | None = Field(description="codeStandard, e.g. CODE128 or QRCODE")
    button: ButtonDocument | None = Field(description="button; null when absent")
    order_page_link: str | None = Field(description="orderPageLink")
    detail_link: str | None = Field(description="detailLink")
    exposure: str | None = Field(description="exposure: exposed or hidden")
    merchant_id: str | None = Field(description="merchantId")
    biz_mids: tuple[str, ...] = Field(description="bizMids: associated merchant IDs")
    ticket_details: dict[str, JsonValue] | None = Field(description="passExtInfo")


class StepDocument(_Document):
    key: str
    action: Action
    reason: str
    source: str | None = Field(description="catalog file of the entry, if known")
    type: str | None = Field(description="COUPON or TICKET")
    product: str | None = Field(description="GIFT_CARD, PASS, MOVIE, AIR_TICKET, ...")
    names: NamesDocument
    price: PriceDocument | None = Field(description="null when no amount is set")
    start: MomentDocument | None = Field(description="startDate")
    end: MomentDocument | None = Field(description="endDate")
    card: CardDocument | None = Field(
        description="the subject's customer-facing fields; null for an unchanged entry (no-op), "
        "whose payload is named by payload_hash"
    )
    template_code: str | None = Field(description="the recorded template's code, if any")
    recorded_request_id: str | None = Field(description="requestId of the recorded template")
    request_id: str | None = Field(description="requestId of `send`, if anything is sent")
    payload_hash: Sha256 | None = Field(description="the catalog entry's payload hash")
    recorded_payload_hash: Sha256 | None = Field(description="the recorded payload's hash")
    generation: Count = Field(description="templates published for this key before this one")
    changes: tuple[ChangeDocument, ...] = Field(description="published -> catalog, per field")
    send: dict[str, JsonValue] | None = Field(description="the exact createTemplate body")
    old_key: str | None = Field(default=None, description="move: the key it was renamed from")


class PlanDocument(_Document):
    format: Literal["ipass-plan"]
    format_version: Literal[6]
    binding: BindingDocument
    options: OptionsDocument
    summary: SummaryDocument
    has_changes: bool = Field(description="apply would call AlipayHK or change the state")
    warnings: tuple[str, ...] = Field(default=(), description="things a reviewer should know")
    outside_selection: Count = Field(
        default=0, description="entries the selectors left out of this plan"
    )
    steps: tuple[StepDocument, ...]
