"""The createTemplate request (section 2) as frozen, strict pydantic models.

Field names are the vendor's JSON keys. Field-level rules (types, lengths in UTF-16 units, URL
shapes, enums) live here and raise vendor errors carrying the vendor's result code; rules that
span several fields are in `rules.py`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    JsonValue,
    TypeAdapter,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from reconciler.domain.contract import limits as lim
from reconciler.domain.contract.codes import (
    ResultCode,
    shown,
    suggest,
    vendor_error,
)
from reconciler.domain.contract.dates import EndMillis, EpochMillis
from reconciler.domain.contract.identifiers import MERCHANT_ID_RE

Code = ResultCode


@dataclass(frozen=True)
class VendorText:
    """String metadata: at most `limit` UTF-16 units, not blank, optionally matching `pattern`."""

    limit: int
    code: ResultCode = Code.PARAM_ILLEGAL
    pattern: re.Pattern[str] | None = None
    expect: str = ""
    allow_blank: bool = False

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(maxLength=self.limit)
        if not self.allow_blank:
            json_schema.update(minLength=1)
        return json_schema

    def check(self, text: str) -> str:
        if not self.allow_blank and not text.strip():
            raise vendor_error(self.code, "must not be empty or only spaces")
        length = lim.vendor_length(text)
        if length > self.limit:
            extra = "" if length == len(text) else "; emoji and rare characters count 2"
            raise vendor_error(self.code, f"longer than {self.limit} characters ({length}{extra})")
        if self.pattern is not None and not self.pattern.fullmatch(text):
            raise vendor_error(self.code, f"{shown(text)} is not {self.expect}")
        return text


_WEB: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?(?:[/?#]\S*)?")
_APP: Final = re.compile(r"\S+")


@dataclass(frozen=True)
class VendorUrl:
    """String metadata: a URL with one of `schemes`, at most `limit` UTF-16 units."""

    limit: int
    schemes: tuple[str, ...]
    code: ResultCode = Code.PARAM_ILLEGAL

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        starts = "|".join(re.escape(scheme) for scheme in self.schemes)
        start = starts if len(self.schemes) == 1 else f"({starts})"
        json_schema.update(maxLength=self.limit, pattern=f"^{start}")
        return json_schema

    def check(self, text: str) -> str:
        length = lim.vendor_length(text)
        if length > self.limit:
            raise vendor_error(self.code, f"longer than {self.limit} characters ({length})")
        scheme = next((s for s in self.schemes if text.startswith(s)), None)
        if scheme is None:
            hint = ""
            if text.startswith("allpayhk://"):
                hint = "; 'allpayhk://' is a typo"
            elif text.startswith("http://") and "https://" in self.schemes:
                hint = "; plain http is refused, use https://"
            allowed = " or ".join(self.schemes)
            raise vendor_error(self.code, f"must start with {allowed}, not {shown(text)}{hint}")
        rest = _APP if scheme == lim.APP_LINK_SCHEME else _WEB
        if not rest.fullmatch(text, len(scheme)):
            raise vendor_error(self.code, f"{shown(text)} is not a valid URL")
        return text


def check_currency(code: str) -> str:
    """An active ISO 4217 code; a near miss is answered with the code of the same country."""
    if code in lim.CURRENCY_CODES:
        return code
    upper = code.upper()
    same_country = [known for known in lim.CURRENCY_CODES if known[:2] == upper[:2]]
    guess = suggest(upper, same_country)
    hint = f"; did you mean {guess!r}?" if guess else "; use one such as 'HKD'"
    raise vendor_error(Code.PARAM_ILLEGAL, f"{shown(code)} is not an ISO 4217 currency code{hint}")


TemplateType = Literal["COUPON", "TICKET"]
Product = Literal[
    "GIFT_CARD", "PASS", "MOVIE", "AIR_TICKET", "TRAIN_TICKET", "BUS_TICKET", "SHIP_TICKET"
]
CodeType = Literal["barcode", "qrcode", "promocode", "none"]
Exposure = Literal["exposed", "hidden"]
BtnType = Literal["usage", "payment", "none"]
# 5.1: the products of each type.
PRODUCTS_BY_TYPE: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "COUPON": ("GIFT_CARD",),
        "TICKET": ("PASS", "MOVIE", "AIR_TICKET", "TRAIN_TICKET", "BUS_TICKET", "SHIP_TICKET"),
    }
)
# 5.2 (pairing INFERRED from the enum texts): promocode and none take any value, even "".
CODE_STANDARDS_BY_CODE_TYPE: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {"barcode": ("CODE128", "EAN-13"), "qrcode": ("QRCODE",)}
)

CurrencyCode = Annotated[str, AfterValidator(check_currency)]
Cents = Annotated[int, Field(ge=lim.AMOUNT_CENT_MIN, le=lim.AMOUNT_CENT_MAX)]
AppLink = Annotated[str, VendorUrl(lim.URL_MAX, (lim.APP_LINK_SCHEME,))]
MerchantId = Annotated[
    str,
    VendorText(
        lim.MERCHANT_ID_MAX,
        pattern=MERCHANT_ID_RE,
        expect="a merchant ID (letters and digits, e.g. 2160120041113167)",
    ),
]
RequestId = Annotated[
    str,
    VendorText(
        lim.REQUEST_ID_MAX,
        pattern=re.compile(lim.REQUEST_ID_PATTERN),
        expect="a request ID (visible ASCII characters, no spaces)",
    ),
]
JsonObject = dict[str, JsonValue]
JSON_OBJECT: Final = TypeAdapter(JsonObject, config=ConfigDict(strict=True))


class VendorModel(BaseModel):
    """Requests: frozen, no unknown fields, no silent coercion (`False` is not a string)."""

    # defer_build: a model's validator is built when first used, so `ipass validate` never pays
    # for the request and response models it does not touch.
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, serialize_by_alias=True, defer_build=True
    )


class Button(VendorModel):
    btnType: BtnType = Field(description="usage (use now), payment (wallet payment code) or none")
    btnUrl: (
        Annotated[
            str, VendorUrl(lim.BTN_URL_MAX, lim.BTN_URL_SCHEMES, Code.PASS_TEMPLATE_BTN_URL_ILLEGAL)
        ]
        | None
    ) = Field(None, description="button target: alipayhk:// or https:// URL; needed for usage")
    urlType: Annotated[str, VendorText(lim.URL_TYPE_MAX)] | None = Field(
        None, description="vendor URL type; only CODE_PAY_BTN has been seen"
    )
    browserOpen: bool | None = Field(None, description="open btnUrl in a browser")


_NAME: Final = Code.PASS_TEMPLATE_NAME_ILLEGAL
_DESCRIPTION: Final = Code.PASS_TEMPLATE_DESCRIPTION_ILLEGAL
_BRAND: Final = Code.PASS_TEMPLATE_BRAND_NAME_ILLEGAL


class LocaleText(VendorModel):
    """Texts of one locale (2.3). The base of ZhHkText and EnUsText, which add the limits."""

    name: str = Field(description="title of the card or ticket")
    subName: str | None = Field(None, description="subtitle")
    description: str | None = Field(None, description="usage notes; may span several lines")
    brandName: str | None = Field(None, description="brand shown on the card")


class ZhHkText(LocaleText):
    name: Annotated[str, VendorText(lim.NAME_MAX_ZH, _NAME)] = Field(
        description=f"title, at most {lim.NAME_MAX_ZH} characters"
    )
    subName: Annotated[str, VendorText(lim.SUB_NAME_MAX_ZH, _NAME)] | None = Field(
        None, description=f"subtitle, at most {lim.SUB_NAME_MAX_ZH} characters"
    )
    description: Annotated[str, VendorText(lim.DESCRIPTION_MAX_ZH, _DESCRIPTION)] | None = Field(
        None, description=f"usage notes, at most {lim.DESCRIPTION_MAX_ZH} characters"
    )
    brandName: Annotated[str, VendorText(lim.BRAND_NAME_MAX_ZH, _BRAND)] | None = Field(
        None, description=f"brand, at most {lim.BRAND_NAME_MAX_ZH} characters"
    )


class EnUsText(LocaleText):
    name: Annotated[str, VendorText(lim.NAME_MAX_EN, _NAME)] = Field(
        description=f"title, at most {lim.NAME_MAX_EN} characters"
    )
    subName: Annotated[str, VendorText(lim.SUB_NAME_MAX_EN, _NAME)] | None = Field(
        None, description=f"subtitle, at most {lim.SUB_NAME_MAX_EN} characters"
    )
    description: Annotated[str, VendorText(lim.DESCRIPTION_MAX_EN, _DESCRIPTION)] | None = Field(
        None, description=f"usage notes, at most {lim.DESCRIPTION_MAX_EN} characters"
    )
    brandName: Annotated[str, VendorText(lim.BRAND_NAME_MAX_EN, _BRAND)] | None = Field(
        None, description=f"brand, at most {lim.BRAND_NAME_MAX_EN} characters"
    )


class LocaleInfo(VendorModel):
    zh_HK: ZhHkText | None = Field(None, description="Traditional Chinese texts")
    en_US: EnUsText | None = Field(None, description="English texts")

    @model_validator(mode="after")
    def _one_locale(self) -> LocaleInfo:
        if self.zh_HK is None and self.en_US is None:
            raise vendor_error(Code.PARAM_ILLEGAL, "needs at least one of zh_HK, en_US")
        return self


RegionCode = Annotated[str, VendorText(lim.REGION_CODE_MAX)]
Count = Annotated[int, Field(ge=0, le=lim.JAVA_LONG_MAX)]


class PassExtInfo(VendorModel):
    """passExtInfo of a PASS (admission) template; names from [CLIENT] only (2.4)."""

    tags: list[Annotated[str, VendorText(lim.PASS_TAG_MAX)]] | None = Field(
        None, max_length=lim.PASS_TAGS_MAX, description="display tags"
    )
    country: RegionCode | None = Field(None, description="region code from the AlipayHK table")
    province: RegionCode | None = Field(None, description="region code")
    city: RegionCode | None = Field(None, description="region code")
    district: RegionCode | None = Field(None, description="region code")
    businessArea: RegionCode | None = Field(None, description="region code")
    soldNum: Count | None = Field(None, description="units sold")
    userNum: Count | None = Field(None, description="number of users")
    rating: Annotated[str, VendorText(lim.RATING_MAX)] | None = Field(None, description="rating")
    rateNum: Count | None = Field(None, description="number of ratings")


def ext_info_by_product(value: object, product: object) -> PassExtInfo | JsonObject | None:
    """PASS has a known passExtInfo; every other product's is unknown (#27): any JSON object."""
    if value is None:
        return None
    if product == "PASS":
        return PassExtInfo.model_validate(value)
    return JSON_OBJECT.validate_python(value)


class TemplateContent(VendorModel):
    """Every createTemplate field a catalog author writes (all but requestId and merchantId)."""

    startDate: EpochMillis = Field(description="when the template becomes active (not in the past)")
    endDate: EndMillis = Field(
        description="when the template expires (after startDate); a bare date is the end of "
        "that day in Hong Kong"
    )
    type: TemplateType = Field(description="COUPON or TICKET")
    product: Product = Field(
        description="GIFT_CARD for COUPON; PASS, MOVIE, AIR_TICKET, TRAIN_TICKET, BUS_TICKET "
        "or SHIP_TICKET for TICKET"
    )
    codeType: CodeType = Field(description="barcode, qrcode, promocode or none")
    codeStandard: Annotated[str, Field(max_length=lim.CODE_STANDARD_MAX)] = Field(
        description="CODE128 or EAN-13 for barcode, QRCODE for qrcode, anything for promocode/none"
    )
    imageUrl: Annotated[
        str, VendorUrl(lim.URL_MAX, lim.IMAGE_URL_SCHEMES, Code.PASS_TEMPLATE_IMAGE_URL_ILLEGAL)
    ] = Field(description="https URL of a square 350x350 image under 100 KB")
    button: Button = Field(description="the card's button: btnType, btnUrl, urlType, browserOpen")
    localeInfo: LocaleInfo = Field(description="texts per locale: zh_HK and/or en_US")
    merchantLogo: Annotated[str, VendorUrl(lim.URL_MAX, lim.IMAGE_URL_SCHEMES)] | None = Field(
        None, description="https URL of the merchant logo under 100 KB"
    )
    currentAmountCent: Cents | None = Field(None, description="selling price in cents")
    originalAmountCent: Cents | None = Field(None, description="original price in cents")
    currencyCode: CurrencyCode | None = Field(None, description="ISO 4217 code, e.g. HKD")
    stock: Annotated[int, Field(ge=lim.STOCK_MIN, le=lim.STOCK_MAX)] | None = Field(
        None, description=f"quantity in stock, {lim.STOCK_MIN}..{lim.STOCK_MAX}"
    )
    orderPageLink: AppLink | None = Field(None, description="alipayhk:// link to the buy page")
    detailLink: AppLink | None = Field(None, description="alipayhk:// link to the detail page")
    categories: list[str] = Field(
        min_length=lim.CATEGORIES_MIN,
        max_length=lim.CATEGORIES_MAX,
        description="1 or 2 category codes (coupon table, or ticket category codes)",
    )
    bizMids: list[MerchantId] | None = Field(
        None, max_length=lim.BIZ_MIDS_MAX, description="associated merchant IDs (COUPON only)"
    )
    exposure: Exposure | None = Field(None, description="exposed or hidden")
    passExtInfo: PassExtInfo | JsonObject | None = Field(
        None, description="extra ticket information (an object; its fields depend on product)"
    )

    @field_validator("passExtInfo", mode="wrap")
    @classmethod
    def _ext_info(
        cls, value: object, _: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> PassExtInfo | JsonObject | None:
        return ext_info_by_product(value, info.data.get("product"))


class TemplateRequest(TemplateContent):
    """The full createTemplate body: the content plus the two fields ipass fills in."""

    requestId: RequestId = Field(description="unique request ID, at most 32 characters")
    merchantId: MerchantId = Field(description="merchant ID from AlipayHK")
