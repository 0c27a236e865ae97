"""The createPass request (section 3) as frozen, strict pydantic models.

dataInfo depends on the product (3.3): PASS and MOVIE have documented placeholder keys, COUPON
takes template-defined placeholders flat or nested by locale (#14), the other tickets are unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Annotated, Final, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import InitErrorDetails

from reconciler.domain.contract import limits as lim
from reconciler.domain.contract.codes import ResultCode, vendor_error
from reconciler.domain.contract.dates import EpochMillis, NumericMillis
from reconciler.domain.contract.template import (
    JSON_OBJECT,
    Cents,
    CurrencyCode,
    JsonObject,
    MerchantId,
    Product,
    TemplateType,
    VendorModel,
    VendorText,
    VendorUrl,
)

LOCALES: Final = ("zh_HK", "en_US")
_PLACEHOLDER: Final = re.compile(r"\$[A-Za-z0-9_]+\$")


class CodeInfo(VendorModel):
    """The display code of the pass (3.2); empty strings are allowed (codeType none)."""

    codevalue: Annotated[str, VendorText(lim.CODE_VALUE_MAX, allow_blank=True)] = Field(
        alias="$codevalue$", description="value encoded in the barcode / QR code / promo code"
    )
    codemsg: Annotated[str, VendorText(lim.CODE_VALUE_MAX, allow_blank=True)] = Field(
        alias="$codemsg$", description="text shown with the code"
    )


class Price(VendorModel):
    """`$price_..$` (#15: children as [CLIENT] sends them)."""

    cent: Cents = Field(description="price in cents")
    currency: CurrencyCode = Field(description="ISO 4217 code, e.g. HKD")


Times = Annotated[int, Field(ge=lim.AVAILABLE_TIMES_MIN, le=lim.AVAILABLE_TIMES_MAX)]
_TIMES: Final = "number of uses, a whole number"
_START: Final = "event start: epoch milliseconds (a number or a string of digits)"
_END: Final = "event end: epoch milliseconds (a number or a string of digits)"
_LOGO: Final = VendorUrl(lim.PLATFORM_LOGO_MAX, lim.IMAGE_URL_SCHEMES)


class PassDataInfo(VendorModel):
    """dataInfo of an admission ticket (3.3 PASS); limits are zh_HK / en_US."""

    ticketName_zh_HK: Annotated[str, VendorText(lim.TICKET_NAME_MAX_ZH)] | None = Field(
        None, alias="$ticketName_zh_HK$"
    )
    ticketName_en_US: Annotated[str, VendorText(lim.TICKET_NAME_MAX_EN)] | None = Field(
        None, alias="$ticketName_en_US$"
    )
    address_zh_HK: Annotated[str, VendorText(lim.PASS_ADDRESS_MAX_ZH)] = Field(
        alias="$address_zh_HK$",
        description=f"venue address, at most {lim.PASS_ADDRESS_MAX_ZH} characters",
    )
    address_en_US: Annotated[str, VendorText(lim.PASS_ADDRESS_MAX_EN)] = Field(
        alias="$address_en_US$",
        description=f"venue address, at most {lim.PASS_ADDRESS_MAX_EN} characters",
    )
    availableTimes_zh_HK: Times = Field(alias="$availableTimes_zh_HK$", description=_TIMES)
    availableTimes_en_US: Times = Field(alias="$availableTimes_en_US$", description=_TIMES)
    price_zh_HK: Price | None = Field(None, alias="$price_zh_HK$")
    price_en_US: Price | None = Field(None, alias="$price_en_US$")
    startTime_zh_HK: NumericMillis = Field(alias="$startTime_zh_HK$", description=_START)
    startTime_en_US: NumericMillis = Field(alias="$startTime_en_US$", description=_START)
    endTime_zh_HK: NumericMillis = Field(alias="$endTime_zh_HK$", description=_END)
    endTime_en_US: NumericMillis = Field(alias="$endTime_en_US$", description=_END)
    platformName_zh_HK: Annotated[str, VendorText(lim.PLATFORM_NAME_MAX_ZH)] | None = Field(
        None, alias="$platformName_zh_HK$"
    )
    platformName_en_US: Annotated[str, VendorText(lim.PLATFORM_NAME_MAX_EN)] | None = Field(
        None, alias="$platformName_en_US$"
    )
    platformLogo_zh_HK: Annotated[str, _LOGO] | None = Field(None, alias="$platformLogo_zh_HK$")
    platformLogo_en_US: Annotated[str, _LOGO] | None = Field(None, alias="$platformLogo_en_US$")


_MOVIE_ZH: Final = VendorText(lim.MOVIE_TEXT_MAX_ZH)
_MOVIE_EN: Final = VendorText(lim.MOVIE_TEXT_MAX_EN)
_CINEMA: Final = "cinema name"
_ADDRESS: Final = "cinema address"
_HOUSE: Final = "cinema hall"
_TAGS: Final = "an array of strings: the movie's info tags"
_SEATS: Final = "an array of strings: the seats"


class MovieDataInfo(VendorModel):
    """dataInfo of a movie ticket (3.3 MOVIE; the vendor list was truncated after price)."""

    ticketName_zh_HK: Annotated[str, VendorText(lim.TICKET_NAME_MAX_ZH)] | None = Field(
        None, alias="$ticketName_zh_HK$"
    )
    ticketName_en_US: Annotated[str, VendorText(lim.TICKET_NAME_MAX_EN)] | None = Field(
        None, alias="$ticketName_en_US$"
    )
    availableTimes_zh_HK: Times = Field(alias="$availableTimes_zh_HK$", description=_TIMES)
    availableTimes_en_US: Times = Field(alias="$availableTimes_en_US$", description=_TIMES)
    cinemaName_zh_HK: Annotated[str, _MOVIE_ZH] = Field(
        alias="$cinemaName_zh_HK$", description=_CINEMA
    )
    cinemaName_en_US: Annotated[str, _MOVIE_EN] = Field(
        alias="$cinemaName_en_US$", description=_CINEMA
    )
    address_zh_HK: Annotated[str, _MOVIE_ZH] = Field(alias="$address_zh_HK$", description=_ADDRESS)
    address_en_US: Annotated[str, _MOVIE_EN] = Field(alias="$address_en_US$", description=_ADDRESS)
    startTime_zh_HK: NumericMillis = Field(alias="$startTime_zh_HK$", description=_START)
    startTime_en_US: NumericMillis = Field(alias="$startTime_en_US$", description=_START)
    endTime_zh_HK: NumericMillis = Field(alias="$endTime_zh_HK$", description=_END)
    endTime_en_US: NumericMillis = Field(alias="$endTime_en_US$", description=_END)
    movieAttributes_zh_HK: list[str] = Field(alias="$movieAttributes_zh_HK$", description=_TAGS)
    movieAttributes_en_US: list[str] = Field(alias="$movieAttributes_en_US$", description=_TAGS)
    cinemaHouse_zh_HK: Annotated[str, _MOVIE_ZH] = Field(
        alias="$cinemaHouse_zh_HK$", description=_HOUSE
    )
    cinemaHouse_en_US: Annotated[str, _MOVIE_EN] = Field(
        alias="$cinemaHouse_en_US$", description=_HOUSE
    )
    movieSeats_zh_HK: list[str] = Field(alias="$movieSeats_zh_HK$", description=_SEATS)
    movieSeats_en_US: list[str] = Field(alias="$movieSeats_en_US$", description=_SEATS)
    price_zh_HK: Price | None = Field(None, alias="$price_zh_HK$")
    price_en_US: Price | None = Field(None, alias="$price_en_US$")
    # INFERRED: the copy read was cut after price; platform name/logo as for PASS.
    platformName_zh_HK: Annotated[str, VendorText(lim.PLATFORM_NAME_MAX_ZH)] | None = Field(
        None, alias="$platformName_zh_HK$"
    )
    platformName_en_US: Annotated[str, VendorText(lim.PLATFORM_NAME_MAX_EN)] | None = Field(
        None, alias="$platformName_en_US$"
    )
    platformLogo_zh_HK: Annotated[str, _LOGO] | None = Field(None, alias="$platformLogo_zh_HK$")
    platformLogo_en_US: Annotated[str, _LOGO] | None = Field(None, alias="$platformLogo_en_US$")


DATA_INFO_MODELS: Final[Mapping[str, type[PassDataInfo | MovieDataInfo]]] = MappingProxyType(
    {"PASS": PassDataInfo, "MOVIE": MovieDataInfo}
)
DataInfo = PassDataInfo | MovieDataInfo | JsonObject


def _coupon_problems(data: JsonObject) -> Iterator[tuple[tuple[str, ...], str, object]]:
    flat = "keys are template placeholders like $shopname$"
    for key, item in data.items():
        if key not in LOCALES:
            if not _PLACEHOLDER.fullmatch(key):
                yield (key,), f"unknown field {key!r}; {flat}, or nested under zh_HK / en_US", item
        elif not isinstance(item, dict):
            yield (key,), "must be an object of $placeholder$ values", item
        else:
            for sub_key, sub_item in item.items():
                if not _PLACEHOLDER.fullmatch(sub_key):
                    yield (key, sub_key), f"unknown field {sub_key!r}; {flat}", sub_item


def coupon_data_info(value: object) -> JsonObject:
    """COUPON dataInfo: `{"$key$": v}` or `{"en_US": {"$key$": v}}` (#14: accept both)."""
    data = JSON_OBJECT.validate_python(value)
    problems = [
        InitErrorDetails(type=vendor_error(ResultCode.PARAM_ILLEGAL, message), loc=loc, input=item)
        for loc, message, item in _coupon_problems(data)
    ]
    if problems:
        raise ValidationError.from_exception_data("dataInfo", problems)
    return data


def data_info_by_product(value: object, product: object) -> DataInfo | None:
    if value is None:
        return None
    model = DATA_INFO_MODELS.get(product) if isinstance(product, str) else None
    if model is not None:
        return model.model_validate(value)
    if product == "GIFT_CARD":
        return coupon_data_info(value)
    return JSON_OBJECT.validate_python(value)


class PassRequest(VendorModel):
    """The createPass body (3.1)."""

    merchantId: MerchantId = Field(description="merchant ID from AlipayHK")
    userId: Annotated[str, VendorText(lim.USER_ID_MAX)] | None = Field(
        None, description="AlipayHK user ID (or give openId)"
    )
    openId: Annotated[str, VendorText(lim.OPEN_ID_MAX)] | None = Field(
        None, description="the user's authorization ID for this merchant (or give userId)"
    )
    templateCode: Annotated[str, VendorText(lim.TEMPLATE_CODE_MAX)] = Field(
        description="templateCode returned by createTemplate"
    )
    bizSerialId: Annotated[str, VendorText(lim.BIZ_SERIAL_ID_MAX)] = Field(
        description="the merchant's unique serial number of this pass"
    )
    bizSerialType: Literal["OUT_PLAT_FORM"] = Field(description="OUT_PLAT_FORM")
    startDate: EpochMillis = Field(description="when the pass becomes valid")
    endDate: EpochMillis = Field(description="when the pass expires")
    bizCreate: EpochMillis = Field(description="when the order was created")
    type: TemplateType = Field(description="COUPON or TICKET, as the template")
    product: Product = Field(description="the template's product")
    codeInfo: CodeInfo = Field(description="an object with $codevalue$ and $codemsg$")
    dataInfo: DataInfo | None = Field(
        None, description="an object of scenario data ($placeholder$ keys)"
    )
    extInfo: JsonObject | None = Field(None, description="scenario extras (any object)")
    publishScene: Literal["FREE_GIVE"] | None = Field(None, description="FREE_GIVE")

    @field_validator("dataInfo", mode="wrap")
    @classmethod
    def _data_info(
        cls, value: object, _: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> DataInfo | None:
        return data_info_by_product(value, info.data.get("product"))
