"""Gateway signatures and RSA_AES encryption, pinned to Alipay's own SDK output."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from requests.structures import CaseInsensitiveDict

from reconciler.adapters.alipayhk import encryption, signing
from reconciler.adapters.alipayhk.transport import SignedRequestAuth

# Alipay's own SDK output, kept in the repository (tests/data/README.md): never regenerated here.
COMMITTED_VECTORS = Path(__file__).parent / "data/signatures.json"
# SHA-256 of the vectors as canonical JSON (sorted keys), so line endings cannot change it.
VECTORS_SHA256 = "2a50ab4a4fd3e7857703c1f83fa0e3ce1522c2d06b3456881964201f7b9055ce"


def load_vectors() -> dict[str, Any]:
    # Fail, never skip: a missing vector file must not turn the byte-exactness proof green.
    assert COMMITTED_VECTORS.is_file(), f"signature vectors missing: {COMMITTED_VECTORS}"
    data: dict[str, Any] = json.loads(COMMITTED_VECTORS.read_text(encoding="utf-8"))
    assert data["requests"], f"no request vectors in {COMMITTED_VECTORS}"
    assert data["responses"], f"no response vectors in {COMMITTED_VECTORS}"
    return data


def merchant_signer(vectors: dict[str, Any], pem_field: str) -> signing.RsaSha256Signer:
    key = serialization.load_pem_private_key(vectors[pem_field].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return signing.RsaSha256Signer(key)


def platform_public_key(vectors: dict[str, Any]) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(vectors["platform_public_key_pem"].encode())
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def test_the_vectors_are_still_the_sdk_output() -> None:
    # Regenerating them with our own signer would make every test below prove nothing.
    vectors = load_vectors()
    canonical = json.dumps(vectors, sort_keys=True, ensure_ascii=False).encode("utf-8")
    assert hashlib.sha256(canonical).hexdigest() == VECTORS_SHA256, (
        "tests/data/signatures.json changed: restore Alipay's SDK output (tests/data/README.md)"
    )
    assert len(vectors["requests"]) == 2
    assert [case["valid"] for case in vectors["responses"]] == [True, False, True, False]


@pytest.mark.parametrize("index", range(2), ids=lambda index: f"request{index}")
@pytest.mark.parametrize(
    "pem_field", ["merchant_private_key_pkcs1_pem", "merchant_private_key_pkcs8_pem"]
)
def test_request_signature_header_is_identical_to_the_sdk(index: int, pem_field: str) -> None:
    vectors = load_vectors()
    case = vectors["requests"][index]
    body = case["body"].encode("utf-8")
    content = signing.content_to_sign(case["path"], case["client_id"], case["time"], body)
    assert content == case["content_to_sign"].encode("utf-8")
    key_version = int(
        dict(p.split("=", 1) for p in case["signature_header"].split(","))["keyVersion"]
    )
    header = signing.sign_content(merchant_signer(vectors, pem_field), key_version, content)
    assert header == case["signature_header"]


@pytest.mark.parametrize("index", range(2), ids=lambda index: f"request{index}")
def test_auth_on_a_bare_prepared_request_matches_the_sdk(index: int) -> None:
    vectors = load_vectors()
    case = vectors["requests"][index]
    moment = datetime.fromisoformat(case["time"])
    auth = SignedRequestAuth(
        merchant_signer(vectors, "merchant_private_key_pkcs1_pem"),
        client_id=case["client_id"],
        key_version=1,
        clock=lambda: moment,
    )
    body = case["body"].encode("utf-8")
    prepared = requests.Request(
        "POST", "https://open.alipay.hk" + case["path"], data=body, auth=auth
    ).prepare()
    assert prepared.body == body
    assert prepared.headers["Client-Id"] == case["client_id"]
    assert prepared.headers["Request-Time"] == case["time"]
    assert prepared.headers["Signature"] == case["signature_header"]


@pytest.mark.parametrize("index", range(4), ids=lambda index: f"response{index}")
def test_response_vectors_behave_as_marked(index: int) -> None:
    vectors = load_vectors()
    case = vectors["responses"][index]
    headers = CaseInsensitiveDict(
        {"signature": case["signature_header"], "response-time": case["response_time"]}
    )

    def verify() -> None:
        signing.verify_response(
            platform_public_key(vectors),
            path=case["path"],
            client_id=case["client_id"],
            headers=headers,
            body=case["body"].encode("utf-8"),
            now=datetime.fromisoformat(case["response_time"]) + timedelta(seconds=30),
            window=timedelta(minutes=5),
        )

    if case["valid"]:
        verify()
    else:
        with pytest.raises(signing.SignatureError, match="does not verify"):
            verify()


def test_reserialised_json_does_not_verify() -> None:
    vectors = load_vectors()
    case = vectors["responses"][0]
    reserialised = json.dumps(json.loads(case["body"]), indent=1).encode()
    content = signing.content_to_sign(
        case["path"], case["client_id"], case["response_time"], reserialised
    )
    with pytest.raises(signing.SignatureError):
        signing.verify_content(platform_public_key(vectors), content, case["signature_header"])


def test_worked_example_content_hash_from_the_reference() -> None:
    body = (
        b'{"merchantId":"2160120036095023","userId":"2160220037090534",'
        b'"templateCode":"2020091119027102160530200000039","bizSerialId":"1111128828",'
        b'"bizSerialType":"OUT_PLAT_FORM","startDate":1598889600000,"endDate":1601222400000,'
        b'"bizCreate":1598889600000,"type":"COUPON","product":"GIFT_CARD","codeInfo":'
        b'{"$codemsg$":"9123912839123712893","$codevalue$":"9123912839123712893"}}'
    )
    content = signing.content_to_sign(
        "/api/open/alipay/v1/ipass/pass/manage/createPass",
        "4Q5Y8W0WSG45P907917",
        "2024-05-22T06:42:21+05:30",
        body,
    )
    assert len(content) == 466
    expected = "1cc62ca8fdd7bcf582814715ae0a981b772fc1431113800a23a3fee53f7fe8cb"
    assert hashlib.sha256(content).hexdigest() == expected


@pytest.mark.parametrize(
    ("text", "encoded"),
    [("a+b/c==", "a%2Bb%2Fc%3D%3D"), ("a b~*._-", "a+b%7E*._-"), ("é", "%C3%A9")],
)
def test_java_urlencoder_compatibility(text: str, encoded: str) -> None:
    assert signing.java_urlencode(text) == encoded


def test_key_version_is_omitted_when_unset() -> None:
    header = signing.format_signature_header("RSA256", None, b"\xfb\xff")
    assert header == "algorithm=RSA256,signature=%2B%2F8%3D"


RAW_SIG = base64.b64encode(bytes(range(256))).decode()


@pytest.mark.parametrize(
    "header",
    [
        f"algorithm=RSA256,keyVersion=1,signature={signing.java_urlencode(RAW_SIG)}",
        f"algorithm=RSA256, keyVersion=1, signature={signing.java_urlencode(RAW_SIG)}",
        f"Algorithm=sha256withrsa , KEYVERSION=1 ,Signature={signing.java_urlencode(RAW_SIG)}",
        f"algorithm=RSA256,keyVersion=1,signature={RAW_SIG}",  # not URL-encoded: '=' and '+'
    ],
)
def test_signature_header_variants_parse_alike(header: str) -> None:
    parsed = signing.parse_signature_header(header)
    assert parsed.algorithm == "RSA256"
    assert parsed.key_version == "1"
    assert parsed.signature == bytes(range(256))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("keyVersion=1,signature=AAAA", "no algorithm"),
        ("algorithm=MD5,signature=AAAA", "unsupported signature algorithm"),
        ("algorithm=RSA256,keyVersion=1", "no signature value"),
        ("algorithm=RSA256,signature=AA,signature=BB", "repeats"),
        ("algorithm=RSA256,signature=%%%not base64", "not URL-encoded base64"),
        ("algorithm=RSA256,garbage,signature=AAAA", "not key=value"),
    ],
)
def test_bad_signature_headers_are_refused(header: str, message: str) -> None:
    with pytest.raises(signing.SignatureError, match=message):
        signing.parse_signature_header(header)


def test_ecc224_signs_and_verifies_behind_the_same_interface() -> None:
    key = ec.generate_private_key(ec.SECP224R1())
    signer: signing.Signer = signing.Ecc224Signer(key)
    content = signing.content_to_sign("/p", "cid", "2026-01-01T00:00:00+08:00", b"{}")
    header = signing.sign_content(signer, 2, content)
    assert header.startswith("algorithm=ECC224,keyVersion=2,signature=")
    der = signing.parse_signature_header(header).signature
    assert der[0] == 0x30  # DER SEQUENCE
    signing.verify_content(key.public_key(), content, header)
    with pytest.raises(signing.SignatureError, match="does not verify"):
        signing.verify_content(key.public_key(), content + b" ", header)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(signing.SignatureError, match="cannot check"):
        signing.verify_content(rsa_key.public_key(), content, header)


def test_ecc224_refuses_other_curves_and_small_rsa_keys() -> None:
    with pytest.raises(TypeError, match="secp224r1"):
        signing.Ecc224Signer(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ValueError, match="1024 bits"):
        signing.RsaSha256Signer(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505


def test_signer_repr_shows_no_key() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert repr(signing.RsaSha256Signer(key)) == "RsaSha256Signer(<2048-bit RSA key>)"


def test_timestamps_carry_an_offset() -> None:
    hk = timezone(timedelta(hours=8))
    assert signing.format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=hk)) == (
        "2026-01-02T03:04:05+08:00"
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        signing.format_timestamp(datetime(2026, 1, 2))
    utc = datetime(2023, 12, 18, 2, 33, 31, tzinfo=UTC)
    assert signing.parse_timestamp("2023-12-18T02:33:31Z") == utc
    assert signing.parse_timestamp("2023-12-18T08:03:31.000+0530") == utc
    for bad in ("2023-12-18T02:33:31", "yesterday"):
        with pytest.raises(signing.SignatureError):
            signing.parse_timestamp(bad)


class TestResponseVerification:
    vectors = load_vectors()
    case = vectors["responses"][0]
    sent_at = datetime.fromisoformat(case["response_time"])

    def verify(
        self, *, now: datetime | None = None, drop: str = "", client_id: str | None = None
    ) -> None:
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict(
            {
                "Signature": self.case["signature_header"],
                "Response-Time": self.case["response_time"],
            }
        )
        if client_id is not None:
            headers["Client-Id"] = client_id
        if drop:
            del headers[drop]
        signing.verify_response(
            platform_public_key(self.vectors),
            path=self.case["path"],
            client_id=self.case["client_id"],
            headers=headers,
            body=self.case["body"].encode(),
            now=now or self.sent_at,
            window=timedelta(minutes=5),
        )

    def test_inside_the_window_either_side(self) -> None:
        self.verify(now=self.sent_at + timedelta(minutes=4, seconds=59))
        self.verify(now=self.sent_at - timedelta(minutes=4, seconds=59))

    @pytest.mark.parametrize("shift", [timedelta(minutes=6), -timedelta(minutes=6)])
    def test_outside_the_window(self, shift: timedelta) -> None:
        with pytest.raises(signing.SignatureError, match="away from our clock"):
            self.verify(now=self.sent_at + shift)

    @pytest.mark.parametrize("header", ["Signature", "Response-Time"])
    def test_missing_headers(self, header: str) -> None:
        with pytest.raises(signing.SignatureError, match=f"no {header} header"):
            self.verify(drop=header)

    def test_echoed_client_id_must_be_ours(self) -> None:
        self.verify(client_id=self.case["client_id"])
        with pytest.raises(signing.SignatureError, match="Client-Id"):
            self.verify(client_id="SOMEONE-ELSE")

    def test_wrong_platform_key(self) -> None:
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
        with pytest.raises(signing.SignatureError, match="does not verify"):
            signing.verify_content(
                other,
                signing.content_to_sign(
                    self.case["path"],
                    self.case["client_id"],
                    self.case["response_time"],
                    self.case["body"].encode(),
                ),
                self.case["signature_header"],
            )


# -- RSA_AES ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def recipient() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rsa_aes_round_trip(recipient: rsa.RSAPrivateKey) -> None:
    plaintext = '{"userId":"2160220037090534","name":"陳大文"}'.encode()
    body, header = encryption.encrypt_body(plaintext, recipient.public_key(), 3)
    assert header.startswith("algorithm=RSA_AES,keyVersion=3,symmetricKey=")
    assert plaintext not in body
    ciphertext = base64.b64decode(body, validate=True)
    assert len(ciphertext) % 16 == 0
    assert len(ciphertext) > len(plaintext)
    wrapped = signing.parse_header_pairs(header)["symmetrickey"]
    assert not set(wrapped) & set("+/=")  # URL-encoded
    assert encryption.decrypt_body(body, header, recipient) == plaintext
    spaced = header.replace(",", ", ").replace("keyVersion=3, ", "")
    assert encryption.decrypt_body(body, spaced, recipient) == plaintext


def test_rsa_aes_uses_a_fresh_aes_256_key_each_time(recipient: rsa.RSAPrivateKey) -> None:
    first = encryption.encrypt_body(b"same", recipient.public_key(), None)
    second = encryption.encrypt_body(b"same", recipient.public_key(), None)
    assert first[0] != second[0]
    assert "keyVersion" not in first[1]
    assert encryption.SCHEME.aes_key_bytes == 32
    assert encryption.SCHEME.content_type == "text/plain; charset=UTF-8"


def test_rsa_aes_failures_are_clear(recipient: rsa.RSAPrivateKey) -> None:
    body, header = encryption.encrypt_body(b'{"a":1}', recipient.public_key(), 1)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(encryption.EncryptionError):
        encryption.decrypt_body(body, header, stranger)
    with pytest.raises(encryption.EncryptionError, match="not base64"):
        encryption.decrypt_body(b"%%%", header, recipient)
    with pytest.raises(encryption.EncryptionError, match="whole number of AES blocks"):
        encryption.decrypt_body(base64.b64encode(b"short"), header, recipient)
    with pytest.raises(encryption.EncryptionError, match="no symmetricKey"):
        encryption.decrypt_body(body, "algorithm=RSA_AES,keyVersion=1", recipient)
    with pytest.raises(encryption.EncryptionError, match="not RSA_AES"):
        encryption.decrypt_body(body, header.replace("RSA_AES", "RSA"), recipient)
