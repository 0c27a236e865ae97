"""The AlipayHK gateway signature: content, algorithms, header format, verification.

Shared by the client (signs requests, verifies responses) and the sandbox (the reverse). Pure
functions over bytes and `cryptography` keys: no HTTP here.

Content signed (section 1.5 of the API reference)::

    POST <path>\\n<Client-Id>.<Request-Time or Response-Time>.<exact body bytes>

Header: ``algorithm=RSA256,keyVersion=N,signature=<URL-encoded standard base64>``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar, Protocol
from urllib.parse import quote_plus, unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

RSA256 = "RSA256"
ECC224 = "ECC224"
# Older vendor pages spell RSA256 this way; accepted when parsing, never emitted.
_ALGORITHM_ALIASES: Mapping[str, str] = {
    "RSA256": RSA256,
    "SHA256WITHRSA": RSA256,
    "ECC224": ECC224,
}

MIN_RSA_BITS = 2048


class SignatureError(ValueError):
    """A signature header is missing, malformed, or does not verify. The message is safe to show."""


class Signer(Protocol):
    """Something that signs gateway content. `algorithm` is the header's `algorithm` value."""

    @property
    def algorithm(self) -> str: ...

    def sign(self, content: bytes) -> bytes: ...


@dataclass(frozen=True)
class RsaSha256Signer:
    """`RSA256`: SHA256withRSA, RSASSA-PKCS1-v1_5 (deterministic, so vectors compare exactly)."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    algorithm: ClassVar[str] = RSA256

    def __post_init__(self) -> None:
        if self.private_key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key of {self.private_key.key_size} bits; need {MIN_RSA_BITS}")

    def sign(self, content: bytes) -> bytes:
        return self.private_key.sign(content, padding.PKCS1v15(), hashes.SHA256())

    def __repr__(self) -> str:
        return f"RsaSha256Signer(<{self.private_key.key_size}-bit RSA key>)"


@dataclass(frozen=True)
class Ecc224Signer:
    """`ECC224`: ECDSA over secp224r1 with SHA-256, DER-encoded signature.

    ASSUMPTION to confirm with AlipayHK: the vendor only names `ECC224`; curve, hash and signature
    encoding are our reading of the name.
    """

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    algorithm: ClassVar[str] = ECC224

    def __post_init__(self) -> None:
        if not isinstance(self.private_key.curve, ec.SECP224R1):
            raise TypeError(f"ECC224 needs a secp224r1 key, not {self.private_key.curve.name}")

    def sign(self, content: bytes) -> bytes:
        return self.private_key.sign(content, ec.ECDSA(hashes.SHA256()))

    def __repr__(self) -> str:
        return "Ecc224Signer(<secp224r1 key>)"


def content_to_sign(path: str, client_id: str, timestamp: str, body: bytes) -> bytes:
    """The exact bytes signed: the body is appended as sent, never re-serialised."""
    return f"POST {path}\n{client_id}.{timestamp}.".encode() + body


def java_urlencode(text: str) -> str:
    """`java.net.URLEncoder.encode(text, "UTF-8")`: keeps ``A-Za-z0-9.-*_``, space becomes ``+``."""
    return quote_plus(text, safe="*").replace("~", "%7E")


# URLEncoder on standard base64 only ever touches these three characters.
_BASE64_URLENCODE = str.maketrans({"+": "%2B", "/": "%2F", "=": "%3D"})


def format_signature_header(algorithm: str, key_version: int | None, signature: bytes) -> str:
    """The no-space form of the vendor samples; `keyVersion` omitted means 'latest'."""
    encoded = base64.b64encode(signature).decode("ascii").translate(_BASE64_URLENCODE)
    version = "" if key_version is None else f"keyVersion={key_version},"
    return f"algorithm={algorithm},{version}signature={encoded}"


def sign_content(signer: Signer, key_version: int | None, content: bytes) -> str:
    """Sign `content` and return the full `Signature` header value."""
    return format_signature_header(signer.algorithm, key_version, signer.sign(content))


@dataclass(frozen=True)
class ParsedSignature:
    algorithm: str  # canonical: RSA256 or ECC224
    key_version: str | None
    signature: bytes = field(repr=False)


def parse_header_pairs(value: str) -> dict[str, str]:
    """Split ``a=1, b=2`` on commas, trim, split each pair on the first ``=`` only.

    Keys are matched case-insensitively (returned lower-cased); a repeated key is an error, since
    two readers could otherwise disagree on which one counts.
    """
    pairs: dict[str, str] = {}
    for part in value.split(","):
        item = part.strip()
        if not item:
            continue
        name, sep, val = item.partition("=")
        if not sep:
            raise SignatureError(f"header item {vendor_safe(name)!r} is not key=value")
        key = name.strip().lower()
        if key in pairs:
            raise SignatureError(f"header repeats {vendor_safe(name.strip())!r}")
        pairs[key] = val.strip()
    return pairs


def vendor_safe(text: str, limit: int = 40) -> str:
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "..."


def parse_signature_header(value: str) -> ParsedSignature:
    pairs = parse_header_pairs(value)
    raw_algorithm = pairs.get("algorithm")
    if raw_algorithm is None:
        raise SignatureError("Signature header has no algorithm")
    algorithm = _ALGORITHM_ALIASES.get(raw_algorithm.upper())
    if algorithm is None:
        raise SignatureError(f"unsupported signature algorithm {vendor_safe(raw_algorithm)!r}")
    encoded = pairs.get("signature")
    if not encoded:
        raise SignatureError("Signature header has no signature value")
    try:
        # `unquote`, not `unquote_plus`: a sender that forgot to URL-encode keeps its `+`.
        signature = base64.b64decode(unquote(encoded), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature value is not URL-encoded base64") from None
    return ParsedSignature(algorithm, pairs.get("keyversion"), signature)


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


def verify_content(public_key: PublicKey, content: bytes, header_value: str) -> ParsedSignature:
    """Verify a `Signature` header over `content`; raise `SignatureError` if it does not hold."""
    parsed = parse_signature_header(header_value)
    try:
        if parsed.algorithm == RSA256 and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(parsed.signature, content, padding.PKCS1v15(), hashes.SHA256())
        elif (
            parsed.algorithm == ECC224
            and isinstance(public_key, ec.EllipticCurvePublicKey)
            and isinstance(public_key.curve, ec.SECP224R1)
        ):
            public_key.verify(parsed.signature, content, ec.ECDSA(hashes.SHA256()))
        else:
            raise SignatureError(
                f"{parsed.algorithm} signature but the configured key cannot check it"
            )
    except InvalidSignature:
        raise SignatureError("signature does not verify with the configured public key") from None
    return parsed


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 with offset, to the second: ``2024-05-22T06:42:21+05:30``."""
    if moment.utcoffset() is None:
        raise ValueError("Request-Time needs a timezone-aware datetime")
    return moment.isoformat(timespec="seconds")


def parse_timestamp(text: str) -> datetime:
    """Parse Request-Time/Response-Time: ``Z``, ``+05:30``, ``+0530``, fractions; offset needed."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SignatureError(f"time {vendor_safe(text)!r} is not ISO-8601") from None
    if moment.utcoffset() is None:
        raise SignatureError(f"time {vendor_safe(text)!r} has no UTC offset")
    return moment


def verify_response(
    public_key: PublicKey,
    *,
    path: str,
    client_id: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    window: timedelta,
) -> None:
    """Check a response's `Signature` over its raw body and its `Response-Time` window.

    `headers` must be case-insensitive (as `requests` gives them). Raises `SignatureError`.
    """
    header = headers.get("Signature")
    if not header:
        raise SignatureError("no Signature header")
    response_time = headers.get("Response-Time")
    if not response_time:
        raise SignatureError("no Response-Time header")
    echoed_client = headers.get("Client-Id")
    if echoed_client is not None and echoed_client.strip() != client_id:
        raise SignatureError("Client-Id in the response is not ours")
    verify_content(public_key, content_to_sign(path, client_id, response_time, body), header)
    skew = abs(parse_timestamp(response_time) - now)
    if skew > window:
        raise SignatureError(
            f"Response-Time {vendor_safe(response_time)} is {skew.total_seconds():.0f}s away from "
            f"our clock (allowed {window.total_seconds():.0f}s)"
        )
