"""Key use cases: create the merchant key pair; load what signing and verification need."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.adapters.alipayhk.keys import (
    KeyPairFiles,
    KeySource,
    load_private_key,
    load_public_key,
    make_signer,
    write_new_key_pair,
)
from reconciler.adapters.alipayhk.signing import RSA256, Signer
from reconciler.errors import CredentialsError


def generate_merchant_keys(out_dir: Path) -> KeyPairFiles:
    """Write a new RSA-2048 merchant pair into `out_dir`: never over a file, never through a
    link, never where git would take the private key (see `write_new_key_pair`)."""
    return write_new_key_pair(out_dir)


@dataclass(frozen=True)
class SigningCredentials:
    """What `ClientConfig` needs from the keys (warnings went to the `ipass` logger)."""

    signer: Signer
    platform_public_key: rsa.RSAPublicKey


def load_signing_credentials(
    *,
    private_key: KeySource,
    platform_public_key: KeySource,
    passphrase_env: str | None = None,
    algorithm: str = RSA256,
    environ: Mapping[str, str] | None = None,
) -> SigningCredentials:
    """Load the merchant signing key (passphrase from `passphrase_env`) and the platform key."""
    env = os.environ if environ is None else environ
    passphrase: str | None = None
    if passphrase_env is not None:
        passphrase = env.get(passphrase_env)
        if passphrase is None:
            raise CredentialsError(
                f"passphrase variable ${passphrase_env} is not set",
                hint=f"export {passphrase_env}, or drop passphrase_env for an unencrypted key",
            )
    merchant = load_private_key(
        private_key, passphrase=passphrase, algorithm=algorithm, environ=env
    )
    del passphrase
    platform = load_public_key(platform_public_key, environ=env)
    return SigningCredentials(
        signer=make_signer(merchant.key, algorithm),
        platform_public_key=platform.key,
    )
