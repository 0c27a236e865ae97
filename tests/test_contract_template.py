"""The createTemplate contract: models, field rules, cross-field rules, codes, dates, lengths."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from reconciler.domain.contract.codes import MESSAGES, ResultCode, ResultStatus, status_of
from reconciler.domain.contract.dates import HONG_KONG, format_hk, to_epoch_millis
from reconciler.domain.contract.envelope import ResultInfo, TemplateCreatedBody
from reconciler.domain.contract.limits import CURRENCY_CODES, vendor_length
from reconciler.domain.contract.rules import (
    Checked,
    Violation,
    check_template_content,
    check_template_request,
    template_json_schema,
)
from reconciler.domain.contract.template import TemplateContent, TemplateRequest

C = ResultCode
NOW = 1_767_196_800_000  # 2026-01-01 00:00 HKT
DEC_1 = 1_796_054_400_000  # 2026-12-01 00:00 HKT
JUN_1 = 1_811_779_200_000  # 2027-06-01 00:00 HKT
LINK = "alipayhk://platformapi/startapp?appId=2102020211542667&page=pages/buy/index"
DELETE = object()

COUPON: dict[str, Any] = {
    "startDate": DEC_1,
    "endDate": JUN_1,
    "type": "COUPON",
    "product": "GIFT_CARD",
    "codeType": "barcode",
    "codeStandard": "CODE128",
    "imageUrl": "https://example.com/card-350x350.png",
    "button": {"btnType": "usage", "btnUrl": LINK},
    "localeInfo": {
        "zh_HK": {
            "name": "HKD100 禮品卡",
            "description": "使用說明\n第二行",
            "brandName": "示例品牌",
        },
        "en_US": {"name": "HKD100 Gift Card", "subName": "Any shop", "brandName": "Demo Brand"},
    },
    "merchantLogo": "https://example.com/logo.png",
    "currentAmountCent": 9000,
    "originalAmountCent": 10000,
    "currencyCode": "HKD",
    "stock": 1000,
    "orderPageLink": LINK,
    "categories": ["Food"],
    "bizMids": ["2160120041113167"],
    "exposure": "exposed",
}
TICKET: dict[str, Any] = {
    "startDate": DEC_1,
    "endDate": JUN_1,
    "type": "TICKET",
    "product": "AIR_TICKET",
    "codeType": "qrcode",
    "codeStandard": "QRCODE",
    "imageUrl": "https://example.com/ticket.png",
    "button": {"btnType": "none", "urlType": "CODE_PAY_BTN"},
    "localeInfo": {"zh_HK": {"name": "機票"}},
    "categories": ["0002000100020009"],
}
PASS: dict[str, Any] = {
    **TICKET,
    "product": "PASS",
    "codeType": "none",
    "codeStandard": "",
    "orderPageLink": LINK,
    "detailLink": LINK,
    "exposure": "exposed",
    "passExtInfo": {"tags": ["Concert"], "country": "HK", "soldNum": 10, "rating": "4.5"},
}
MOVIE: dict[str, Any] = {**PASS, "product": "MOVIE", "passExtInfo": {"anything": [1, {"x": None}]}}


def changed(body: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """A deep copy of `body` with `path` (dotted) set to `value`, or removed when DELETE."""
    result = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return result


def content(body: object, now_ms: int | None = NOW) -> Checked[TemplateContent]:
    return check_template_content(body, now_ms=now_ms)


def only(checked: Checked[Any]) -> Violation:
    assert checked.value is None
    assert len(checked.violations) == 1, checked.violations
    return checked.violations[0]


# --- valid bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        COUPON,
        PASS,
        MOVIE,
        TICKET,
        {**TICKET, "product": "TRAIN_TICKET"},
        {**TICKET, "product": "BUS_TICKET"},
        {**TICKET, "product": "SHIP_TICKET"},
    ],
    ids=["COUPON", "PASS", "MOVIE", "AIR_TICKET", "TRAIN_TICKET", "BUS_TICKET", "SHIP_TICKET"],
)
def test_valid_bodies_pass_and_dump_to_the_same_vendor_json(body: dict[str, Any]) -> None:
    checked = content(body)
    assert checked.violations == ()
    assert checked.ok
    assert checked.value is not None
    assert checked.value.model_dump(mode="json", by_alias=True, exclude_none=True) == body


def test_request_adds_request_id_and_merchant_id() -> None:
    body = {
        **COUPON,
        "requestId": "20240522064221000000000000000001",
        "merchantId": "2160120041113167",
    }
    checked = check_template_request(body, now_ms=NOW)
    assert checked.violations == ()
    assert isinstance(checked.value, TemplateRequest)
    assert checked.value.model_dump(mode="json", exclude_none=True) == body


def test_models_are_frozen() -> None:
    value = content(COUPON).value
    assert value is not None
    with pytest.raises(ValidationError) as caught:
        value.stock = 5  # type: ignore[misc]  # the point: mypy and pydantic both refuse it
    assert [error["type"] for error in caught.value.errors()] == ["frozen_instance"]
    assert value.stock == 1000


# --- one test per rule -------------------------------------------------------------------------

CASES: list[tuple[dict[str, Any], str, object, tuple[str | int, ...], ResultCode, str]] = [
    (COUPON, "type", "COUPONS", ("type",), C.PARAM_ILLEGAL,
     "'COUPONS' is not allowed; use one of COUPON, TICKET"),
    (TICKET, "product", "GIFT_CARD", ("product",), C.PARAM_ILLEGAL,
     "'GIFT_CARD' is not allowed with type TICKET; use one of PASS, MOVIE, AIR_TICKET, "
     "TRAIN_TICKET, BUS_TICKET, SHIP_TICKET"),
    (COUPON, "codeStandard", "QRCODE", ("codeStandard",), C.PARAM_ILLEGAL,
     "'QRCODE' is not allowed with codeType barcode; use one of CODE128, EAN-13"),
    (TICKET, "codeStandard", "CODE128", ("codeStandard",), C.PARAM_ILLEGAL,
     "'CODE128' is not allowed with codeType qrcode; use one of QRCODE"),
    (TICKET, "codeType", "qr", ("codeType",), C.PARAM_ILLEGAL,
     "'qr' is not allowed; use one of barcode, qrcode, promocode, none"),
    (COUPON, "codeStandard", "X" * 17, ("codeStandard",), C.PARAM_ILLEGAL,
     "longer than 16 characters (17)"),
    (COUPON, "stock", DELETE, ("stock",), C.PARAM_ILLEGAL,
     "required when type is COUPON; quantity in stock, 1..1000000"),
    (COUPON, "orderPageLink", DELETE, ("orderPageLink",), C.PARAM_ILLEGAL,
     "required when type is COUPON; alipayhk:// link to the buy page"),
    (COUPON, "exposure", None, ("exposure",), C.PARAM_ILLEGAL,
     "required when type is COUPON; one of exposed, hidden"),
    (PASS, "detailLink", DELETE, ("detailLink",), C.PARAM_ILLEGAL,
     "required when product is PASS; alipayhk:// link to the detail page"),
    (PASS, "orderPageLink", DELETE, ("orderPageLink",), C.PARAM_ILLEGAL,
     "required when product is PASS; alipayhk:// link to the buy page"),
    (PASS, "exposure", DELETE, ("exposure",), C.PARAM_ILLEGAL,
     "required when product is PASS; one of exposed, hidden"),
    (MOVIE, "passExtInfo", DELETE, ("passExtInfo",), C.PARAM_ILLEGAL,
     "required when product is MOVIE; extra ticket information (an object; its fields depend on "
     "product)"),
    (COUPON, "stock", 0, ("stock",), C.PARAM_ILLEGAL, "must be at least 1, not the number 0"),
    (COUPON, "stock", 1_000_001, ("stock",), C.PARAM_ILLEGAL,
     "must be at most 1000000, not the number 1000001"),
    (COUPON, "orderPageLink", "https://example.com/buy", ("orderPageLink",), C.PARAM_ILLEGAL,
     "must start with alipayhk://, not 'https://example.com/buy'"),
    (COUPON, "orderPageLink", "allpayhk://x", ("orderPageLink",), C.PARAM_ILLEGAL,
     "must start with alipayhk://, not 'allpayhk://x'; 'allpayhk://' is a typo"),
    (COUPON, "orderPageLink", "alipayhk://" + "x" * 502, ("orderPageLink",), C.PARAM_ILLEGAL,
     "longer than 512 characters (513)"),
    (PASS, "detailLink", "alipayhk://a b", ("detailLink",), C.PARAM_ILLEGAL,
     "'alipayhk://a b' is not a valid URL"),
    (COUPON, "imageUrl", "ftp://example.com/a.png",
     ("imageUrl",), C.PASS_TEMPLATE_IMAGE_URL_ILLEGAL,
     "must start with https://, not 'ftp://example.com/a.png'"),
    (COUPON, "imageUrl", "https://", ("imageUrl",), C.PASS_TEMPLATE_IMAGE_URL_ILLEGAL,
     "'https://' is not a valid URL"),
    (COUPON, "imageUrl", "https://e.com/" + "a" * 499,
     ("imageUrl",), C.PASS_TEMPLATE_IMAGE_URL_ILLEGAL,
     "longer than 512 characters (513)"),
    (COUPON, "merchantLogo", "logo.png", ("merchantLogo",), C.PARAM_ILLEGAL,
     "must start with https://, not 'logo.png'"),
    (COUPON, "imageUrl", "http://cdn.example.com/a.png",
     ("imageUrl",), C.PASS_TEMPLATE_IMAGE_URL_ILLEGAL,
     "must start with https://, not 'http://cdn.example.com/a.png'; plain http is refused, "
     "use https://"),
    (COUPON, "merchantLogo", "http://cdn.example.com/logo.png", ("merchantLogo",),
     C.PARAM_ILLEGAL,
     "must start with https://, not 'http://cdn.example.com/logo.png'; plain http is refused, "
     "use https://"),
    (COUPON, "button.btnUrl", DELETE, ("button", "btnUrl"), C.PASS_TEMPLATE_BTN_URL_ILLEGAL,
     "required when btnType is usage; an alipayhk:// or https:// URL"),
    (COUPON, "button.btnUrl", "http://example.com",
     ("button", "btnUrl"), C.PASS_TEMPLATE_BTN_URL_ILLEGAL,
     "must start with alipayhk:// or https://, not 'http://example.com'; plain http is refused, "
     "use https://"),
    (COUPON, "button.btnType", "click", ("button", "btnType"), C.PARAM_ILLEGAL,
     "'click' is not allowed; use one of usage, payment, none"),
    (COUPON, "currentAmountCent", -1, ("currentAmountCent",), C.PARAM_ILLEGAL,
     "must be at least 0, not the number -1"),
    (COUPON, "originalAmountCent", 100_000_001, ("originalAmountCent",), C.PARAM_ILLEGAL,
     "must be at most 100000000, not the number 100000001"),
    (COUPON, "currentAmountCent", 10001, ("currentAmountCent",), C.PARAM_ILLEGAL,
     "must not exceed originalAmountCent (10000), not 10001"),
    (COUPON, "currencyCode", "HKG", ("currencyCode",), C.PARAM_ILLEGAL,
     "'HKG' is not an ISO 4217 currency code; did you mean 'HKD'?"),
    (COUPON, "currencyCode", "hkd", ("currencyCode",), C.PARAM_ILLEGAL,
     "'hkd' is not an ISO 4217 currency code; did you mean 'HKD'?"),
    (COUPON, "currencyCode", "XTS", ("currencyCode",), C.PARAM_ILLEGAL,
     "'XTS' is not an ISO 4217 currency code; use one such as 'HKD'"),
    (COUPON, "categories", [], ("categories",), C.PARAM_ILLEGAL, "needs at least 1 item(s)"),
    (COUPON, "categories", ["Food", "Medical", "Others"], ("categories",), C.PARAM_ILLEGAL,
     "more than 2 items (3)"),
    (COUPON, "categories", ["Food", "food"], ("categories", 1), C.PARAM_ILLEGAL,
     "'food' is not a coupon category; did you mean 'Food'?"),
    (COUPON, "categories", ["Coffee & Tea"], ("categories", 0), C.PARAM_ILLEGAL,
     "'Coffee & Tea' is not a coupon category; did you mean 'CoffeeAndTea'?"),
    (COUPON, "categories", ["餐飲"], ("categories", 0), C.PARAM_ILLEGAL,
     "'餐飲' is not a coupon category; did you mean 'Food'?"),
    (COUPON, "categories", ["Jewelry"], ("categories", 0), C.PARAM_ILLEGAL,
     "'Jewelry' is not a coupon category; did you mean 'Jewellery'?"),
    (COUPON, "categories", ["Zzz"], ("categories", 0), C.PARAM_ILLEGAL,
     "'Zzz' is not a coupon category; use one of Food, CoffeeAndTea, Medical, Cosmetics, "
     "Groceries, Ecommerce, Electronics, Games, Clothing, Jewellery, Entertainment, Education, "
     "Transportation, Others"),
    (TICKET, "categories", ["x" * 33], ("categories", 0), C.PARAM_ILLEGAL,
     "must be a ticket category code (16 digits, e.g. 0002000100020009) or a label of at most 32 "
     "characters"),
    (TICKET, "categories", [" "], ("categories", 0), C.PARAM_ILLEGAL,
     "must be a ticket category code (16 digits, e.g. 0002000100020009) or a label of at most 32 "
     "characters"),
    (COUPON, "bizMids", ["1"] * 31, ("bizMids",), C.PARAM_ILLEGAL, "more than 30 items (31)"),
    (COUPON, "bizMids", ["2160-1"], ("bizMids", 0), C.PARAM_ILLEGAL,
     "'2160-1' is not a merchant ID (letters and digits, e.g. 2160120041113167)"),
    (TICKET, "bizMids", ["2160120041113167"], ("bizMids",), C.PARAM_ILLEGAL,
     "only allowed when type is COUPON; remove it"),
    (COUPON, "startDate", NOW - 1, ("startDate",), C.PASS_TEMPLATE_START_TIME_LESS_CURRENT,
     "2025-12-31 23:59 HKT is in the past (now 2026-01-01 00:00 HKT); start from now on"),
    (COUPON, "endDate", DEC_1, ("endDate",), C.PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL,
     "2026-12-01 00:00 HKT must be after startDate (2026-12-01 00:00 HKT)"),
    # A bare end date is the end of that day in Hong Kong.
    (COUPON, "endDate", "2026-11-30", ("endDate",), C.PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL,
     "2026-11-30 23:59 HKT must be after startDate (2026-12-01 00:00 HKT)"),
    (COUPON, "startDate", "2026-02-30", ("startDate",), C.PARAM_ILLEGAL,
     "'2026-02-30' is not a date; use epoch milliseconds (1796090400000), 2026-12-01 (the start "
     "of that day in Hong Kong; for an end date, its end), 2026-12-01 10:00:00 (Hong Kong time) "
     "or 2026-12-01T10:00:00+08:00"),
    (COUPON, "localeInfo.zh_HK.name", "一二三四五六七八九十一二三",
     ("localeInfo", "zh_HK", "name"), C.PASS_TEMPLATE_NAME_ILLEGAL,
     "longer than 12 characters (13)"),
    (COUPON, "localeInfo.en_US.name", "x" * 25,
     ("localeInfo", "en_US", "name"), C.PASS_TEMPLATE_NAME_ILLEGAL,
     "longer than 24 characters (25)"),
    (COUPON, "localeInfo.en_US.name", "🎟" * 13,
     ("localeInfo", "en_US", "name"), C.PASS_TEMPLATE_NAME_ILLEGAL,
     "longer than 24 characters (26; emoji and rare characters count 2)"),
    (COUPON, "localeInfo.en_US.name", " \t",
     ("localeInfo", "en_US", "name"), C.PASS_TEMPLATE_NAME_ILLEGAL,
     "must not be empty or only spaces"),
    (COUPON, "localeInfo.zh_HK.name", "",
     ("localeInfo", "zh_HK", "name"), C.PASS_TEMPLATE_NAME_ILLEGAL,
     "must not be empty or only spaces"),
    (COUPON, "localeInfo.zh_HK.subName", "副" * 17,
     ("localeInfo", "zh_HK", "subName"), C.PASS_TEMPLATE_NAME_ILLEGAL,
     "longer than 16 characters (17)"),
    (COUPON, "localeInfo.en_US.subName", "s" * 33,
     ("localeInfo", "en_US", "subName"), C.PASS_TEMPLATE_NAME_ILLEGAL,
     "longer than 32 characters (33)"),
    (COUPON, "localeInfo.zh_HK.description", "說" * 513,
     ("localeInfo", "zh_HK", "description"), C.PASS_TEMPLATE_DESCRIPTION_ILLEGAL,
     "longer than 512 characters (513)"),
    (COUPON, "localeInfo.en_US.description", "d" * 1025,
     ("localeInfo", "en_US", "description"), C.PASS_TEMPLATE_DESCRIPTION_ILLEGAL,
     "longer than 1024 characters (1025)"),
    (COUPON, "localeInfo.zh_HK.brandName", "品" * 17,
     ("localeInfo", "zh_HK", "brandName"), C.PASS_TEMPLATE_BRAND_NAME_ILLEGAL,
     "longer than 16 characters (17)"),
    (COUPON, "localeInfo.en_US.brandName", "b" * 33,
     ("localeInfo", "en_US", "brandName"), C.PASS_TEMPLATE_BRAND_NAME_ILLEGAL,
     "longer than 32 characters (33)"),
    (COUPON, "localeInfo.en_US.name", DELETE, ("localeInfo", "en_US", "name"), C.PARAM_ILLEGAL,
     "required; title, at most 24 characters"),
    (COUPON, "localeInfo", {}, ("localeInfo",), C.PARAM_ILLEGAL,
     "needs at least one of zh_HK, en_US"),
    (COUPON, "localeInfo.zh_CN", {"name": "x"}, ("localeInfo", "zh_CN"), C.PARAM_ILLEGAL,
     "unknown field 'zh_CN'; did you mean 'zh_HK'?"),
    (COUPON, "imageURL", "https://example.com/a.png", ("imageURL",), C.PARAM_ILLEGAL,
     "unknown field 'imageURL'; did you mean 'imageUrl'?"),
    (COUPON, "button.btnURL", LINK, ("button", "btnURL"), C.PARAM_ILLEGAL,
     "unknown field 'btnURL'; did you mean 'btnUrl'?"),
    (TICKET, "button.colour", "red", ("button", "colour"), C.PARAM_ILLEGAL,
     "unknown field 'colour'; allowed: btnType, btnUrl, urlType, browserOpen"),
    (PASS, "passExtInfo.tag", ["x"], ("passExtInfo", "tag"), C.PARAM_ILLEGAL,
     "unknown field 'tag'; did you mean 'tags'?"),
    (PASS, "passExtInfo.soldNum", -1, ("passExtInfo", "soldNum"), C.PARAM_ILLEGAL,
     "must be at least 0, not the number -1"),
    (PASS, "passExtInfo.tags", "Concert", ("passExtInfo", "tags"), C.PARAM_ILLEGAL,
     "must be an array, not the string 'Concert'"),
    (PASS, "passExtInfo", [], ("passExtInfo",), C.PARAM_ILLEGAL, "must be an object, not an array"),
    (MOVIE, "passExtInfo", "x", ("passExtInfo",), C.PARAM_ILLEGAL,
     "must be an object, not the string 'x'"),
    (COUPON, "requestId", "1", ("requestId",), C.PARAM_ILLEGAL,
     "requestId is derived by ipass; remove it"),
    (COUPON, "merchantId", "2160120041113167", ("merchantId",), C.PARAM_ILLEGAL,
     "merchantId comes from the environment in ipass.toml; remove it"),
    (COUPON, "codeStandrad", "CODE128", ("codeStandrad",), C.PARAM_ILLEGAL,
     "unknown field 'codeStandrad'; did you mean 'codeStandard'?"),
    (COUPON, "type", DELETE, ("type",), C.PARAM_ILLEGAL, "required; one of COUPON, TICKET"),
    (COUPON, "imageUrl", DELETE, ("imageUrl",), C.PARAM_ILLEGAL,
     "required; https URL of a square 350x350 image under 100 KB"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_each_rule_gives_its_location_code_and_message(
    case: tuple[dict[str, Any], str, object, tuple[str | int, ...], ResultCode, str],
) -> None:
    body, path, value, loc, code, message = case
    assert only(content(changed(body, path, value))) == Violation(loc, message, code)


@pytest.mark.parametrize(
    ("body", "path", "value"),
    [
        (COUPON, "stock", 1),
        (COUPON, "stock", 1_000_000),
        (COUPON, "currentAmountCent", 10000),
        (COUPON, "originalAmountCent", DELETE),
        (COUPON, "currentAmountCent", 0),
        (COUPON, "codeStandard", "EAN-13"),
        (COUPON, "codeType", "promocode"),
        (TICKET, "codeType", "none"),
        (PASS, "codeStandard", "anything"),
        (COUPON, "orderPageLink", "alipayhk://" + "x" * 501),
        (COUPON, "imageUrl", "https://example.com:8080/a.png?size=350#top"),
        (COUPON, "button", {"btnType": "payment"}),
        (COUPON, "button", {"btnType": "none", "browserOpen": True}),
        (COUPON, "categories", ["Food", "CoffeeAndTea"]),
        (TICKET, "categories", ["Concert", "x" * 32]),
        (COUPON, "bizMids", ["1"] * 30),
        (COUPON, "startDate", NOW),
        (COUPON, "localeInfo.zh_HK.name", "一二三四五六七八九十一二"),
        (COUPON, "localeInfo.en_US.name", "🎟" * 12),
        (COUPON, "localeInfo.en_US", DELETE),
        (COUPON, "localeInfo.zh_HK", None),
        (COUPON, "merchantLogo", None),
        (MOVIE, "passExtInfo", {}),
        (TICKET, "passExtInfo", {"free": "form"}),
        (COUPON, "currencyCode", "XCG"),
    ],
)
def test_boundaries_and_options_that_are_allowed(
    body: dict[str, Any], path: str, value: object
) -> None:
    assert content(changed(body, path, value)).violations == ()


def test_past_start_is_allowed_for_published_templates() -> None:
    assert content(changed(COUPON, "startDate", NOW - 1), now_ms=None).violations == ()


def test_every_violation_is_collected_not_only_the_first() -> None:
    body = changed(COUPON, "type", "TICKET")  # bizMids becomes illegal
    body["stock"] = "100"
    body["imageUrl"] = "ftp://x"
    body["localeInfo"]["en_US"]["name"] = False
    body["button"] = {"btnType": "usage"}
    body["codeStandard"] = "QRCODE"
    body["colour"] = "red"
    locs = {v.loc: v.code for v in content(body).violations}
    assert locs == {
        ("stock",): C.PARAM_ILLEGAL,
        ("imageUrl",): C.PASS_TEMPLATE_IMAGE_URL_ILLEGAL,
        ("localeInfo", "en_US", "name"): C.PARAM_ILLEGAL,
        ("colour",): C.PARAM_ILLEGAL,
        ("product",): C.PARAM_ILLEGAL,
        ("codeStandard",): C.PARAM_ILLEGAL,
        ("button", "btnUrl"): C.PASS_TEMPLATE_BTN_URL_ILLEGAL,
        ("bizMids",): C.PARAM_ILLEGAL,
    }


def test_a_broken_field_is_not_reported_again_by_cross_field_rules() -> None:
    body = changed(COUPON, "stock", "many")  # present but invalid: not "required" as well
    body["startDate"] = "soon"  # invalid: no interval or "in the past" report on top
    assert {v.loc for v in content(body).violations} == {("stock",), ("startDate",)}


def test_missing_everything_lists_every_required_field() -> None:
    locs = [v.loc[0] for v in content({}).violations]
    assert locs == [
        "startDate", "endDate", "type", "product", "codeType", "codeStandard", "imageUrl",
        "button", "localeInfo", "categories",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [([], "must be an object, not an array"), (None, "must be an object, not null")],
)
def test_a_body_that_is_not_an_object(data: object, message: str) -> None:
    assert only(content(data)) == Violation((), message, C.PARAM_ILLEGAL)


# --- strictness: no silent coercion ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("codeStandard", False, "must be a string, not the boolean false"),
        ("localeInfo.en_US.name", 123, "must be a string, not the number 123"),
        ("imageUrl", None, "must be a string, not null"),
        ("stock", "100", "must be a whole number, not the string '100'"),
        ("stock", True, "must be a whole number, not the boolean true"),
        ("stock", 100.0, "must be a whole number, not the number 100.0"),
        ("categories", "Food", "must be an array, not the string 'Food'"),
        ("categories", [1], "must be a string, not the number 1"),
        ("button", "usage", "must be an object, not the string 'usage'"),
        ("button.browserOpen", "yes", "must be true or false, not the string 'yes'"),
        ("type", 1, "the number 1 is not allowed; use one of COUPON, TICKET"),
    ],
)
def test_wrong_types_are_refused_not_coerced(path: str, value: object, message: str) -> None:
    violation = only(content(changed(COUPON, path, value)))
    assert violation.message == message
    assert violation.code is C.PARAM_ILLEGAL


def test_long_input_values_are_cut_in_messages() -> None:
    body = changed(COUPON, "type", "T" * 1000)
    body["x" * 1000] = 1
    messages = [v.message for v in content(body).violations]
    assert messages == [
        f"'{'T' * 40}...' is not allowed; use one of COUPON, TICKET",
        f"unknown field '{'x' * 40}...'; allowed: " + ", ".join(TemplateContent.model_fields),
    ]


# --- the server side: full request -------------------------------------------------------------

REQUEST = {**PASS, "requestId": "1212121112010011", "merchantId": "2160400000000022"}


def test_request_tolerates_the_vendor_typo_code_standrad() -> None:
    body = changed(REQUEST, "codeStandard", DELETE)
    body["codeStandrad"] = ""
    checked = check_template_request(body, now_ms=NOW)
    assert checked.value is not None
    assert checked.value.model_dump(mode="json", exclude_none=True)["codeStandard"] == ""


def test_request_with_both_spellings_reports_the_typo() -> None:
    body = {**REQUEST, "codeStandrad": "QRCODE"}
    assert only(check_template_request(body, now_ms=NOW)) == Violation(
        ("codeStandrad",),
        "unknown field 'codeStandrad'; did you mean 'codeStandard'?",
        C.PARAM_ILLEGAL,
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("requestId", "1" * 33, "longer than 32 characters (33)"),
        ("requestId", "a b", "'a b' is not a request ID (visible ASCII characters, no spaces)"),
        ("requestId", DELETE, "required; unique request ID, at most 32 characters"),
        ("merchantId", "2" * 65, "longer than 64 characters (65)"),
        ("merchantId", "2160-4000", "'2160-4000' is not a merchant ID (letters and digits, e.g. "
         "2160120041113167)"),
        ("merchantId", 2160400000000022, "must be a string, not the number 2160400000000022"),
    ],
)  # fmt: skip
def test_request_id_and_merchant_id_rules(path: str, value: object, message: str) -> None:
    violation = only(check_template_request(changed(REQUEST, path, value), now_ms=NOW))
    assert (violation.loc, violation.message) == ((path,), message)


def test_merchant_id_of_64_characters_is_accepted() -> None:
    body = changed(REQUEST, "merchantId", "A1" * 32)
    assert check_template_request(body, now_ms=NOW).violations == ()


# --- never raises ------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
CHECKS: list[Callable[[object], Checked[Any]]] = [
    lambda data: check_template_content(data, now_ms=NOW),
    lambda data: check_template_request(data, now_ms=None),
]


@settings(max_examples=150, deadline=None)
@given(data=JSON)
def test_checks_never_raise_on_arbitrary_json(data: object) -> None:
    for check in CHECKS:
        checked = check(data)
        assert checked.value is None or checked.violations == ()
        assert all(isinstance(v.code, ResultCode) for v in checked.violations)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([COUPON, PASS, MOVIE, TICKET]),
    field=st.sampled_from([*TemplateContent.model_fields, "button.btnUrl", "localeInfo.zh_HK"]),
    value=JSON,
)
def test_checks_never_raise_on_mutated_bodies(
    base: dict[str, Any], field: str, value: object
) -> None:
    body = (
        changed(base, field, value) if field.partition(".")[0] in base else {**base, field: value}
    )
    checked = content(body)
    assert checked.ok == (checked.value is not None)
    assert all(len(v.message) < 700 for v in checked.violations)


# --- codes -------------------------------------------------------------------------------------

_CODE_TABLES = """
SUCCESS PARAM_ILLEGAL PROCESS_FAIL KEY_NOT_FOUND ACCESS_DENIED REQUEST_TRAFFIC_EXCEED_LIMIT
INVALID_API INVALID_CLIENT INVALID_SIGNATURE METHOD_NOT_SUPPORTED MEDIA_TYPE_NOT_ACCEPTABLE
UNKNOWN_EXCEPTION PASS_TEMPLATE_BTN_URL_ILLEGAL PASS_TEMPLATE_IMAGE_URL_ILLEGAL
PASS_TEMPLATE_NAME_ILLEGAL PASS_TEMPLATE_DESCRIPTION_ILLEGAL PASS_TEMPLATE_BRAND_NAME_ILLEGAL
PASS_TEMPLATE_SHOP_ILLEGAL PASS_TEMPLATE_TAG_LABEL_ILLEGAL PASS_TEMPLATE_TAG_VALUE_ILLEGAL
PASS_TEMPLATE_START_TIME_LESS_CURRENT PASS_TEMPLATE_START_TIME_EXCEED
PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL PASS_TEMPLATE_END_TIME_EXCEED PASS_TEMPLATE_IMAGE_INVALID
PASS_TEMPLATE_CUSTOMTAB_URL_INVALID PASS_TEMPLATE_BTN_URL_INVALID PASS_TEMPLATE_CONTENT_INVALID
USER_NOT_EXIST PASS_HAS_EXIST PASS_TEMPLATE_HAS_NOT_EXIT PASS_TYPE_NOT_MATCH
PASS_PRODUCT_TYPE_NOT_MATCH PASS_TEMPLATE_JSON_CONTENT_IS_NULL PASS_TEMPLATE_JSON_CONTENT_ILLEGAL
"""
VENDOR_CODES = _CODE_TABLES.split()  # sections 1.11, 2.7, 3.5 in order


def test_every_vendor_code_is_spelled_as_the_vendor_does() -> None:
    assert [code.value for code in ResultCode] == VENDOR_CODES
    assert set(MESSAGES) == set(ResultCode)


def test_status_of_each_code() -> None:
    assert status_of(C.SUCCESS) is ResultStatus.S
    assert status_of(C.UNKNOWN_EXCEPTION) is ResultStatus.U
    assert status_of(C.REQUEST_TRAFFIC_EXCEED_LIMIT) is ResultStatus.U
    others = set(ResultCode) - {C.SUCCESS, C.UNKNOWN_EXCEPTION, C.REQUEST_TRAFFIC_EXCEED_LIMIT}
    assert {status_of(code) for code in others} == {ResultStatus.F}


def test_result_info_and_created_body() -> None:
    info = ResultInfo.of(C.PASS_TEMPLATE_NAME_ILLEGAL)
    assert info.model_dump(mode="json") == {
        "resultCode": "PASS_TEMPLATE_NAME_ILLEGAL",
        "resultStatus": "F",
        "resultMessage": "Template name format illegally.",
    }
    sample = {
        "resultInfo": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "templateCode": "22024112800135606000000001424755",
        "status": "valid",
        "later": "ignored",
    }
    body = TemplateCreatedBody.model_validate(sample)
    assert body.result.resultStatus is ResultStatus.S
    assert body.model_dump(mode="json", exclude_none=True) == {
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "templateCode": "22024112800135606000000001424755",
        "status": "valid",
    }


# --- dates and lengths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_796_090_400_000, 1_796_090_400_000),
        ("1796090400000", 1_796_090_400_000),
        ("2026-12-01T10:00:00+08:00", 1_796_090_400_000),
        ("2026-12-01T02:00:00Z", 1_796_090_400_000),
        ("2026-12-01T07:30:00+0530", 1_796_090_400_000),
        ("2026-12-01T10:00:00.123456789+08:00", 1_796_090_400_123),
        ("2026-12-01T10:00:00", 1_796_090_400_000),
        ("2026-12-01T10:00", 1_796_090_400_000),
        ("2026-12-01 10:00:00", 1_796_090_400_000),
        ("2026-12-01", DEC_1),
    ],
)
def test_dates_in_every_accepted_form(value: object, expected: int) -> None:
    assert to_epoch_millis(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be a date: {forms}, not the boolean true"),
        (1.7e12, "must be a date: {forms}, not the number 1700000000000.0"),
        (None, "must be a date: {forms}; not null"),
        ([2026], "must be a date: {forms}; not an array"),
        ("2026/12/01", "'2026/12/01' is not a date; use {forms}"),
        ("2026-12-1", "'2026-12-1' is not a date; use {forms}"),
        ("tomorrow", "'tomorrow' is not a date; use {forms}"),
        ("2026-12-01T10:00:00+24:00", "'2026-12-01T10:00:00+24:00' is not a date; use {forms}"),
        (" 2026-12-01", "' 2026-12-01' is not a date; use {forms}"),
        ("\uff12\uff10\uff126-12-01", "'\uff12\uff10\uff126-12-01' is not a date; use {forms}"),
        (1_796_090_400, "the number 1796090400 is outside the years 2000..2100; dates are {forms}"),
        ("2101-01-01", "'2101-01-01' is outside the years 2000..2100; dates are {forms}"),
        ("1999-12-31T23:59:59+08:00",
         "'1999-12-31T23:59:59+08:00' is outside the years 2000..2100; dates are {forms}"),
    ],
)  # fmt: skip
def test_dates_that_are_refused(value: object, message: str) -> None:
    forms = (
        "epoch milliseconds (1796090400000), 2026-12-01 (the start of that day in Hong Kong; "
        "for an end date, its end), "
        "2026-12-01 10:00:00 (Hong Kong time) or 2026-12-01T10:00:00+08:00"
    )
    with pytest.raises(PydanticCustomError) as raised:
        to_epoch_millis(value)
    assert raised.value.message() == message.format(forms=forms)
    assert raised.value.context == {"reason": message.format(forms=forms), "code": C.PARAM_ILLEGAL}


def test_format_hk() -> None:
    assert format_hk(1_796_090_400_000) == "2026-12-01 10:00 HKT"
    assert HONG_KONG.utcoffset(None) == timedelta(hours=8)


@pytest.mark.parametrize(
    ("text", "units"),
    [("", 0), ("abc", 3), ("禮品卡", 3), ("🎟", 2), ("a🎟b", 4), ("\ud800", 1), ("é", 1)],
)
def test_vendor_length_counts_utf16_code_units(text: str, units: int) -> None:
    assert vendor_length(text) == units


def test_currency_codes_are_real_and_exclude_test_codes() -> None:
    assert {"HKD", "USD", "CNY", "EUR", "MOP"} <= CURRENCY_CODES
    assert not {"XTS", "XXX", "HKG", "RMB"} & CURRENCY_CODES
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_CODES)


# --- JSON Schema -------------------------------------------------------------------------------


def test_json_schema_describes_what_authors_write() -> None:
    schema = template_json_schema()
    properties = schema["properties"]
    assert isinstance(properties, dict)
    assert list(properties) == list(TemplateContent.model_fields)
    assert "requestId" not in properties
    assert schema["additionalProperties"] is False
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    assert defs["ZhHkText"]["properties"]["name"]["maxLength"] == 12
    assert defs["EnUsText"]["properties"]["name"]["maxLength"] == 24
    assert properties["imageUrl"]["pattern"] == "^https://"
    assert properties["merchantLogo"]["anyOf"][0]["pattern"] == "^https://"


def test_a_bare_end_date_is_the_end_of_that_day_and_a_start_date_its_start() -> None:
    from reconciler.domain.contract.dates import to_end_millis, to_epoch_millis

    start = to_epoch_millis("2027-12-31")
    assert to_end_millis("2027-12-31") == start + 24 * 3600 * 1000 - 1  # 23:59:59.999 HKT
    # A time, an offset or a number is taken as written.
    assert to_end_millis("2027-12-31T10:00:00+08:00") == to_epoch_millis(
        "2027-12-31T10:00:00+08:00"
    )
    assert to_end_millis(start) == start
