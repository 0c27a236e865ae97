"""The createPass contract: request fields, per-product dataInfo, and the response."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.domain.contract.codes import ResultCode, ResultStatus
from reconciler.domain.contract.envelope import PassCreatedBody
from reconciler.domain.contract.passes import MovieDataInfo, PassDataInfo, PassRequest
from reconciler.domain.contract.rules import Checked, Violation, check_pass_request

C = ResultCode
DELETE = object()

PASS_DATA: dict[str, Any] = {
    "$address_zh_HK$": "香港九龍彌敦道792號協成行太子中心",
    "$address_en_US$": "Prince Centre, 792 Nathan Road, Kowloon",
    "$availableTimes_zh_HK$": 2,
    "$availableTimes_en_US$": 2,
    "$price_zh_HK$": {"cent": 800, "currency": "HKD"},
    "$price_en_US$": {"cent": 800, "currency": "HKD"},
    "$startTime_zh_HK$": 1735279592000,
    "$startTime_en_US$": 1735279592000,
    "$endTime_zh_HK$": 1737957992000,
    "$endTime_en_US$": 1737957992000,
}
TICKET_PASS: dict[str, Any] = {
    "merchantId": "2160400000000022",
    "userId": "2160220043214225",
    "templateCode": "22024120100135606000000001443495",
    "bizSerialId": "000000006",
    "bizSerialType": "OUT_PLAT_FORM",
    "startDate": 1735279592000,
    "endDate": 1735538792000,
    "bizCreate": 1732787128015,
    "type": "TICKET",
    "product": "PASS",
    "codeInfo": {"$codevalue$": "1", "$codemsg$": "1"},
    "dataInfo": PASS_DATA,
}
MOVIE_DATA: dict[str, Any] = {
    "$availableTimes_zh_HK$": 1,
    "$availableTimes_en_US$": 1,
    "$cinemaName_zh_HK$": "示例戲院",
    "$cinemaName_en_US$": "Demo Cinema",
    "$address_zh_HK$": "旺角彌敦道1號",
    "$address_en_US$": "1 Nathan Road, Mong Kok",
    "$startTime_zh_HK$": 1796090400000,
    "$startTime_en_US$": 1796090400000,
    "$endTime_zh_HK$": 1796097600000,
    "$endTime_en_US$": 1796097600000,
    "$movieAttributes_zh_HK$": ["IMAX", "粵語"],
    "$movieAttributes_en_US$": ["IMAX", "Cantonese"],
    "$cinemaHouse_zh_HK$": "一號影院",
    "$cinemaHouse_en_US$": "House 1",
    "$movieSeats_zh_HK$": ["F12", "F13"],
    "$movieSeats_en_US$": ["F12", "F13"],
}
TICKET_MOVIE: dict[str, Any] = {**TICKET_PASS, "product": "MOVIE", "dataInfo": MOVIE_DATA}
COUPON: dict[str, Any] = {
    **TICKET_PASS,
    "openId": "fj398457jd8iue98d8w7w93j",
    "type": "COUPON",
    "product": "GIFT_CARD",
    "codeInfo": {"$codevalue$": "9123912839123712893", "$codemsg$": "9123912839123712893"},
    "dataInfo": {"en_US": {"$shopname$": "demo shop"}, "zh_HK": {"$shopname$": ""}},
    "publishScene": "FREE_GIVE",
}


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


def only(checked: Checked[Any]) -> Violation:
    assert checked.value is None
    assert len(checked.violations) == 1, checked.violations
    return checked.violations[0]


@pytest.mark.parametrize(
    "body",
    [
        TICKET_PASS,
        TICKET_MOVIE,
        COUPON,
        changed(COUPON, "dataInfo", {"$shopname$": "demo shop"}),
        changed(COUPON, "dataInfo", DELETE),
        {**TICKET_PASS, "product": "AIR_TICKET", "dataInfo": {"$flight_en_US$": "CX 100"}},
        {**TICKET_PASS, "product": "TRAIN_TICKET", "dataInfo": {"anything": [1, None]}},
        {**TICKET_PASS, "product": "BUS_TICKET", "dataInfo": {}},
        {**TICKET_PASS, "product": "SHIP_TICKET", "extInfo": {"free": {"form": True}}},
    ],
    ids=[
        "PASS",
        "MOVIE",
        "COUPON-nested",
        "COUPON-flat",
        "COUPON-none",
        "AIR",
        "TRAIN",
        "BUS",
        "SHIP",
    ],
)
def test_valid_passes_dump_to_the_same_vendor_json(body: dict[str, Any]) -> None:
    checked = check_pass_request(body)
    assert checked.violations == ()
    assert isinstance(checked.value, PassRequest)
    assert checked.value.model_dump(mode="json", exclude_none=True) == body


def test_data_info_is_typed_per_product() -> None:
    ticket = check_pass_request(TICKET_PASS).value
    movie = check_pass_request(TICKET_MOVIE).value
    assert ticket is not None
    assert movie is not None
    assert isinstance(ticket.dataInfo, PassDataInfo)
    assert isinstance(movie.dataInfo, MovieDataInfo)
    assert movie.dataInfo.movieSeats_en_US == ["F12", "F13"]


def test_times_as_numeric_strings_and_legacy_dates_become_numbers() -> None:
    body = changed(TICKET_PASS, "dataInfo.$startTime_zh_HK$", "1735279592000")
    body["startDate"] = "2020-09-01 00:00:00"
    body["endDate"] = "2020-09-28 00:00:00"
    value = check_pass_request(body).value
    assert value is not None
    dumped = value.model_dump(mode="json", exclude_none=True)
    assert dumped["dataInfo"]["$startTime_zh_HK$"] == 1735279592000
    assert (dumped["startDate"], dumped["endDate"]) == (1598889600000, 1601222400000)


CASES: list[tuple[dict[str, Any], str, object, tuple[str | int, ...], str]] = [
    (TICKET_PASS, "userId", DELETE, ("userId",),
     "required unless openId is given; the AlipayHK user ID"),
    (TICKET_PASS, "userId", "2" * 33, ("userId",), "longer than 32 characters (33)"),
    (COUPON, "openId", "", ("openId",), "must not be empty or only spaces"),
    (TICKET_PASS, "templateCode", "2" * 33, ("templateCode",), "longer than 32 characters (33)"),
    (TICKET_PASS, "bizSerialId", "9" * 129, ("bizSerialId",), "longer than 128 characters (129)"),
    (TICKET_PASS, "bizSerialType", "IN_PLAT_FORM", ("bizSerialType",),
     "'IN_PLAT_FORM' is not allowed; use one of OUT_PLAT_FORM"),
    (COUPON, "publishScene", "PAID", ("publishScene",),
     "'PAID' is not allowed; use one of FREE_GIVE"),
    (TICKET_PASS, "bizCreate", DELETE, ("bizCreate",), "required; when the order was created"),
    (TICKET_PASS, "type", "CARD", ("type",), "'CARD' is not allowed; use one of COUPON, TICKET"),
    (TICKET_PASS, "product", "GIFT_CARD", ("product",),
     "'GIFT_CARD' is not allowed with type TICKET; use one of PASS, MOVIE, AIR_TICKET, "
     "TRAIN_TICKET, BUS_TICKET, SHIP_TICKET"),
    (TICKET_PASS, "dataInfo", DELETE, ("dataInfo",),
     "required when type is TICKET; an object of scenario data ($placeholder$ keys)"),
    (TICKET_PASS, "codeInfo", "{\"$codevalue$\": \"1\"}", ("codeInfo",),
     "must be an object, not the string '{\"$codevalue$\": \"1\"}'"),
    (TICKET_PASS, "codeInfo.$codemsg$", DELETE, ("codeInfo", "$codemsg$"),
     "required; text shown with the code"),
    (TICKET_PASS, "codeInfo.$codevalue$", "1" * 513, ("codeInfo", "$codevalue$"),
     "longer than 512 characters (513)"),
    (TICKET_PASS, "codeInfo.codevalue", "1", ("codeInfo", "codevalue"),
     "unknown field 'codevalue'; did you mean '$codevalue$'?"),
    (TICKET_PASS, "extInfo", [], ("extInfo",), "must be an object, not an array"),
    # PASS dataInfo (3.3)
    (TICKET_PASS, "dataInfo.$address_en_US$", DELETE, ("dataInfo", "$address_en_US$"),
     "required; venue address, at most 48 characters"),
    (TICKET_PASS, "dataInfo.$address_zh_HK$", "香港九龍彌敦道792-804號協成行太子中心703室",
     ("dataInfo", "$address_zh_HK$"), "longer than 24 characters (26)"),
    (TICKET_PASS, "dataInfo.$address_en_US$", "a" * 49, ("dataInfo", "$address_en_US$"),
     "longer than 48 characters (49)"),
    (TICKET_PASS, "dataInfo.$ticketName_zh_HK$", "門" * 13, ("dataInfo", "$ticketName_zh_HK$"),
     "longer than 12 characters (13)"),
    (TICKET_PASS, "dataInfo.$ticketName_en_US$", "t" * 25, ("dataInfo", "$ticketName_en_US$"),
     "longer than 24 characters (25)"),
    (TICKET_PASS, "dataInfo.$platformName_zh_HK$", "平" * 33,
     ("dataInfo", "$platformName_zh_HK$"), "longer than 32 characters (33)"),
    (TICKET_PASS, "dataInfo.$platformLogo_en_US$", "https://e.com/" + "l" * 243,
     ("dataInfo", "$platformLogo_en_US$"), "longer than 256 characters (257)"),
    (TICKET_PASS, "dataInfo.$availableTimes_en_US$", "2", ("dataInfo", "$availableTimes_en_US$"),
     "must be a whole number, not the string '2'"),
    (TICKET_PASS, "dataInfo.$availableTimes_en_US$", 0, ("dataInfo", "$availableTimes_en_US$"),
     "must be at least 1, not the number 0"),
    (TICKET_PASS, "dataInfo.$startTime_en_US$", "2026-12-01", ("dataInfo", "$startTime_en_US$"),
     "must be epoch milliseconds as a number (1796090400000) or a string of digits, not the "
     "string '2026-12-01'"),
    (TICKET_PASS, "dataInfo.$endTime_en_US$", 1.7e12, ("dataInfo", "$endTime_en_US$"),
     "must be epoch milliseconds as a number (1796090400000) or a string of digits, not the "
     "number 1700000000000.0"),
    (TICKET_PASS, "dataInfo.$price_en_US$", {"cent": 800},
     ("dataInfo", "$price_en_US$", "currency"), "required; ISO 4217 code, e.g. HKD"),
    (TICKET_PASS, "dataInfo.$price_en_US$", {"value": 800, "cent": 1, "currency": "HKD"},
     ("dataInfo", "$price_en_US$", "value"), "unknown field 'value'; allowed: cent, currency"),
    (TICKET_PASS, "dataInfo.$price_zh_HK$.currency", "HKG",
     ("dataInfo", "$price_zh_HK$", "currency"),
     "'HKG' is not an ISO 4217 currency code; did you mean 'HKD'?"),
    (TICKET_PASS, "dataInfo.$adress_en_US$", "x", ("dataInfo", "$adress_en_US$"),
     "unknown field '$adress_en_US$'; did you mean '$address_en_US$'?"),
    # MOVIE dataInfo (3.3)
    (TICKET_MOVIE, "dataInfo.$cinemaName_en_US$", DELETE, ("dataInfo", "$cinemaName_en_US$"),
     "required; cinema name"),
    (TICKET_MOVIE, "dataInfo.$cinemaHouse_zh_HK$", "院" * 33, ("dataInfo", "$cinemaHouse_zh_HK$"),
     "longer than 32 characters (33)"),
    (TICKET_MOVIE, "dataInfo.$address_en_US$", "a" * 65, ("dataInfo", "$address_en_US$"),
     "longer than 64 characters (65)"),
    (TICKET_MOVIE, "dataInfo.$movieSeats_zh_HK$", "F12", ("dataInfo", "$movieSeats_zh_HK$"),
     "must be an array, not the string 'F12'"),
    (TICKET_MOVIE, "dataInfo.$movieAttributes_en_US$", DELETE,
     ("dataInfo", "$movieAttributes_en_US$"),
     "required; an array of strings: the movie's info tags"),
    # COUPON dataInfo (#14)
    (COUPON, "dataInfo", {"shopname": "x"}, ("dataInfo", "shopname"),
     "unknown field 'shopname'; keys are template placeholders like $shopname$, or nested under "
     "zh_HK / en_US"),
    (COUPON, "dataInfo.en_US", {"shopname": "x"}, ("dataInfo", "en_US", "shopname"),
     "unknown field 'shopname'; keys are template placeholders like $shopname$"),
    (COUPON, "dataInfo.zh_HK", "x", ("dataInfo", "zh_HK"),
     "must be an object of $placeholder$ values"),
    (COUPON, "dataInfo", "x", ("dataInfo",), "must be an object, not the string 'x'"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "path", "value", "loc", "message"), CASES)
def test_each_pass_rule_gives_its_location_and_message(
    body: dict[str, Any], path: str, value: object, loc: tuple[str | int, ...], message: str
) -> None:
    assert only(check_pass_request(changed(body, path, value))) == Violation(
        loc, message, C.PARAM_ILLEGAL
    )


@pytest.mark.parametrize(
    ("body", "path", "value"),
    [
        (COUPON, "userId", DELETE),
        (TICKET_PASS, "openId", "fj398457jd8iue98d8w7w93j"),
        (TICKET_PASS, "codeInfo", {"$codevalue$": "", "$codemsg$": ""}),
        (TICKET_PASS, "dataInfo.$address_zh_HK$", "一" * 24),
        (TICKET_PASS, "dataInfo.$ticketName_en_US$", "🎟" * 12),
        (TICKET_PASS, "dataInfo.$platformLogo_zh_HK$", "https://example.com/logo.png"),
        (TICKET_PASS, "publishScene", "FREE_GIVE"),
        (TICKET_MOVIE, "dataInfo.$movieSeats_en_US$", []),
        (TICKET_MOVIE, "dataInfo.$price_zh_HK$", {"cent": 0, "currency": "HKD"}),
    ],
)
def test_pass_boundaries_and_options_that_are_allowed(
    body: dict[str, Any], path: str, value: object
) -> None:
    assert check_pass_request(changed(body, path, value)).violations == ()


def test_every_pass_violation_is_collected() -> None:
    body = changed(TICKET_PASS, "userId", DELETE)
    body["bizSerialType"] = "X"
    body["dataInfo"]["$availableTimes_zh_HK$"] = True
    body["dataInfo"]["$address_en_US$"] = ""
    assert {v.loc for v in check_pass_request(body).violations} == {
        ("bizSerialType",),
        ("dataInfo", "$availableTimes_zh_HK$"),
        ("dataInfo", "$address_en_US$"),
        ("userId",),
    }


def test_a_pass_body_that_is_not_an_object() -> None:
    assert only(check_pass_request("{}")) == Violation(
        (), "must be an object, not the string '{}'", C.PARAM_ILLEGAL
    )


def test_pass_created_body() -> None:
    sample = {
        "result": {"resultCode": "SUCCESS", "resultMessage": "success", "resultStatus": "S"},
        "passId": "2020091119027102160530200000039",
    }
    body = PassCreatedBody.model_validate(sample)
    assert body.result.resultStatus is ResultStatus.S
    assert body.model_dump(mode="json") == sample
    failed = PassCreatedBody.model_validate(
        {"result": {"resultCode": "PASS_HAS_EXIST", "resultStatus": "F"}}
    )
    assert (failed.passId, failed.result.resultMessage) == (None, "")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(data=JSON)
def test_check_pass_never_raises_on_arbitrary_json(data: object) -> None:
    checked = check_pass_request(data)
    assert checked.ok == (checked.value is not None)


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from([TICKET_PASS, TICKET_MOVIE, COUPON]),
    field=st.sampled_from([*PassRequest.model_fields, "dataInfo.$address_en_US$", "codeInfo.x"]),
    value=JSON,
)
def test_check_pass_never_raises_on_mutated_bodies(
    base: dict[str, Any], field: str, value: object
) -> None:
    body = (
        changed(base, field, value) if field.partition(".")[0] in base else {**base, field: value}
    )
    checked = check_pass_request(body)
    assert checked.ok == (checked.value is not None)
    assert all(isinstance(v.code, ResultCode) for v in checked.violations)
