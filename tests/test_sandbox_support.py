"""Helpers for the sandbox tests (no tests here): a signing HTTP client, bodies, a running server.

Requests are signed and responses verified with the shared signing code
(`reconciler.adapters.alipayhk.signing`), exactly as the real client does, and sent with
`requests` over a real socket on 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.adapters.alipayhk.encryption import decrypt_body, encrypt_body
from reconciler.adapters.alipayhk.signing import (
    RsaSha256Signer,
    content_to_sign,
    format_timestamp,
    sign_content,
    verify_response,
)
from reconciler.adapters.sandbox.server import SandboxServer
from reconciler.adapters.sandbox.store import SandboxStore
from reconciler.domain.contract.endpoints import CREATE_PASS_PATH, CREATE_TEMPLATE_PATH

__all__ = ["CREATE_PASS_PATH", "CREATE_TEMPLATE_PATH"]

VECTORS = json.loads((Path(__file__).parent / "data/signatures.json").read_text())
CLIENT_ID = "TEST-CLIENT-0001"
MERCHANT_ID = "2160120000000001"
USER_ID = "2160220000000007"  # one of the 1,000 seeded users
DAY_MS = 86_400_000


def _private(pem_field: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(VECTORS[pem_field].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


# Throwaway keys published with the signature vectors: no key generation in every test.
MERCHANT_KEY = _private("merchant_private_key_pkcs8_pem")
PLATFORM_KEY = _private("platform_private_key_pkcs8_pem")


def public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def now_ms() -> int:
    return int(time.time() * 1000)


def template_body(request_id: str = "REQ-0001", **changes: Any) -> dict[str, Any]:
    """A valid COUPON / GIFT_CARD createTemplate body; `changes` replace or (None) drop fields."""
    start = now_ms() + DAY_MS
    body: dict[str, Any] = {
        "requestId": request_id,
        "merchantId": MERCHANT_ID,
        "startDate": start,
        "endDate": start + 30 * DAY_MS,
        "type": "COUPON",
        "product": "GIFT_CARD",
        "codeType": "barcode",
        "codeStandard": "CODE128",
        "imageUrl": "https://cdn.example.com/card.png",
        "button": {"btnType": "usage", "btnUrl": "alipayhk://platformapi/startapp?appId=1"},
        "localeInfo": {
            "zh_HK": {"name": "禮品卡", "description": "說明", "brandName": "品牌"},
            "en_US": {"name": "Gift card", "description": "Usage notes", "brandName": "Brand"},
        },
        "merchantLogo": "https://cdn.example.com/logo.png",
        "stock": 100,
        "orderPageLink": "alipayhk://platformapi/startapp?appId=1&page=buy",
        "categories": ["Food"],
        "exposure": "exposed",
    }
    return _changed(body, changes)


def ticket_template_body(request_id: str, product: str = "PASS", **changes: Any) -> dict[str, Any]:
    """A valid TICKET createTemplate body for `product`."""
    body = template_body(
        request_id,
        type="TICKET",
        product=product,
        codeType="qrcode",
        codeStandard="QRCODE",
        stock=None,
        detailLink="alipayhk://platformapi/startapp?appId=1&page=detail",
        categories=["0002000100020009"],
        passExtInfo={"tags": ["Concert"], "city": "HK"} if product == "PASS" else {},
    )
    return _changed(body, changes)


def pass_body(template_code: str, serial: str, **changes: Any) -> dict[str, Any]:
    """A valid COUPON / GIFT_CARD createPass body."""
    start = now_ms()
    body: dict[str, Any] = {
        "merchantId": MERCHANT_ID,
        "userId": USER_ID,
        "templateCode": template_code,
        "bizSerialId": serial,
        "bizSerialType": "OUT_PLAT_FORM",
        "startDate": start,
        "endDate": start + 30 * DAY_MS,
        "bizCreate": start,
        "type": "COUPON",
        "product": "GIFT_CARD",
        "codeInfo": {"$codevalue$": serial, "$codemsg$": serial},
    }
    return _changed(body, changes)


def admission_data_info() -> dict[str, Any]:
    start = now_ms() + DAY_MS
    return {
        "$address_zh_HK$": "香港九龍",
        "$address_en_US$": "Kowloon, Hong Kong",
        "$availableTimes_zh_HK$": 1,
        "$availableTimes_en_US$": 1,
        "$startTime_zh_HK$": start,
        "$startTime_en_US$": start,
        "$endTime_zh_HK$": start + DAY_MS,
        "$endTime_en_US$": start + DAY_MS,
    }


def movie_data_info() -> dict[str, Any]:
    start = now_ms() + DAY_MS
    texts = {"cinemaName": "Cinema", "address": "Kowloon", "cinemaHouse": "House 1"}
    info: dict[str, Any] = {}
    for locale in ("zh_HK", "en_US"):
        info.update({f"${name}_{locale}$": value for name, value in texts.items()})
        info[f"$availableTimes_{locale}$"] = 1
        info[f"$startTime_{locale}$"] = start
        info[f"$endTime_{locale}$"] = start + DAY_MS
        info[f"$movieAttributes_{locale}$"] = ["2D"]
        info[f"$movieSeats_{locale}$"] = ["A1"]
    return info


def _changed(body: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def encode(body: object) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass
class Answer:
    """A response: raw parts, whether its signature held, and the (decrypted) JSON."""

    status: int
    headers: Mapping[str, str]
    raw: bytes
    verified: bool
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return str(self.data["result"]["resultCode"])

    @property
    def result_status(self) -> str:
        return str(self.data["result"]["resultStatus"])


@dataclass
class SignedClient:
    """Signs like the real client; every knob can be turned to send what a broken one would."""

    base_url: str
    client_id: str = CLIENT_ID
    key: rsa.RSAPrivateKey = MERCHANT_KEY
    key_version: int | None = 1
    platform_public_key: rsa.RSAPublicKey = field(default_factory=PLATFORM_KEY.public_key)
    session: requests.Session = field(default_factory=requests.Session)

    def post(
        self,
        path: str,
        body: object,
        *,
        request_time: str | None = None,
        signature: str | None = None,
        content_type: str = "application/json; charset=UTF-8",
        encrypt: bool = False,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Answer:
        raw = body if isinstance(body, bytes) else encode(body)
        sent_headers = {"Content-Type": content_type}
        if encrypt:
            raw, sent_headers["Encrypt"] = encrypt_body(raw, self.platform_public_key, 1)
            sent_headers["Content-Type"] = "text/plain; charset=UTF-8"
        sent_time = request_time or format_timestamp(datetime.now(UTC))
        if signature is None:
            signature = sign_content(
                RsaSha256Signer(self.key),
                self.key_version,
                content_to_sign(path, self.client_id, sent_time, raw),
            )
        sent_headers.update(
            {"Client-Id": self.client_id, "Request-Time": sent_time, "Signature": signature}
        )
        sent_headers.update(headers or {})
        response = self.session.post(
            self.base_url + path, data=raw, headers=sent_headers, timeout=timeout
        )
        return self.answer(path, response)

    def answer(self, path: str, response: requests.Response) -> Answer:
        verified = True
        try:
            verify_response(
                self.platform_public_key,
                path=path,
                client_id=self.client_id,
                headers=response.headers,
                body=response.content,
                now=datetime.now(UTC),
                window=timedelta(minutes=5),
            )
        except ValueError:
            verified = False
        plain = response.content
        if "Encrypt" in response.headers:
            plain = decrypt_body(plain, response.headers["Encrypt"], self.key)
        signed_json = "Encrypt" in response.headers or response.headers.get(
            "Content-Type", ""
        ).startswith("application/json")
        data = json.loads(plain) if signed_json else {}
        return Answer(response.status_code, response.headers, response.content, verified, data)

    def create_template(self, body: Mapping[str, Any], **options: Any) -> Answer:
        return self.post(CREATE_TEMPLATE_PATH, body, **options)

    def create_pass(self, body: Mapping[str, Any], **options: Any) -> Answer:
        return self.post(CREATE_PASS_PATH, body, **options)

    def template_code(self, request_id: str = "REQ-0001", **changes: Any) -> str:
        """Create a template that must succeed; return its templateCode."""
        answer = self.create_template(template_body(request_id, **changes))
        assert answer.code == "SUCCESS", answer.data
        return str(answer.data["templateCode"])


def open_store(folder: Path) -> SandboxStore:
    return SandboxStore.open(folder / "sandbox.sqlite3")


def register(store: SandboxStore, *, merchant_id: str | None = None) -> None:
    store.register_client(
        CLIENT_ID, public_pem(MERCHANT_KEY), key_version=1, merchant_id=merchant_id
    )


@contextmanager
def running_sandbox(folder: Path, **options: Any) -> Iterator[tuple[SandboxServer, SignedClient]]:
    """A sandbox over `folder` with the test client registered, and a client for it."""
    store = open_store(folder)
    register(store)
    server = SandboxServer(store, PLATFORM_KEY, owns_store=True, **options)
    with server, requests.Session() as session:
        yield server, SignedClient(server.url, session=session)
