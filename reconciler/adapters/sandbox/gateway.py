"""The sandbox's gateway: who is calling (signature, keys, clock), and sealing the answer.

Mirrors AlipayHK's gateway with the shared signing and encryption code: the request's signature
is verified over the exact received bytes with the public key registered for (Client-Id,
keyVersion); responses are signed with the sandbox's platform key over
`POST <path>\\n<Client-Id>.<Response-Time>.<raw body>`, and encrypted for the caller when the
request was.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.adapters.alipayhk.encryption import (
    ENCRYPT_HEADER,
    SCHEME,
    EncryptionError,
    decrypt_body,
    encrypt_body,
)
from reconciler.adapters.alipayhk.signing import (
    RsaSha256Signer,
    SignatureError,
    content_to_sign,
    format_signature_header,
    format_timestamp,
    parse_header_pairs,
    parse_signature_header,
    parse_timestamp,
    verify_content,
)
from reconciler.adapters.sandbox.ids import HONG_KONG
from reconciler.adapters.sandbox.operations import Caller, Outcome
from reconciler.adapters.sandbox.records import ClientKey
from reconciler.adapters.sandbox.store import SandboxStore
from reconciler.domain.contract.codes import ResultCode
from reconciler.domain.contract.identifiers import client_id_problem

JSON_CONTENT_TYPE: Final = "application/json; charset=UTF-8"
PLATFORM_KEY_VERSION: Final = 1
DEFAULT_TIME_WINDOW: Final = timedelta(minutes=5)


class Refusal(Exception):
    """The gateway answers `outcome` without reaching the operation."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


def _refuse(code: ResultCode, message: str | None = None) -> Refusal:
    return Refusal(Outcome.of(code, message))


@dataclass(frozen=True)
class Verified:
    """An authenticated request: its caller, the key that verified it, and its plain body."""

    caller: Caller
    public_key: rsa.RSAPublicKey
    key_version: int
    body: bytes
    encrypted: bool


@dataclass(frozen=True)
class Sealed:
    body: bytes
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class _CachedKey:
    pem: bytes
    public_key: rsa.RSAPublicKey
    key_version: int
    merchant_id: str | None


class Gateway:
    """Authenticates requests and seals responses. Keys are parsed once and cached."""

    def __init__(
        self,
        store: SandboxStore,
        platform_key: rsa.RSAPrivateKey,
        *,
        time_window: timedelta = DEFAULT_TIME_WINDOW,
    ) -> None:
        self._store = store
        self._platform_key = platform_key
        self._signer = RsaSha256Signer(platform_key)
        self._time_window = time_window
        self._keys: dict[tuple[str, int | None], _CachedKey] = {}
        self._keys_lock = threading.Lock()

    # -- requests -----------------------------------------------------------------------------

    def authenticate(
        self,
        *,
        path: str,
        client_id: str | None,
        request_time: str | None,
        signature: str | None,
        encrypt: str | None,
        body: bytes,
        now: datetime,
    ) -> Verified:
        """Check who sent `body`; raise `Refusal` with the gateway's code otherwise."""
        if not client_id:
            raise _refuse(ResultCode.INVALID_CLIENT, "Client-Id header is missing")
        problem = client_id_problem(client_id)
        if problem is not None:
            raise _refuse(ResultCode.INVALID_CLIENT, f"Client-Id header {problem}")
        if not signature:
            raise _refuse(ResultCode.INVALID_SIGNATURE, "Signature header is missing")
        try:
            parsed = parse_signature_header(signature)
        except SignatureError as error:
            raise _refuse(ResultCode.INVALID_SIGNATURE, f"Signature header: {error}") from None
        key_version = _key_version(parsed.key_version)
        key = self._key(client_id, key_version)
        if request_time is None:
            raise _refuse(ResultCode.PARAM_ILLEGAL, "Request-Time header is missing")
        content = content_to_sign(path, client_id, request_time, body)
        if not self._verifies(key, content, signature):
            fresh = self._key(client_id, key_version, reload=True)
            if fresh.pem == key.pem or not self._verifies(fresh, content, signature):
                raise _refuse(
                    ResultCode.INVALID_SIGNATURE,
                    f"signature does not verify with keyVersion {key.key_version} of {client_id}",
                )
            key = fresh
        self._check_time(request_time, now)
        plain = body if encrypt is None else self._decrypt(body, encrypt)
        return Verified(
            Caller(client_id, key.merchant_id),
            key.public_key,
            key.key_version,
            plain,
            encrypted=encrypt is not None,
        )

    def _key(self, client_id: str, key_version: int | None, *, reload: bool = False) -> _CachedKey:
        cache_key = (client_id, key_version)
        if not reload:
            cached = self._keys.get(cache_key)
            if cached is not None:
                return cached
        # A miss (or a failed check) rereads the store: `register-client` may have run since.
        record = self._store.client_key(client_id, key_version)
        if record is None:
            if not self._store.client_exists(client_id):
                raise _refuse(ResultCode.INVALID_CLIENT, f"Client-Id {client_id} is not registered")
            wanted = "any key" if key_version is None else f"keyVersion {key_version}"
            raise _refuse(ResultCode.KEY_NOT_FOUND, f"{client_id} has no {wanted}")
        cached = _load(record)
        with self._keys_lock:
            self._keys[cache_key] = cached
        return cached

    @staticmethod
    def _verifies(key: _CachedKey, content: bytes, signature: str) -> bool:
        try:
            verify_content(key.public_key, content, signature)
        except SignatureError:
            return False
        return True

    def _check_time(self, request_time: str, now: datetime) -> None:
        try:
            sent = parse_timestamp(request_time)
        except SignatureError as error:
            raise _refuse(ResultCode.PARAM_ILLEGAL, f"Request-Time: {error}") from None
        skew = abs(sent - now)
        if skew > self._time_window:
            raise _refuse(
                ResultCode.INVALID_SIGNATURE,
                f"Request-Time is {skew.total_seconds():.0f}s away from the sandbox clock "
                f"(allowed {self._time_window.total_seconds():.0f}s)",
            )

    def _decrypt(self, body: bytes, encrypt: str) -> bytes:
        try:
            version = parse_header_pairs(encrypt).get("keyversion")
        except SignatureError as error:
            raise _refuse(ResultCode.PARAM_ILLEGAL, f"Encrypt header: {error}") from None
        if version is not None and version.strip() != str(PLATFORM_KEY_VERSION):
            raise _refuse(
                ResultCode.KEY_NOT_FOUND,
                f"Encrypt keyVersion {version}: the platform key is version {PLATFORM_KEY_VERSION}",
            )
        try:
            return decrypt_body(body, encrypt, self._platform_key)
        except EncryptionError as error:
            raise _refuse(ResultCode.PARAM_ILLEGAL, f"encrypted body: {error}") from None

    # -- responses ----------------------------------------------------------------------------

    def seal(
        self,
        *,
        path: str,
        client_id: str,
        payload: bytes,
        encrypt_for: Verified | None,
        now: datetime,
        corrupt_signature: bool = False,
    ) -> Sealed:
        """Encrypt (when the request was encrypted), then sign, exactly as AlipayHK answers."""
        headers: list[tuple[str, str]] = []
        if encrypt_for is not None and encrypt_for.encrypted:
            body, encrypt_header = encrypt_body(
                payload, encrypt_for.public_key, encrypt_for.key_version
            )
            headers.append(("Content-Type", SCHEME.content_type))
            headers.append((ENCRYPT_HEADER, encrypt_header))
        else:
            body = payload
            headers.append(("Content-Type", JSON_CONTENT_TYPE))
        response_time = format_timestamp(now.astimezone(HONG_KONG))
        raw = self._signer.sign(content_to_sign(path, client_id, response_time, body))
        if corrupt_signature:
            raw = bytes([raw[0] ^ 0x01]) + raw[1:]
        headers.append(("Response-Time", response_time))
        headers.append(("Client-Id", client_id))
        headers.append(
            (
                "Signature",
                format_signature_header(self._signer.algorithm, PLATFORM_KEY_VERSION, raw),
            )
        )
        return Sealed(body, headers)


def _key_version(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise _refuse(ResultCode.KEY_NOT_FOUND, f"keyVersion {text!r} is not a number") from None


def _load(record: ClientKey) -> _CachedKey:
    key = serialization.load_pem_public_key(record.public_key_pem)
    if not isinstance(key, rsa.RSAPublicKey):  # registration only accepts RSA keys
        raise _refuse(ResultCode.KEY_NOT_FOUND, f"{record.client_id}'s key is not an RSA key")
    return _CachedKey(record.public_key_pem, key, record.key_version, record.merchant_id)
