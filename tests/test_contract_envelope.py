"""The response envelope, the result codes' classes, and the identifier rules: one contract."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from reconciler.domain.contract.codes import (
    CREDENTIAL_CODES,
    GATEWAY_REFUSALS,
    ResultCode,
    ResultStatus,
    status_of,
)
from reconciler.domain.contract.envelope import (
    PassCreatedBody,
    ResultBody,
    ResultInfo,
    TemplateCreatedBody,
)
from reconciler.domain.contract.identifiers import (
    client_id_problem,
    merchant_id_problem,
    template_code_problem,
)

C = ResultCode
SUCCESS = {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}


# --- result codes ------------------------------------------------------------------------------


def test_known_codes_and_codes_added_later() -> None:
    assert C.known("ACCESS_DENIED") is C.ACCESS_DENIED
    assert C.known("A_CODE_ALIPAYHK_ADDS_LATER") is None
    assert C.known("access_denied") is None  # the vendor's spelling, exactly


def test_credential_refusals_are_gateway_refusals_and_never_business_answers() -> None:
    assert (
        {code for code in C if code.is_credential_refusal}
        == CREDENTIAL_CODES
        == {
            C.INVALID_SIGNATURE,
            C.INVALID_CLIENT,
            C.KEY_NOT_FOUND,
            C.ACCESS_DENIED,
        }
    )
    assert (
        {code for code in C if code.is_gateway_refusal}
        == GATEWAY_REFUSALS
        == {
            *CREDENTIAL_CODES,
            C.INVALID_API,
            C.METHOD_NOT_SUPPORTED,
            C.MEDIA_TYPE_NOT_ACCEPTABLE,
        }
    )
    assert all(status_of(code) is ResultStatus.F for code in GATEWAY_REFUSALS)
    for business in (C.SUCCESS, C.PARAM_ILLEGAL, C.PASS_HAS_EXIST, C.UNKNOWN_EXCEPTION):
        assert not business.is_gateway_refusal


# --- building (the sandbox) --------------------------------------------------------------------


def test_answers_are_compact_utf8_with_result_first_and_no_nulls() -> None:
    refused = ResultBody.answer(C.PARAM_ILLEGAL, 'name: "禮品卡"\nis long')
    assert refused.to_json() == json.dumps(
        {
            "result": {
                "resultCode": "PARAM_ILLEGAL",
                "resultStatus": "F",
                "resultMessage": 'name: "禮品卡"\nis long',
            }
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")
    created = TemplateCreatedBody(
        result=ResultInfo.of(C.SUCCESS), templateCode="22024112800135606000000001424755"
    )
    assert created.to_json() == (
        b'{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"},'
        b'"templateCode":"22024112800135606000000001424755"}'
    )


def test_result_info_of_pairs_the_status_and_the_vendor_message() -> None:
    info = ResultInfo.of(C.REQUEST_TRAFFIC_EXCEED_LIMIT)
    assert (info.resultStatus, info.resultMessage, info.code) == (
        ResultStatus.U,
        "Traffic limit exceeded.",
        C.REQUEST_TRAFFIC_EXCEED_LIMIT,
    )
    assert ResultInfo.of(C.ACCESS_DENIED, "not yours").resultMessage == "not yours"


# --- reading (the client) ----------------------------------------------------------------------


def test_round_trip_of_what_the_sandbox_sends() -> None:
    sent = PassCreatedBody(
        result=ResultInfo.of(C.SUCCESS), passId="2020091119027102160530200000039"
    )
    assert PassCreatedBody.model_validate_json(sent.to_json()) == sent


@pytest.mark.parametrize(
    "data",
    [
        {"resultInfo": SUCCESS, "templateCode": "T-1"},
        {"result": None, "resultInfo": SUCCESS, "templateCode": "T-1"},
        {"result": SUCCESS, "resultInfo": {"resultStatus": "F"}, "templateCode": "T-1"},
    ],
    ids=["resultInfo only", "result null", "result wins"],
)
def test_result_info_stands_in_for_result(data: dict[str, object]) -> None:
    body = TemplateCreatedBody.model_validate(data)
    assert (body.result.code, body.templateCode) == (C.SUCCESS, "T-1")


def test_fields_added_later_are_ignored() -> None:
    body = TemplateCreatedBody.model_validate(
        {
            "result": {**SUCCESS, "resultDetail": {"x": 1}},
            "templateCode": "T-1",
            "status": "valid",
            "extendInfo": "{}",
        }
    )
    assert body == TemplateCreatedBody(
        result=ResultInfo.of(C.SUCCESS), templateCode="T-1", status="valid"
    )


def test_codes_and_messages_of_any_type_are_read_as_text() -> None:
    info = ResultInfo.model_validate({"resultStatus": "F", "resultCode": 1001})
    assert (info.resultCode, info.resultMessage, info.code) == ("1001", "", None)
    null = ResultInfo.model_validate({"resultStatus": "F", "resultCode": None, "resultMessage": 5})
    assert (null.resultCode, null.resultMessage) == ("", "5")


def test_an_operation_field_of_the_wrong_type_counts_as_absent() -> None:
    body = TemplateCreatedBody.model_validate(
        {"result": SUCCESS, "templateCode": 22024112800135606, "status": ["valid"]}
    )
    assert (body.templateCode, body.status) == (None, None)
    assert PassCreatedBody.model_validate({"result": SUCCESS, "passId": {}}).passId is None


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({}, ("result",)),
        ({"result": "S"}, ("result",)),
        ({"result": None}, ("result",)),
        ({"result": {"resultCode": "SUCCESS"}}, ("result", "resultStatus")),
        ({"result": {"resultStatus": "s"}}, ("result", "resultStatus")),
        ({"result": {"resultStatus": 1}}, ("result", "resultStatus")),
    ],
)
def test_what_must_hold(data: dict[str, object], where: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as caught:
        ResultBody.model_validate(data)
    assert [error["loc"] for error in caught.value.errors()] == [where]


def test_responses_are_frozen() -> None:
    body = ResultBody.answer(C.SUCCESS)
    with pytest.raises(ValidationError):
        body.result = ResultInfo.of(C.PARAM_ILLEGAL)  # type: ignore[misc]  # frozen on purpose


# --- identifiers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (merchant_id_problem, "2160120000000001\n"),
        (client_id_problem, "TEST-CLIENT-0001\n"),
        (template_code_problem, "22024112800135606000000001424755\n"),
    ],
)
def test_a_trailing_newline_is_not_part_of_an_identifier(
    check: Callable[[str], str | None], value: str
) -> None:
    assert check(value) is not None
    assert check(value.rstrip("\n")) is None
