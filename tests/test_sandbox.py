"""The sandbox over real HTTP with real signatures: gateway codes, vendor rules, idempotency,
durability, concurrency, the embedded default."""

from __future__ import annotations

import json
import re
import socket
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from test_sandbox_support import (
    CREATE_TEMPLATE_PATH,
    MERCHANT_ID,
    MERCHANT_KEY,
    PLATFORM_KEY,
    SignedClient,
    admission_data_info,
    encode,
    movie_data_info,
    now_ms,
    open_store,
    pass_body,
    public_pem,
    register,
    running_sandbox,
    template_body,
    ticket_template_body,
)

from reconciler.adapters.alipayhk.keys import KeySource, load_private_key, load_public_key
from reconciler.adapters.alipayhk.signing import (
    RsaSha256Signer,
    content_to_sign,
    format_timestamp,
    sign_content,
)
from reconciler.adapters.sandbox import ids
from reconciler.adapters.sandbox.embedded import start_embedded
from reconciler.adapters.sandbox.errors import RemoteBindRefused
from reconciler.adapters.sandbox.ids import HONG_KONG
from reconciler.adapters.sandbox.server import SandboxServer, check_bind_address
from reconciler.domain.config import SANDBOX_CLIENT_ID, SANDBOX_MERCHANT_ID
from reconciler.domain.contract import limits
from reconciler.domain.contract.endpoints import RESERVED_PATHS
from reconciler.domain.contract.identifiers import template_code_problem
from reconciler.domain.contract.rules import check_template_request

ALL_INTERFACES = "0.0.0.0"  # noqa: S104 -- the address the refusal is about; never bound here


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[SandboxServer, SignedClient]]:
    with running_sandbox(tmp_path) as running:
        yield running


@pytest.fixture
def client(sandbox: tuple[SandboxServer, SignedClient]) -> SignedClient:
    return sandbox[1]


@pytest.fixture
def server(sandbox: tuple[SandboxServer, SignedClient]) -> SandboxServer:
    return sandbox[0]


def _today_hk() -> str:
    return datetime.now(HONG_KONG).strftime("%Y%m%d")


# -- createTemplate -------------------------------------------------------------------------


def test_create_template_answers_a_signed_vendor_shaped_success(
    client: SignedClient, server: SandboxServer
) -> None:
    answer = client.create_template(template_body("REQ-1"))

    assert answer.status == 200
    assert answer.verified
    assert answer.data["result"] == {
        "resultCode": "SUCCESS",
        "resultStatus": "S",
        "resultMessage": "success",
    }
    code = answer.data["templateCode"]
    assert re.fullmatch(rf"\d{_today_hk()}\d{{23}}", code), code
    assert template_code_problem(code) is None
    assert answer.data["status"] == "valid"
    assert answer.headers["Client-Id"] == client.client_id
    assert answer.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert answer.headers["Tracer-Id"]
    (stored,) = server.store.templates()
    assert (stored.template_code, stored.request_id, stored.type) == (code, "REQ-1", "COUPON")
    assert json.loads(stored.body) == template_body("REQ-1") | {
        "startDate": json.loads(stored.body)["startDate"],
        "endDate": json.loads(stored.body)["endDate"],
    }


def test_response_time_is_iso_8601_with_offset_and_close_to_now(client: SignedClient) -> None:
    answer = client.create_template(template_body())
    sent = datetime.fromisoformat(answer.headers["Response-Time"])
    assert sent.utcoffset() is not None
    assert abs(sent - datetime.now(UTC)) < timedelta(seconds=5)


_TEMPLATE_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("image url", {"imageUrl": "ftp://cdn.example.com/c.png"}, "PASS_TEMPLATE_IMAGE_URL_ILLEGAL"),
    (
        "button url",
        {"button": {"btnType": "usage", "btnUrl": "javascript:x"}},
        "PASS_TEMPLATE_BTN_URL_ILLEGAL",
    ),
    (
        "name length",
        {"localeInfo": {"en_US": {"name": "N" * 25, "description": "d", "brandName": "b"}}},
        "PASS_TEMPLATE_NAME_ILLEGAL",
    ),
    (
        "description length",
        {"localeInfo": {"en_US": {"name": "n", "description": "d" * 1025, "brandName": "b"}}},
        "PASS_TEMPLATE_DESCRIPTION_ILLEGAL",
    ),
    (
        "brand length",
        {"localeInfo": {"en_US": {"name": "n", "description": "d", "brandName": "b" * 33}}},
        "PASS_TEMPLATE_BRAND_NAME_ILLEGAL",
    ),
    (
        "start in the past",
        {"startDate": 1_600_000_000_000},
        "PASS_TEMPLATE_START_TIME_LESS_CURRENT",
    ),
    ("end before start", {"endDate": 1_600_000_000_000}, "PASS_TEMPLATE_TIME_INTERVAL_ILLEGAL"),
    ("product of the other type", {"product": "MOVIE"}, "PARAM_ILLEGAL"),
    ("stock required for COUPON", {"stock": None}, "PARAM_ILLEGAL"),
    ("stock range", {"stock": 1_000_001}, "PARAM_ILLEGAL"),
    ("order link scheme", {"orderPageLink": "https://shop.example.com"}, "PARAM_ILLEGAL"),
    ("too many categories", {"categories": ["Food", "Games", "Others"]}, "PARAM_ILLEGAL"),
    ("code standard pairing", {"codeStandard": "QRCODE"}, "PARAM_ILLEGAL"),
    ("unknown field", {"colour": "red"}, "PARAM_ILLEGAL"),
    ("requestId length", {"requestId": "R" * 33}, "PARAM_ILLEGAL"),
    ("merchantId missing", {"merchantId": None}, "PARAM_ILLEGAL"),
    ("type enum", {"type": "CARD"}, "PARAM_ILLEGAL"),
    ("date as boolean", {"startDate": True}, "PARAM_ILLEGAL"),
]


@pytest.mark.parametrize(
    ("change", "code"),
    [pytest.param(change, code, id=name) for name, change, code in _TEMPLATE_RULES],
)
def test_template_rules_answer_the_vendor_code_and_store_nothing(
    client: SignedClient, server: SandboxServer, change: dict[str, Any], code: str
) -> None:
    body = template_body("REQ-RULE", **change)

    answer = client.create_template(body)

    assert answer.status == 200
    assert answer.verified
    assert (answer.code, answer.result_status) == (code, "F")
    assert "templateCode" not in answer.data
    assert server.store.templates() == []
    # One source of truth: the client-side check gives the same first code.
    checked = check_template_request(body, now_ms=now_ms())
    assert checked.violations[0].code == code
    assert checked.violations[0].message in answer.data["result"]["resultMessage"]


def test_ticket_templates_are_accepted(client: SignedClient) -> None:
    for product in ("PASS", "MOVIE"):
        answer = client.create_template(ticket_template_body(f"REQ-{product}", product))
        assert answer.code == "SUCCESS", answer.data


# -- requestId idempotency --------------------------------------------------------------------


def test_same_request_id_and_body_returns_the_original_template(
    client: SignedClient, server: SandboxServer
) -> None:
    body = template_body("REQ-IDEM")
    first = client.create_template(body)
    again = client.create_template(body)
    reordered = client.create_template(dict(reversed(list(body.items()))))

    assert first.code == again.code == reordered.code == "SUCCESS"
    assert first.data["templateCode"] == again.data["templateCode"]
    assert first.data["templateCode"] == reordered.data["templateCode"]
    assert len(server.store.templates()) == 1


def test_same_request_id_with_another_body_is_param_illegal(
    client: SignedClient, server: SandboxServer
) -> None:
    body = template_body("REQ-IDEM")
    client.create_template(body)

    answer = client.create_template({**body, "stock": 5})

    assert (answer.code, answer.result_status) == ("PARAM_ILLEGAL", "F")
    assert "already used with a different body" in answer.data["result"]["resultMessage"]
    assert len(server.store.templates()) == 1


def test_a_replay_gets_its_answer_even_after_the_start_date_passed(
    client: SignedClient, server: SandboxServer
) -> None:
    start = now_ms() + 5000  # room for a slow first request on a busy machine
    body = template_body("REQ-SOON", startDate=start)
    first = client.create_template(body)
    time.sleep(max(0.0, (start - now_ms()) / 1000) + 0.2)  # until the start date has passed

    replay = client.create_template(body)
    fresh = client.create_template({**body, "requestId": "REQ-NEW"})

    assert first.code == replay.code == "SUCCESS"
    assert replay.data["templateCode"] == first.data["templateCode"]
    assert fresh.code == "PASS_TEMPLATE_START_TIME_LESS_CURRENT"
    assert len(server.store.templates()) == 1


def test_request_ids_are_per_merchant(client: SignedClient, server: SandboxServer) -> None:
    client.template_code("REQ-SHARED")
    client.template_code("REQ-SHARED", merchantId="2160120000000002")
    assert len(server.store.templates()) == 2


@pytest.mark.parametrize("sequence", [1, 10**18 - 1])
@pytest.mark.parametrize("at_ms", [0, 4_102_444_799_999])  # 1970 and the end of 2099
def test_every_template_code_handed_out_is_a_template_code(sequence: int, at_ms: int) -> None:
    code = ids.template_code(sequence, at_ms=at_ms)
    assert template_code_problem(code) is None
    assert len(code) == limits.TEMPLATE_CODE_MAX  # createPass takes it back


# -- createPass -------------------------------------------------------------------------------


def test_create_pass_answers_a_pass_id(client: SignedClient, server: SandboxServer) -> None:
    code = client.template_code()

    answer = client.create_pass(pass_body(code, "SERIAL-1"))

    assert answer.verified
    assert (answer.code, answer.result_status) == ("SUCCESS", "S")
    assert re.fullmatch(rf"{_today_hk()}\d{{23}}", answer.data["passId"])
    (stored,) = server.store.passes()
    assert (stored.pass_id, stored.biz_serial_id, stored.user_id) == (
        answer.data["passId"],
        "SERIAL-1",
        "2160220000000007",
    )


def test_a_second_pass_with_the_same_serial_is_pass_has_exist(
    client: SignedClient, server: SandboxServer
) -> None:
    code = client.template_code()
    first = client.create_pass(pass_body(code, "SERIAL-1"))

    again = client.create_pass(pass_body(code, "SERIAL-1"))

    assert first.code == "SUCCESS"
    assert (again.code, again.result_status) == ("PASS_HAS_EXIST", "F")
    assert "passId" not in again.data
    assert len(server.store.passes()) == 1


def test_pass_for_a_missing_template(client: SignedClient, server: SandboxServer) -> None:
    answer = client.create_pass(pass_body("22024112800135606000000001424755", "S-1"))
    assert (answer.code, answer.result_status) == ("PASS_TEMPLATE_HAS_NOT_EXIT", "F")
    assert server.store.passes() == []


def test_pass_for_another_merchants_template_is_not_found(client: SignedClient) -> None:
    code = client.template_code("REQ-OTHER", merchantId="2160120000000002")
    answer = client.create_pass(pass_body(code, "S-1"))
    assert answer.code == "PASS_TEMPLATE_HAS_NOT_EXIT"


def test_pass_type_must_match_the_template(client: SignedClient) -> None:
    code = client.template_code()
    body = pass_body(code, "S-1", type="TICKET", product="PASS", dataInfo=admission_data_info())
    assert client.create_pass(body).code == "PASS_TYPE_NOT_MATCH"


def test_pass_product_must_match_the_template(client: SignedClient) -> None:
    answer = client.create_template(ticket_template_body("REQ-T", "PASS"))
    code = answer.data["templateCode"]
    body = pass_body(code, "S-1", type="TICKET", product="MOVIE", dataInfo=movie_data_info())
    assert client.create_pass(body).code == "PASS_PRODUCT_TYPE_NOT_MATCH"
    matching = pass_body(code, "S-2", type="TICKET", product="PASS", dataInfo=admission_data_info())
    assert client.create_pass(matching).code == "SUCCESS"


@pytest.mark.parametrize(
    ("user", "code"),
    [
        ({"userId": "2160220000000999"}, "SUCCESS"),  # the last seeded user
        ({"userId": "2160220000001000"}, "USER_NOT_EXIST"),
        ({"userId": None, "openId": "sbxopenid000000000000003"}, "SUCCESS"),
        ({"userId": None, "openId": "fj398457jd8iue98d8w7w93j"}, "USER_NOT_EXIST"),
        ({"userId": "2160220000000001", "openId": "sbxopenid000000000000002"}, "USER_NOT_EXIST"),
    ],
)
def test_the_user_must_exist(client: SignedClient, user: dict[str, Any], code: str) -> None:
    template = client.template_code()
    assert client.create_pass(pass_body(template, "S-1", **user)).code == code


def test_added_users_can_receive_passes(client: SignedClient, server: SandboxServer) -> None:
    template = client.template_code()
    assert server.store.add_user("2160229999999999", open_id="my-open-id")
    assert not server.store.add_user("2160229999999999")

    by_user = client.create_pass(pass_body(template, "S-1", userId="2160229999999999"))
    by_open_id = client.create_pass(pass_body(template, "S-2", userId=None, openId="my-open-id"))

    assert by_user.code == by_open_id.code == "SUCCESS"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"bizSerialType": "INNER"}, "PARAM_ILLEGAL"),
        ({"codeInfo": None}, "PARAM_ILLEGAL"),
        ({"userId": None}, "PARAM_ILLEGAL"),  # neither userId nor openId
        ({"bizSerialId": "S" * 129}, "PARAM_ILLEGAL"),
        ({"startDate": "not a date"}, "PARAM_ILLEGAL"),
        ({"publishScene": "SOLD"}, "PARAM_ILLEGAL"),
    ],
)
def test_pass_field_rules(
    client: SignedClient, server: SandboxServer, change: dict[str, Any], code: str
) -> None:
    template = client.template_code()
    answer = client.create_pass(pass_body(template, "S-1", **change))
    assert (answer.code, answer.result_status) == (code, "F")
    assert server.store.passes() == []


def test_ticket_passes_need_their_scenario_data(client: SignedClient) -> None:
    template = client.create_template(ticket_template_body("REQ-T")).data["templateCode"]
    base = pass_body(template, "S-1", type="TICKET", product="PASS")
    data_info = admission_data_info()
    del data_info["$address_en_US$"]

    assert client.create_pass(base).code == "PARAM_ILLEGAL"  # dataInfo required
    missing = client.create_pass({**base, "dataInfo": data_info})
    assert missing.code == "PARAM_ILLEGAL"
    assert "$address_en_US$" in missing.data["result"]["resultMessage"]
    assert client.create_pass({**base, "dataInfo": admission_data_info()}).code == "SUCCESS"


def test_the_string_date_form_is_accepted(client: SignedClient) -> None:
    template = client.template_code()
    body = pass_body(template, "S-1", startDate="2030-09-01 00:00:00", bizCreate="2030-09-01")
    assert client.create_pass(body).code == "SUCCESS"


def test_a_client_bound_to_a_merchant_cannot_act_for_another(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    register(store, merchant_id=MERCHANT_ID)
    with SandboxServer(store, PLATFORM_KEY, owns_store=True) as server:
        client = SignedClient(server.url)
        own = client.create_template(template_body("R-1"))
        other = client.create_template(template_body("R-2", merchantId="2160120000000002"))
        assert own.code == "SUCCESS"
        assert (other.code, other.result_status) == ("ACCESS_DENIED", "F")


# -- the gateway ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/api/open/alipay/v1/ipass/nothing", *RESERVED_PATHS])
def test_other_paths_are_invalid_api(client: SignedClient, path: str) -> None:
    answer = client.post(path, template_body())
    assert (answer.status, answer.code, answer.result_status) == (200, "INVALID_API", "F")
    assert answer.verified


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_not_supported(client: SignedClient, method: str) -> None:
    response = requests.request(
        method,
        client.base_url + CREATE_TEMPLATE_PATH,
        headers={"Client-Id": client.client_id},
        timeout=5,
    )
    answer = client.answer(CREATE_TEMPLATE_PATH, response)
    assert (answer.status, answer.code) == (200, "METHOD_NOT_SUPPORTED")
    assert answer.verified


@pytest.mark.parametrize(
    "content_type",
    ["text/plain; charset=UTF-8", "application/json; charset=ISO-8859-1", "application/xml", ""],
)
def test_a_wrong_content_type_is_not_acceptable(client: SignedClient, content_type: str) -> None:
    answer = client.create_template(template_body(), content_type=content_type)
    assert answer.code == "MEDIA_TYPE_NOT_ACCEPTABLE"


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON;charset=utf-8"])
def test_json_content_types_are_accepted(client: SignedClient, content_type: str) -> None:
    assert client.create_template(template_body(), content_type=content_type).code == "SUCCESS"


def test_unknown_or_missing_client_id_is_invalid_client(client: SignedClient) -> None:
    stranger = SignedClient(client.base_url, client_id="NOT-REGISTERED")
    assert stranger.create_template(template_body()).code == "INVALID_CLIENT"
    missing = client.create_template(template_body(), headers={"Client-Id": ""})
    assert missing.code == "INVALID_CLIENT"


def test_a_client_id_that_cannot_be_one_is_invalid_client(client: SignedClient) -> None:
    spaced = SignedClient(client.base_url, client_id="TEST CLIENT")
    answer = spaced.create_template(template_body())
    assert (answer.code, answer.data["result"]["resultMessage"]) == (
        "INVALID_CLIENT",
        "Client-Id header must be 1 to 64 printable ASCII characters, without spaces",
    )


def test_a_signature_over_other_bytes_is_invalid(
    client: SignedClient, server: SandboxServer
) -> None:
    body = template_body()
    sent_time = format_timestamp(datetime.now(UTC))
    signature = sign_content(
        RsaSha256Signer(MERCHANT_KEY),
        1,
        content_to_sign(CREATE_TEMPLATE_PATH, client.client_id, sent_time, encode(body) + b" "),
    )

    answer = client.create_template(body, request_time=sent_time, signature=signature)

    assert (answer.code, answer.result_status) == ("INVALID_SIGNATURE", "F")
    assert answer.verified  # the refusal itself is signed
    assert server.store.templates() == []


def test_a_signature_by_another_key_is_invalid(client: SignedClient) -> None:
    impostor = SignedClient(client.base_url, key=PLATFORM_KEY)
    assert impostor.create_template(template_body()).code == "INVALID_SIGNATURE"


@pytest.mark.parametrize(
    "signature",
    ["", "algorithm=RSA256,keyVersion=1", "algorithm=MD5,signature=AAAA", "garbage"],
)
def test_a_missing_or_malformed_signature_is_invalid(client: SignedClient, signature: str) -> None:
    answer = client.create_template(template_body(), headers={"Signature": signature})
    assert answer.code == "INVALID_SIGNATURE"


def test_an_unknown_key_version_is_key_not_found(client: SignedClient) -> None:
    client.key_version = 7
    assert client.create_template(template_body()).code == "KEY_NOT_FOUND"


def test_without_key_version_the_latest_key_is_used(
    client: SignedClient, server: SandboxServer
) -> None:
    client.key_version = None
    assert client.create_template(template_body("R-1")).code == "SUCCESS"
    # Rotate: version 2 is another key, registered while the server runs.
    server.store.register_client(
        client.client_id, public_pem(PLATFORM_KEY), key_version=2, merchant_id=None
    )
    rotated = SignedClient(client.base_url, key=PLATFORM_KEY, key_version=None)
    assert rotated.create_template(template_body("R-2")).code == "SUCCESS"
    assert client.create_template(template_body("R-3")).code == "INVALID_SIGNATURE"
    client.key_version = 1  # the old version still works when named
    assert client.create_template(template_body("R-3")).code == "SUCCESS"


def test_legacy_algorithm_name_and_spaced_header_are_accepted(client: SignedClient) -> None:
    body = template_body()
    sent_time = format_timestamp(datetime.now(UTC).astimezone(HONG_KONG))
    header = sign_content(
        RsaSha256Signer(MERCHANT_KEY),
        1,
        content_to_sign(CREATE_TEMPLATE_PATH, client.client_id, sent_time, encode(body)),
    )
    spaced = header.replace("RSA256", "sha256withrsa").replace(",", ", ")
    answer = client.create_template(body, request_time=sent_time, signature=spaced)
    assert answer.code == "SUCCESS"


@pytest.mark.parametrize("skew", [timedelta(minutes=-10), timedelta(minutes=10)])
def test_a_request_time_far_from_now_is_refused(client: SignedClient, skew: timedelta) -> None:
    far = format_timestamp(datetime.now(UTC) + skew)
    answer = client.create_template(template_body(), request_time=far)
    assert answer.code == "INVALID_SIGNATURE"
    assert "Request-Time" in answer.data["result"]["resultMessage"]


def test_an_unparsable_request_time_is_param_illegal(client: SignedClient) -> None:
    answer = client.create_template(template_body(), request_time="yesterday")
    assert answer.code == "PARAM_ILLEGAL"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", "é".encode("latin-1"), b""])
def test_a_body_that_is_not_a_json_object_is_param_illegal(
    client: SignedClient, body: bytes
) -> None:
    assert client.post(CREATE_TEMPLATE_PATH, body).code == "PARAM_ILLEGAL"


def test_encrypted_requests_are_answered_encrypted(
    client: SignedClient, server: SandboxServer
) -> None:
    answer = client.create_template(template_body("REQ-SECRET"), encrypt=True)

    assert answer.verified  # signed over the ciphertext
    assert answer.headers["Encrypt"].startswith("algorithm=RSA_AES,keyVersion=1,symmetricKey=")
    assert answer.headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert b"templateCode" not in answer.raw
    assert answer.code == "SUCCESS"
    assert server.store.templates()[0].request_id == "REQ-SECRET"  # stored as plain JSON


def test_an_encrypted_body_that_does_not_decrypt_is_refused(client: SignedClient) -> None:
    answer = client.post(
        CREATE_TEMPLATE_PATH,
        b"bm90IGVuY3J5cHRlZA==",
        content_type="text/plain; charset=UTF-8",
        headers={"Encrypt": "algorithm=RSA_AES,keyVersion=1,symmetricKey=AAAA"},
    )
    assert answer.code == "PARAM_ILLEGAL"


def test_every_request_is_logged(client: SignedClient, server: SandboxServer) -> None:
    code = client.template_code("REQ-1")
    client.create_pass(pass_body(code, "S-1"))
    client.post("/nowhere", {})

    log = server.store.requests()

    assert [(r.path.rsplit("/", 1)[-1], r.result_code, r.idempotency_key) for r in log] == [
        ("createTemplate", "SUCCESS", "REQ-1"),
        ("createPass", "SUCCESS", "S-1"),
        ("nowhere", "INVALID_API", None),
    ]
    assert all(r.client_id == client.client_id and r.http_status == 200 for r in log)


# -- durability and concurrency ---------------------------------------------------------------


def test_data_survives_a_restart(tmp_path: Path) -> None:
    body = template_body("REQ-1")
    with running_sandbox(tmp_path) as (_, client):
        code = client.create_template(body).data["templateCode"]
        first_pass = client.create_pass(pass_body(code, "S-1")).data["passId"]

    with running_sandbox(tmp_path) as (server, client):
        replay = client.create_template(body)
        assert replay.data["templateCode"] == code
        assert client.create_pass(pass_body(code, "S-1")).code == "PASS_HAS_EXIST"
        second_pass = client.create_pass(pass_body(code, "S-2")).data["passId"]
        assert [t.template_code for t in server.store.templates()] == [code]
        assert [p.pass_id for p in server.store.passes()] == [first_pass, second_pass]
        assert len(server.store.requests()) == 5


def test_sixteen_concurrent_clients_lose_and_duplicate_nothing(
    client: SignedClient, server: SandboxServer
) -> None:
    code = client.template_code("REQ-BASE")
    per_worker = 8
    raced_template = template_body("REQ-RACE")

    def work(worker: int) -> list[tuple[str, str, str]]:
        with requests.Session() as session:
            mine = SignedClient(client.base_url, session=session)
            seen = []
            for i in range(per_worker):
                own = mine.create_pass(pass_body(code, f"W{worker}-{i}"))
                seen.append(("own", own.code, own.data.get("passId", "")))
            # Everyone races for the same serial and the same requestId.
            shared = mine.create_pass(pass_body(code, "SHARED"))
            seen.append(("shared", shared.code, shared.data.get("passId", "")))
            template = mine.create_template(raced_template)
            seen.append(("template", template.code, template.data.get("templateCode", "")))
            return seen

    with ThreadPoolExecutor(16) as pool:
        results = [row for rows in pool.map(work, range(16)) for row in rows]

    own = [r for r in results if r[0] == "own"]
    assert {r[1] for r in own} == {"SUCCESS"}
    shared = Counter(r[1] for r in results if r[0] == "shared")
    assert shared == {"SUCCESS": 1, "PASS_HAS_EXIST": 15}
    templates = {(r[1], r[2]) for r in results if r[0] == "template"}
    assert len(templates) == 1
    assert next(iter(templates))[0] == "SUCCESS"

    passes = server.store.passes()
    assert len(passes) == 16 * per_worker + 1
    assert len({p.pass_id for p in passes}) == len(passes)
    assert sorted(p.pass_id for p in passes) == sorted(
        r[2] for r in results if r[2] and r[0] != "template"
    )
    assert len(server.store.templates()) == 2
    assert len(server.store.requests()) == 1 + 16 * (per_worker + 2)


# -- binding and the embedded default ---------------------------------------------------------


@pytest.mark.parametrize("host", [ALL_INTERFACES, "192.168.1.20", "::", "example.com"])
def test_non_loopback_addresses_are_refused(tmp_path: Path, host: str) -> None:
    with pytest.raises(RemoteBindRefused, match="loopback only"):
        SandboxServer.open(tmp_path, host=host)
    assert not (tmp_path / "sandbox.sqlite3").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_allowed(host: str) -> None:
    check_bind_address(host, allow_remote=False)


def test_allow_remote_lifts_the_refusal() -> None:
    check_bind_address(ALL_INTERFACES, allow_remote=True)


def test_embedded_sandbox_sets_everything_up_once(tmp_path: Path) -> None:
    data_dir = tmp_path / ".ipass" / "sandbox"
    with start_embedded(data_dir) as embedded:
        assert embedded.base_url.startswith("http://127.0.0.1:")
        assert (embedded.client_id, embedded.merchant_id) == (
            SANDBOX_CLIENT_ID,
            SANDBOX_MERCHANT_ID,
        )
        assert embedded.key_version == 1
        for private in (embedded.merchant_private_key_path, data_dir / "platform_private_key.pem"):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600
        merchant = load_private_key(KeySource.file(embedded.merchant_private_key_path)).key
        assert isinstance(merchant, rsa.RSAPrivateKey)
        platform = load_public_key(KeySource.file(embedded.platform_public_key_path)).key
        client = SignedClient(
            embedded.base_url,
            client_id=embedded.client_id,
            key=merchant,
            platform_public_key=platform,
        )
        body = template_body("REQ-1", merchantId=embedded.merchant_id)
        code = client.create_template(body).data["templateCode"]
        keys_before = {p.name: p.read_bytes() for p in data_dir.glob("*.pem")}

    with start_embedded(data_dir) as again:
        assert {p.name: p.read_bytes() for p in data_dir.glob("*.pem")} == keys_before
        client.base_url = again.base_url
        replay = client.create_template(body)
        assert replay.verified
        assert replay.data["templateCode"] == code
        assert len(again.server.store.clients()) == 1


def test_stop_is_prompt_and_idempotent(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    server = SandboxServer(store, PLATFORM_KEY, owns_store=True).start()
    idle = socket.create_connection((server.host, server.port))
    started = time.monotonic()
    server.stop()
    server.stop()
    idle.close()
    assert time.monotonic() - started < 4
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=2)


def test_the_server_thread_is_a_daemon(server: SandboxServer) -> None:
    names = {t.name: t.daemon for t in threading.enumerate()}
    assert names[f"ipass-sandbox-{server.port}"] is True


def test_dates_in_the_request_log_are_utc(client: SignedClient, server: SandboxServer) -> None:
    client.template_code()
    received = server.store.requests()[0].received_at
    assert received.endswith("Z")
    moment = datetime.fromisoformat(received.replace("Z", "+00:00"))
    assert abs(moment - datetime.now(UTC)) < timedelta(seconds=5)
