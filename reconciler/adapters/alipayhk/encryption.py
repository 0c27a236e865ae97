"""`RSA_AES` body encryption, ZOLOZ-style (API reference section 1.8).

ASSUMPTION to confirm with AlipayHK: their pages name `RSA_AES` but not its mode, padding or
encodings. We follow the official ZOLOZ SDK of the same gateway family. Every such choice lives
in `RsaAesScheme`; change `SCHEME` (and nothing else) when AlipayHK confirms.

Both directions use the same two functions: the client encrypts requests with the platform public
key and decrypts responses with the merchant private key; the sandbox does the reverse.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from urllib.parse import unquote

from cryptography.hazmat.primitives import padding as block_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from reconciler.adapters.alipayhk.signing import (
    SignatureError,
    java_urlencode,
    parse_header_pairs,
)

ENCRYPT_HEADER = "Encrypt"


class EncryptionError(ValueError):
    """An encrypted body or `Encrypt` header cannot be decrypted. The message is safe to show."""


@dataclass(frozen=True)
class RsaAesScheme:
    """Every RSA_AES choice in one place (all of them ZOLOZ SDK behaviour, none confirmed)."""

    algorithm_name: str = "RSA_AES"
    aes_key_bytes: int = 32  # AES-256, as AlipayHK recommends; decryption accepts 16/24/32
    # AES/ECB/PKCS5Padding (Java's default "AES" transformation): no IV.
    block_bits: int = 128
    # Ciphertext body: standard base64 alphabet with padding (ZOLOZ SDK; one ZOLOZ page says
    # url-safe, so this is the first thing to confirm).
    body_base64_altchars: bytes | None = None
    # The AES key is wrapped with RSA PKCS#1 v1.5 (RSA/ECB/PKCS1Padding), base64, URL-encoded.
    content_type: str = "text/plain; charset=UTF-8"


SCHEME = RsaAesScheme()
_AES_KEY_SIZES = frozenset({16, 24, 32})


def _aes_ecb(key: bytes) -> Cipher[modes.ECB]:
    # ECB is the mode the ZOLOZ SDK uses; it is the vendor's choice, kept only behind SCHEME.
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 - the vendor's mode, see above


def encrypt_body(
    plaintext: bytes, recipient_public_key: rsa.RSAPublicKey, key_version: int | None
) -> tuple[bytes, str]:
    """Encrypt `plaintext`; return the body to send and the `Encrypt` header value.

    Sign the returned body, not the plaintext (encrypt, then sign).
    """
    key = os.urandom(SCHEME.aes_key_bytes)
    padder = block_padding.PKCS7(SCHEME.block_bits).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = _aes_ecb(key).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    body = base64.b64encode(ciphertext, altchars=SCHEME.body_base64_altchars)
    wrapped = recipient_public_key.encrypt(key, padding.PKCS1v15())
    symmetric_key = java_urlencode(base64.b64encode(wrapped).decode("ascii"))
    version = "" if key_version is None else f"keyVersion={key_version},"
    header = f"algorithm={SCHEME.algorithm_name},{version}symmetricKey={symmetric_key}"
    return body, header


def decrypt_body(body: bytes, encrypt_header: str, private_key: rsa.RSAPrivateKey) -> bytes:
    """Decrypt a body sent with `Encrypt: algorithm=RSA_AES,...,symmetricKey=...`."""
    key = _unwrap_key(encrypt_header, private_key)
    try:
        ciphertext = base64.b64decode(
            body.strip(), altchars=SCHEME.body_base64_altchars, validate=True
        )
    except (binascii.Error, ValueError):
        raise EncryptionError("encrypted body is not base64") from None
    if not ciphertext or len(ciphertext) % (SCHEME.block_bits // 8):
        raise EncryptionError("encrypted body is not a whole number of AES blocks")
    decryptor = _aes_ecb(key).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = block_padding.PKCS7(SCHEME.block_bits).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise EncryptionError("encrypted body does not decrypt (wrong key or damaged)") from None


def _unwrap_key(encrypt_header: str, private_key: rsa.RSAPrivateKey) -> bytes:
    try:
        pairs = parse_header_pairs(encrypt_header)
    except SignatureError as exc:
        raise EncryptionError(f"Encrypt header: {exc}") from None
    algorithm = pairs.get("algorithm", "")
    if algorithm.upper() != SCHEME.algorithm_name:
        raise EncryptionError("Encrypt header algorithm is not RSA_AES")
    wrapped_text = pairs.get("symmetrickey")
    if not wrapped_text:
        raise EncryptionError("Encrypt header has no symmetricKey")
    try:
        wrapped = base64.b64decode(unquote(wrapped_text), validate=True)
    except (binascii.Error, ValueError):
        raise EncryptionError("symmetricKey is not URL-encoded base64") from None
    try:
        key = private_key.decrypt(wrapped, padding.PKCS1v15())
    except ValueError:
        key = b""
    # OpenSSL's implicit rejection returns random bytes for a bad PKCS#1 block instead of an
    # error, so a wrong key shows up here as a wrong length or, later, as bad AES padding.
    if len(key) not in _AES_KEY_SIZES:
        raise EncryptionError("symmetricKey does not decrypt with our private key")
    return key
