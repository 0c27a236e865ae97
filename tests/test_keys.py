"""Key loading, key generation and the promise that key material never leaks."""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from reconciler.adapters.alipayhk.keys import (
    KeySource,
    Loaded,
    console_public_key,
    load_private_key,
    load_public_key,
    make_signer,
)
from reconciler.adapters.alipayhk.signing import Ecc224Signer, RsaSha256Signer
from reconciler.cli.keys import keys as keys_group
from reconciler.errors import CredentialsError, InvalidInput
from reconciler.usecases.keys import load_signing_credentials

PASSPHRASE = "correct horse battery"
CANARY_PASSPHRASE = "CANARY-pass-7Q3ZX-do-not-leak"
PEM = serialization.Encoding.PEM
NO_ENCRYPTION = serialization.NoEncryption()


def pem(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
    fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
    passphrase: str | None = None,
) -> bytes:
    encryption: serialization.KeySerializationEncryption = NO_ENCRYPTION
    if passphrase is not None:
        encryption = serialization.BestAvailableEncryption(passphrase.encode())
    return key.private_bytes(PEM, fmt, encryption)


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def canary_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def warned(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The warnings logged to `ipass` so far (the command line prints them on stderr)."""
    caplog.set_level(logging.WARNING, logger="ipass")
    return lambda: [r.getMessage() for r in caplog.records if r.name.startswith("ipass")]


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., KeySource]:
    def write_key(data: bytes, name: str = "key.pem", mode: int = 0o600) -> KeySource:
        path = tmp_path / name
        path.write_bytes(data)
        path.chmod(mode)
        return KeySource.file(path)

    return write_key


# -- the loading matrix --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "passphrase"),
    [
        (serialization.PrivateFormat.TraditionalOpenSSL, None),  # PKCS#1
        (serialization.PrivateFormat.PKCS8, None),
        (serialization.PrivateFormat.PKCS8, PASSPHRASE),
        (serialization.PrivateFormat.TraditionalOpenSSL, PASSPHRASE),  # Proc-Type: ENCRYPTED
    ],
    ids=["pkcs1", "pkcs8", "pkcs8-encrypted", "pkcs1-encrypted"],
)
def test_private_key_formats_load(
    rsa_key: rsa.RSAPrivateKey,
    write: Callable[..., KeySource],
    warned: Callable[[], list[str]],
    fmt: serialization.PrivateFormat,
    passphrase: str | None,
) -> None:
    loaded = load_private_key(
        write(pem(rsa_key, fmt, passphrase)), passphrase=passphrase, environ={}
    )
    assert isinstance(loaded.key, rsa.RSAPrivateKey)
    assert loaded.key.private_numbers() == rsa_key.private_numbers()
    assert warned() == []


def test_one_line_base64_der_as_the_sdks_use(
    rsa_key: rsa.RSAPrivateKey, write: Callable[..., KeySource]
) -> None:
    der = rsa_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, NO_ENCRYPTION
    )
    loaded = load_private_key(write(base64.b64encode(der) + b"\n"), environ={})
    assert isinstance(loaded.key, rsa.RSAPrivateKey)


def test_private_key_from_an_environment_variable(
    rsa_key: rsa.RSAPrivateKey, warned: Callable[[], list[str]]
) -> None:
    text = pem(rsa_key).decode()
    from_variable = load_private_key(KeySource.env("K"), environ={"K": text})
    assert isinstance(from_variable.key, rsa.RSAPrivateKey)
    assert warned() == []
    flattened = text.replace("\n", "\\n")  # as some CI secret stores keep it
    loaded = load_private_key(KeySource.env("K"), environ={"K": flattened})
    assert isinstance(loaded.key, rsa.RSAPrivateKey)


@pytest.mark.parametrize(
    ("environ", "message"),
    [({}, r"\$IPASS_KEY is not set"), ({"IPASS_KEY": "  \n"}, r"\$IPASS_KEY is empty")],
)
def test_environment_variable_missing_or_empty(environ: dict[str, str], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        load_private_key(KeySource.env("IPASS_KEY"), environ=environ)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        load_private_key(KeySource.file(tmp_path / "nope.pem"), environ={})
    with pytest.raises(CredentialsError, match="not a regular file"):
        load_private_key(KeySource.file(tmp_path), environ={})


def test_oversized_file(write: Callable[..., KeySource]) -> None:
    with pytest.raises(CredentialsError, match="larger than"):
        load_private_key(write(b"A" * 70_000), environ={})


def test_encrypted_key_needs_the_right_passphrase(
    rsa_key: rsa.RSAPrivateKey, write: Callable[..., KeySource]
) -> None:
    source = write(pem(rsa_key, passphrase=PASSPHRASE))
    with pytest.raises(CredentialsError, match="encrypted but no passphrase"):
        load_private_key(source, environ={})
    with pytest.raises(CredentialsError, match="wrong passphrase"):
        load_private_key(source, passphrase="not it", environ={})


def test_passphrase_for_a_plain_key_is_a_warning(
    rsa_key: rsa.RSAPrivateKey, write: Callable[..., KeySource], warned: Callable[[], list[str]]
) -> None:
    source = write(pem(rsa_key))
    load_private_key(source, passphrase=PASSPHRASE, environ={})
    assert warned() == [
        f"merchant private key from {source}: a passphrase was given but the key is not "
        "encrypted; ignored it"
    ]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: ec.generate_private_key(ec.SECP256R1()),
            "is an EC key .secp256r1., but algorithm RSA256 needs an RSA key",
        ),
        (ed25519.Ed25519PrivateKey.generate, "but algorithm RSA256 needs an RSA key"),
        (
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
            "RSA key of 1024 bits; at least 2048 needed",
        ),
    ],
    ids=["ec", "ed25519", "rsa-1024"],
)
def test_wrong_kind_of_key_for_rsa256(
    write: Callable[..., KeySource], make: Callable[[], rsa.RSAPrivateKey], message: str
) -> None:
    with pytest.raises(CredentialsError, match=message):
        load_private_key(write(pem(make())), environ={})


def test_ecc224_needs_secp224r1(
    write: Callable[..., KeySource], rsa_key: rsa.RSAPrivateKey
) -> None:
    good = load_private_key(
        write(pem(ec.generate_private_key(ec.SECP224R1()))), algorithm="ECC224", environ={}
    )
    assert isinstance(make_signer(good.key, "ECC224"), Ecc224Signer)
    with pytest.raises(CredentialsError, match="ECC224 needs secp224r1"):
        load_private_key(
            write(pem(ec.generate_private_key(ec.SECP256R1())), "p256.pem"),
            algorithm="ECC224",
            environ={},
        )
    with pytest.raises(CredentialsError, match="ECC224 needs an EC secp224r1 key"):
        load_private_key(write(pem(rsa_key), "rsa.pem"), algorithm="ECC224", environ={})


@pytest.mark.parametrize(
    "garbage",
    [
        b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
        b"hello, I am not a key",
        b"",
    ],
    ids=["bad-pem", "text", "empty"],
)
def test_garbled_keys(write: Callable[..., KeySource], garbage: bytes) -> None:
    with pytest.raises(CredentialsError, match="not a readable private key"):
        load_private_key(write(garbage), environ={})


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_loose_permissions_refused_in_ci(
    rsa_key: rsa.RSAPrivateKey, write: Callable[..., KeySource], mode: int
) -> None:
    source = write(pem(rsa_key), mode=mode)
    with pytest.raises(CredentialsError, match="refused because CI=true") as caught:
        load_private_key(source, environ={"CI": "true"})
    assert caught.value.hint == f"chmod 600 {source.path}"


def test_loose_permissions_only_warned_locally(
    rsa_key: rsa.RSAPrivateKey, write: Callable[..., KeySource], warned: Callable[[], list[str]]
) -> None:
    source = write(pem(rsa_key), mode=0o644)
    for environ in ({}, {"CI": "false"}):
        assert load_private_key(source, environ=environ).key
    assert warned() == 2 * [
        f"merchant private key: file {source.path} is readable or writable by group or others "
        f"(mode 0644); run: chmod 600 {source.path}"
    ]
    assert load_private_key(write(pem(rsa_key), "tight.pem", 0o400), environ={"CI": "true"}).key
    assert len(warned()) == 2


def test_platform_public_key_forms(
    rsa_key: rsa.RSAPrivateKey, write: Callable[..., KeySource], warned: Callable[[], list[str]]
) -> None:
    from_pem = load_public_key(write(public_pem(rsa_key), mode=0o644), environ={})
    console = console_public_key(rsa_key.public_key())
    assert "\n" not in console
    assert "BEGIN" not in console
    from_console = load_public_key(KeySource.env("PLATFORM"), environ={"PLATFORM": console})
    assert from_pem.key.public_numbers() == from_console.key.public_numbers()
    assert warned() == []  # public keys need no secrecy: mode 0644 is fine


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pem, "holds a private key"),
        (lambda _: public_pem(ec.generate_private_key(ec.SECP256R1())), "not an RSA key"),
        (
            lambda _: public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),  # noqa: S505
            "1024 bits",
        ),
        (
            lambda _: b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "not a readable",
        ),
    ],
    ids=["private", "ec", "rsa-1024", "garbled"],
)
def test_bad_platform_keys(
    rsa_key: rsa.RSAPrivateKey,
    write: Callable[..., KeySource],
    data: Callable[[rsa.RSAPrivateKey], bytes],
    message: str,
) -> None:
    with pytest.raises(CredentialsError, match=message):
        load_public_key(write(data(rsa_key)), environ={})


def test_signing_credentials_use_case(
    rsa_key: rsa.RSAPrivateKey, write: Callable[..., KeySource], warned: Callable[[], list[str]]
) -> None:
    private = write(pem(rsa_key, passphrase=PASSPHRASE))
    platform = write(public_pem(rsa_key), "platform.pem", 0o644)
    credentials = load_signing_credentials(
        private_key=private,
        platform_public_key=platform,
        passphrase_env="IPASS_PASSPHRASE",
        environ={"IPASS_PASSPHRASE": PASSPHRASE},
    )
    assert isinstance(credentials.signer, RsaSha256Signer)
    assert warned() == []
    with pytest.raises(CredentialsError, match=r"\$IPASS_PASSPHRASE is not set"):
        load_signing_credentials(
            private_key=private,
            platform_public_key=platform,
            passphrase_env="IPASS_PASSPHRASE",
            environ={},
        )


# -- the canary ----------------------------------------------------------------------------


def canary_fragments(key: rsa.RSAPrivateKey) -> list[str]:
    """Recognisable pieces of the canary key in every encoding it was handed over in."""
    fragments = [CANARY_PASSPHRASE, CANARY_PASSPHRASE.encode().hex()]
    for blob in (
        pem(key),
        pem(key, serialization.PrivateFormat.TraditionalOpenSSL),
        pem(key, passphrase=CANARY_PASSPHRASE),
        pem(key, serialization.PrivateFormat.TraditionalOpenSSL, passphrase=CANARY_PASSPHRASE),
    ):
        fragments += [line[:24] for line in blob.decode().splitlines()[1:-1] if len(line) > 40]
    return fragments


def test_canary_key_and_passphrase_never_appear_in_errors_or_logs(
    canary_key: rsa.RSAPrivateKey,
    write: Callable[..., KeySource],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    plain = pem(canary_key)
    encrypted = pem(canary_key, passphrase=CANARY_PASSPHRASE)
    other_encrypted = pem(canary_key, passphrase="something else entirely")
    attempts: list[Callable[[], object]] = [
        lambda: load_private_key(write(encrypted, "a.pem"), environ={}),
        lambda: load_private_key(
            write(other_encrypted, "b.pem"), passphrase=CANARY_PASSPHRASE, environ={}
        ),
        lambda: load_private_key(
            KeySource.env("K"),
            passphrase=CANARY_PASSPHRASE,
            environ={"K": other_encrypted.decode()},
        ),
        lambda: load_private_key(write(plain[:-200], "c.pem"), environ={}),
        lambda: load_private_key(KeySource.env("K"), environ={"K": plain.decode()[:-200]}),
        lambda: load_private_key(write(plain, "d.pem", 0o644), environ={"CI": "true"}),
        lambda: load_private_key(write(plain, "e.pem"), algorithm="ECC224", environ={}),
        lambda: load_public_key(write(plain, "f.pem"), environ={}),
        lambda: load_public_key(KeySource.env("K"), environ={"K": plain.decode()}),
        lambda: load_signing_credentials(
            private_key=write(other_encrypted, "g.pem"),
            platform_public_key=write(public_pem(canary_key), "h.pem"),
            passphrase_env="P",
            environ={"P": CANARY_PASSPHRASE},
        ),
    ]
    texts: list[str] = []
    for attempt in attempts:
        with pytest.raises(CredentialsError) as caught:
            attempt()
        exc = caught.value
        assert exc.__cause__ is None
        assert exc.__context__ is None, "a chained exception could carry key bytes"
        texts += [str(exc), repr(exc), repr(exc.args), str(exc.hint)]
        texts.append("".join(traceback.format_exception(exc)))
    # Success paths with warnings and reprs must be as quiet.
    loaded = load_private_key(
        write(plain, "i.pem", 0o644), passphrase=CANARY_PASSPHRASE, environ={}
    )
    texts += [repr(loaded), repr(make_signer(loaded.key))]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    output = "\n".join(texts)
    fragments = canary_fragments(canary_key)
    assert len(fragments) > 40
    for fragment in fragments:
        assert fragment not in output
    assert "wrong passphrase" in output  # the paths did run
    assert "chmod 600" in output  # and so did the warnings
    assert "ignored it" in output


def test_loaded_repr_names_the_type_only(rsa_key: rsa.RSAPrivateKey) -> None:
    assert repr(Loaded(rsa_key)).startswith("Loaded(<")


# -- ipass keys generate -------------------------------------------------------------------


def test_generate_writes_a_usable_pair(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    result = CliRunner().invoke(keys_group, ["generate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    private, public = out / "merchant_private_key.pem", out / "merchant_public_key.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8
    loaded = load_private_key(KeySource.file(private), environ={"CI": "true"})
    assert isinstance(loaded.key, rsa.RSAPrivateKey)
    assert loaded.key.key_size == 2048
    console_line = result.stdout.strip()
    assert console_line == console_public_key(loaded.key.public_key())
    der = base64.b64decode(console_line, validate=True)
    console_key = serialization.load_der_public_key(der)
    assert isinstance(console_key, rsa.RSAPublicKey)
    assert console_key.public_numbers() == loaded.key.public_key().public_numbers()
    assert load_public_key(KeySource.file(public), environ={}).key.key_size == 2048
    assert "mode 0600" in result.stderr
    assert "PRIVATE" not in result.stdout


def test_generate_never_overwrites(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(keys_group, ["generate", "--out", str(tmp_path)]).exit_code == 0
    before = (tmp_path / "merchant_private_key.pem").read_bytes()
    again = runner.invoke(keys_group, ["generate", "--out", str(tmp_path)])
    assert isinstance(again.exception, InvalidInput)
    assert "already exists" in str(again.exception)
    assert (tmp_path / "merchant_private_key.pem").read_bytes() == before


def test_generate_refuses_a_planted_public_key_file(tmp_path: Path) -> None:
    (tmp_path / "merchant_public_key.pem").write_text("planted")
    result = CliRunner().invoke(keys_group, ["generate", "--out", str(tmp_path)])
    assert isinstance(result.exception, InvalidInput)
    assert not (tmp_path / "merchant_private_key.pem").exists()


def test_generate_help_says_where_to_paste() -> None:
    result = CliRunner().invoke(keys_group, ["generate", "--help"])
    assert result.exit_code == 0
    assert "AlipayHK merchant console" in result.output
    assert "keyVersion" in result.output
    assert "platform public key" in result.output


def test_the_command_line_module_loads_no_crypto_or_http() -> None:
    probe = (
        "import sys, reconciler.cli.keys; "
        "bad = [m for m in ('cryptography', 'requests', 'urllib3') if m in sys.modules]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
