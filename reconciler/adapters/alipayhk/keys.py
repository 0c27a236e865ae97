"""Loading and creating the keys the gateway protocol needs, without ever echoing them.

* Merchant private key: PEM (PKCS#1 ``BEGIN RSA PRIVATE KEY`` or PKCS#8 ``BEGIN PRIVATE KEY`` /
  ``BEGIN ENCRYPTED PRIVATE KEY``), or the one-line base64 DER the Alipay SDKs use; from a file
  or from an environment variable holding the text.
* Platform public key: PEM ``BEGIN PUBLIC KEY`` or the one-line base64 the AlipayHK console
  shows.

Every failure is a `CredentialsError` whose message names the *source* (a path or a variable
name) and never the content. Errors are raised outside ``except`` blocks, so no exception that
saw key bytes or a passphrase is kept as ``__context__``. Warnings (a private key file others
may read, a passphrase given for a plain key) go to the ``ipass`` logger and name the source
only, like the errors.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)

from reconciler.adapters.alipayhk.signing import (
    ECC224,
    MIN_RSA_BITS,
    RSA256,
    Ecc224Signer,
    RsaSha256Signer,
    Signer,
)
from reconciler.adapters.files import write_all
from reconciler.adapters.git import Git, GitError
from reconciler.errors import CredentialsError, InvalidInput

MAX_KEY_BYTES = 64 * 1024
PRIVATE_KEY_FILE = "merchant_private_key.pem"
PUBLIC_KEY_FILE = "merchant_public_key.pem"
GITIGNORE_FILE = ".gitignore"
IGNORE_ALL = b"# Written by `ipass keys generate`: private keys live here; git ignores it all.\n*\n"
WORK_FOLDER = ".ipass"
_KEY_HINT = (
    "the key itself is never printed; check the file or variable named above, and see "
    "`ipass keys generate --help`"
)

K = TypeVar("K")
log = logging.getLogger("ipass.keys")
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class KeySource:
    """Where a key comes from: a file path, or the name of an environment variable."""

    path: Path | None = None
    env_var: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.env_var is None):
            raise ValueError("a KeySource is either a path or an environment variable")

    @classmethod
    def file(cls, path: str | os.PathLike[str]) -> KeySource:
        return cls(path=Path(path))

    @classmethod
    def env(cls, name: str) -> KeySource:
        return cls(env_var=name)

    def __str__(self) -> str:
        return (
            f"file {self.path}"
            if self.path is not None
            else f"environment variable ${self.env_var}"
        )


@dataclass(frozen=True)
class Loaded(Generic[K]):
    """A loaded key, wrapped so that its repr names the type of key and never shows it."""

    key: K

    def __repr__(self) -> str:
        return f"Loaded(<{type(self.key).__name__}>)"


def is_ci(environ: Mapping[str, str]) -> bool:
    return environ.get("CI", "").strip().lower() in {"true", "1"}


def load_private_key(
    source: KeySource,
    *,
    passphrase: str | bytes | None = None,
    algorithm: str = RSA256,
    role: str = "merchant private key",
    environ: Mapping[str, str] | None = None,
) -> Loaded[SigningKey]:
    """Load and check the signing key for `algorithm` (RSA256: RSA >= 2048; ECC224: secp224r1)."""
    env = os.environ if environ is None else environ
    data = _read_source(source, role, env, private=True)
    secret = passphrase.encode() if isinstance(passphrase, str) else passphrase
    key, failure = _deserialize_private(data, secret, f"{role} from {source}")
    del data, secret
    if key is None:
        raise CredentialsError(f"{role} from {source}: {failure}", hint=_KEY_HINT)
    problem = _check_signing_key(key, algorithm)
    if problem or not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CredentialsError(f"{role} from {source}: {problem}", hint=_KEY_HINT)
    return Loaded(key)


def load_public_key(
    source: KeySource,
    *,
    role: str = "platform public key",
    environ: Mapping[str, str] | None = None,
) -> Loaded[rsa.RSAPublicKey]:
    """Load an RSA (>= 2048-bit) public key: PEM, or the console's one-line base64 DER."""
    env = os.environ if environ is None else environ
    data = _read_source(source, role, env, private=False)
    if b"PRIVATE KEY" in data:
        raise CredentialsError(
            f"{role} from {source}: holds a private key; give the public key instead",
            hint="never distribute a private key where a public key is expected",
        )
    key = _deserialize(data, serialization.load_pem_public_key, serialization.load_der_public_key)
    if key is None:
        raise CredentialsError(
            f"{role} from {source}: not a readable public key (expected PEM "
            "'BEGIN PUBLIC KEY' or one-line base64 DER)",
            hint=_KEY_HINT,
        )
    if not isinstance(key, rsa.RSAPublicKey):
        raise CredentialsError(f"{role} from {source}: is {_kind(key)}, not an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise CredentialsError(
            f"{role} from {source}: RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} needed"
        )
    return Loaded(key)


def make_signer(key: SigningKey, algorithm: str = RSA256) -> Signer:
    """The signer for a key already checked by `load_private_key`."""
    if algorithm == RSA256 and isinstance(key, rsa.RSAPrivateKey):
        return RsaSha256Signer(key)
    if algorithm == ECC224 and isinstance(key, ec.EllipticCurvePrivateKey):
        return Ecc224Signer(key)
    raise CredentialsError(f"a {_kind(key)} cannot sign {algorithm}")


def _read_source(
    source: KeySource,
    role: str,
    environ: Mapping[str, str],
    *,
    private: bool,
) -> bytes:
    if source.env_var is not None:
        text = environ.get(source.env_var)
        if text is None:
            raise CredentialsError(
                f"{role}: environment variable ${source.env_var} is not set",
                hint=f"export {source.env_var} with the PEM text, or configure a key file",
            )
        if not text.strip():
            raise CredentialsError(f"{role}: environment variable ${source.env_var} is empty")
        if "\n" not in text and "\\n" in text:
            text = text.replace("\\n", "\n")  # CI secret stores often flatten newlines
        return text.encode("utf-8", "replace")
    path = source.path if source.path is not None else Path()
    return _read_file(path, role, environ, private=private)


def _read_file(path: Path, role: str, environ: Mapping[str, str], *, private: bool) -> bytes:
    failure = ""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        failure = "does not exist"
    except PermissionError:
        failure = "cannot be read (permission denied)"
    except OSError as exc:
        failure = f"cannot be opened ({exc.strerror})"
    if failure:
        raise CredentialsError(f"{role}: file {path} {failure}")
    info = os.fstat(fd)  # of the file we opened, not of whatever the path names later
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise CredentialsError(f"{role}: {path} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        if private and info.st_mode & 0o077:
            message = (
                f"{role}: file {path} is readable or writable by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o})"
            )
            if is_ci(environ):
                raise CredentialsError(
                    f"{message}; refused because CI=true", hint=f"chmod 600 {path}"
                )
            log.warning("%s; run: chmod 600 %s", message, path)
        data = handle.read(MAX_KEY_BYTES + 1)
    if len(data) > MAX_KEY_BYTES:
        raise CredentialsError(f"{role}: file {path} is larger than {MAX_KEY_BYTES} bytes")
    return data


def _deserialize(data: bytes, pem: Callable[[bytes], K], der: Callable[[bytes], K]) -> K | None:
    """Parse PEM, or failing the PEM marker, one-line base64 DER; None if neither."""
    try:
        if b"-----BEGIN" in data:
            return pem(data)
        return der(base64.b64decode(b"".join(data.split()), validate=True))
    except (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error):
        return None


def _deserialize_private(
    data: bytes, passphrase: bytes | None, what: str
) -> tuple[PrivateKeyTypes | None, str]:
    encrypted = False

    def load(secret: bytes | None) -> PrivateKeyTypes:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, secret)
        der = base64.b64decode(b"".join(data.split()), validate=True)
        return serialization.load_der_private_key(der, secret)

    garbled = (
        "not a readable private key (expected PEM 'BEGIN RSA PRIVATE KEY' / 'BEGIN PRIVATE KEY' "
        "/ 'BEGIN ENCRYPTED PRIVATE KEY', or one-line base64 PKCS#8 DER)"
    )
    try:
        return load(None), _passphrase_ignored(passphrase, what)
    except TypeError:  # cryptography: "Password was not given but private key is encrypted"
        encrypted = True
    except (ValueError, UnsupportedAlgorithm, binascii.Error):
        pass
    if not encrypted:
        return None, garbled
    if passphrase is None:
        return None, "is encrypted but no passphrase was given"
    try:
        return load(passphrase), ""
    except (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error):
        pass
    return None, "wrong passphrase (or the encrypted key is damaged)"


def _passphrase_ignored(passphrase: bytes | None, what: str) -> str:
    if passphrase:
        log.warning("%s: a passphrase was given but the key is not encrypted; ignored it", what)
    return ""


def _check_signing_key(key: PrivateKeyTypes, algorithm: str) -> str:
    if algorithm not in (RSA256, ECC224):
        return f"unknown signature algorithm {algorithm!r} (RSA256 or ECC224)"
    if algorithm == RSA256:
        if not isinstance(key, rsa.RSAPrivateKey):
            return f"is {_kind(key)}, but algorithm RSA256 needs an RSA key"
        small = key.key_size < MIN_RSA_BITS
        return f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} needed" if small else ""
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return f"is {_kind(key)}, but algorithm ECC224 needs an EC secp224r1 key"
    if not isinstance(key.curve, ec.SECP224R1):
        return f"EC key on {key.curve.name}; ECC224 needs secp224r1"
    return ""


def _kind(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"an RSA-{key.key_size} key"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an EC key ({key.curve.name})"
    return f"a {type(key).__name__.removeprefix('_')} key"


# -- creating a key pair -------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPairFiles:
    private_key_path: Path
    public_key_path: Path
    console_public_key: str
    ignore_file: Path | None = None  # the `.gitignore` written into a folder created for the keys


def console_public_key(public_key: rsa.RSAPublicKey) -> str:
    """What the AlipayHK console asks for: base64 of the DER SubjectPublicKeyInfo, one line."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def write_new_key_pair(out_dir: Path, *, bits: int = 2048) -> KeyPairFiles:
    """Create an RSA pair in `out_dir`: never over an existing file, never through a link, and
    never where `git add .` would take the private key.

    A folder this creates gets a `.gitignore` holding `*`, so git ignores it wherever it is. A
    folder that already exists must, inside a git work tree, be one git ignores
    (`git check-ignore`); otherwise nothing is written. The folder (and `.ipass/` on its way)
    must be a real folder, not a symbolic link.
    """
    private_path = out_dir / PRIVATE_KEY_FILE
    public_path = out_dir / PUBLIC_KEY_FILE
    _refuse_linked_folders(out_dir)
    for path in (private_path, public_path):
        _refuse_taken(path)
    created = not out_dir.exists()
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput.refused(out_dir, "create the folder", exc) from None
    ignore_file = None
    if created:
        ignore_file = out_dir / GITIGNORE_FILE
        _write_exclusive(ignore_file, IGNORE_ALL, 0o644)
    _refuse_unless_git_ignores(out_dir, PRIVATE_KEY_FILE)
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_exclusive(private_path, private_pem, 0o600)
    try:
        _write_exclusive(public_path, public_pem, 0o644)
    except BaseException:
        private_path.unlink(missing_ok=True)
        raise
    _fsync_dir(out_dir)
    return KeyPairFiles(
        private_path, public_path, console_public_key(key.public_key()), ignore_file
    )


def _refuse_linked_folders(out_dir: Path) -> None:
    """The key folder, and `.ipass/` if it is on the way, are real folders (or do not exist)."""
    folders = [out_dir, *(p for p in out_dir.parents if p.name == WORK_FOLDER)]
    for folder in folders:
        if folder.is_symlink():
            raise InvalidInput(
                f"{folder} is a symbolic link; ipass writes keys only into a real folder",
                hint="give the real folder with --out, or replace the link with a folder",
            )
        if folder.exists() and not folder.is_dir():
            raise InvalidInput(f"{folder} is not a folder", hint="choose another --out folder")


def _refuse_taken(path: Path) -> None:
    if path.is_symlink():
        raise InvalidInput(
            f"{path} is a symbolic link; refusing to write a key through it",
            hint="remove the link, or choose another --out folder",
        )
    if path.exists():
        raise InvalidInput(
            f"{path} already exists; refusing to overwrite a key",
            hint="choose another --out folder, or move the old keys away first",
        )


def _refuse_unless_git_ignores(folder: Path, name: str) -> None:
    """Inside a git work tree, git must ignore `folder/name`: `git add .` must never take it."""
    if not any((p / ".git").exists() for p in (folder.resolve(), *folder.resolve().parents)):
        return
    try:
        done = Git(folder).run("check-ignore", "-q", "--", name, check=False)
    except GitError as exc:
        why = exc.message
        raise InvalidInput(
            f"{folder} is inside a git work tree and ipass cannot ask git whether it ignores "
            f"the private key ({why}); nothing was written",
            hint="choose an --out folder outside the work tree, or install git",
        ) from None
    if done.returncode == 0:
        return
    if done.returncode == 1:
        raise InvalidInput(
            f"{folder} is inside a git work tree and git does not ignore it: `git add .` would "
            "take the private key; nothing was written",
            hint="leave out --out (the default, .ipass/keys/, is ignored), name a folder that "
            "does not exist yet (ipass writes a .gitignore into it), or add the folder to "
            ".gitignore",
        )
    said = [line for line in done.stderr.splitlines() if line.strip()]
    raise InvalidInput(
        f"{folder}: cannot ask git whether it ignores the private key: "
        f"{said[-1] if said else f'git exited with {done.returncode}'}; nothing was written",
        hint="choose an --out folder outside the git work tree",
    )


def _write_exclusive(path: Path, data: bytes, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError:
        raise InvalidInput(f"{path} already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise InvalidInput.refused(path, "create", exc) from None
    try:
        write_all(fd, data, mode)  # the umask may only have narrowed the mode; make it exact
    except OSError as exc:  # disk full, quota, I/O error: leave no half-written key behind
        path.unlink(missing_ok=True)
        raise InvalidInput.refused(path, "write", exc) from None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
