"""The sandbox's data folder: its database and its platform key pair.

```
<data>/sandbox.sqlite3             templates, passes, clients, users, request log
<data>/platform_private_key.pem    the sandbox's "AlipayHK platform" key (mode 0600)
<data>/platform_public_key.pem     what clients verify responses with
```

The platform key pair is created on first use and reused afterwards, so clients configured with
the public key keep working across restarts. Key files are never written or read through a
symbolic link: a link (or a folder, device or pipe) in the place of one is refused, naming it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from reconciler.adapters.alipayhk.keys import KeySource, load_private_key
from reconciler.adapters.files import fsync_dir, write_atomic
from reconciler.adapters.sandbox.errors import SandboxKeyError

DATABASE_FILE: Final = "sandbox.sqlite3"
PLATFORM_PRIVATE_KEY_FILE: Final = "platform_private_key.pem"
PLATFORM_PUBLIC_KEY_FILE: Final = "platform_public_key.pem"
RSA_BITS: Final = 2048


@dataclass(frozen=True)
class DataDir:
    """Where one sandbox keeps everything; `ensure_platform_key` makes it usable."""

    root: Path

    @property
    def database(self) -> Path:
        return self.root / DATABASE_FILE

    @property
    def platform_private_key(self) -> Path:
        return self.root / PLATFORM_PRIVATE_KEY_FILE

    @property
    def platform_public_key(self) -> Path:
        return self.root / PLATFORM_PUBLIC_KEY_FILE

    def create(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def ensure_platform_key(self) -> rsa.RSAPrivateKey:
        """Load the platform private key, creating the pair on first use."""
        self.create()
        return ensure_key_pair(
            self.platform_private_key, self.platform_public_key, role="sandbox platform key"
        )


def public_pem(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ensure_key_pair(private_path: Path, public_path: Path, *, role: str) -> rsa.RSAPrivateKey:
    """Load the RSA key at `private_path`, creating it (mode 0600) if absent; keep the public
    key file next to it in step. Safe against a concurrent first start: one key wins."""
    for path in (private_path, public_path):
        _refuse_unless_regular(path, role)
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _create_exclusive(private_path, pem, mode=0o600)
    loaded = load_private_key(KeySource.file(private_path), role=f"{role} (private)")
    if not isinstance(loaded.key, rsa.RSAPrivateKey):
        raise SandboxKeyError(f"{role}: {private_path} does not hold an RSA key")
    public = public_pem(loaded.key.public_key())
    if not public_path.exists() or public_path.read_bytes() != public:
        write_atomic(public_path, public)
    return loaded.key


def _refuse_unless_regular(path: Path, role: str) -> None:
    """A key file of the sandbox is a regular file or absent; a link is never followed."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise SandboxKeyError.refused(path, "read the key file", error) from None
    if stat.S_ISLNK(info.st_mode):
        raise SandboxKeyError(
            f"{role}: {path} is a symbolic link; the sandbox writes its keys itself and never "
            "through a link",
            hint="remove the link; the sandbox makes a new key pair in its place",
        )
    if not stat.S_ISREG(info.st_mode):
        raise SandboxKeyError(
            f"{role}: {path} is not a regular file", hint="move it away, then start again"
        )


def _create_exclusive(path: Path, data: bytes, *, mode: int) -> None:
    """Write `data` to `path` only if `path` does not exist yet (link, not rename: no clobber)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        with contextlib.suppress(FileExistsError):  # another process created it first
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    fsync_dir(path.parent)
