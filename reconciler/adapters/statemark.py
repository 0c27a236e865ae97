"""The mark that spares a large state file its full check when its bytes have not changed.

Reading a state checks it whole: the strict JSON reader, then every record's payload against its
hash, so a hand edit is found and named. On the same bytes those checks always give the same
answer, so the SHA-256 of bytes that passed them (or that ipass wrote, after checking the records
that changed since the snapshot it read) is kept in a mark, and a read whose bytes have the
marked digest skips them.

The mark lives in the local work folder (`.ipass/cache/state/<env>.json.verified`, git-ignored),
never beside the state: it does not travel in a commit, so a reviewed pull request cannot carry
an edited state together with a mark for it. Any edit of the state changes its digest, and an
edited file is checked whole, as before. A missing, unreadable or stale mark only costs the full
check: it vouches for nothing but bytes with its exact digest, under the same checks (a format
or check change makes older marks worthless).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

from reconciler.adapters.files import ensure_folder, write_atomic
from reconciler.domain.state import STATE_FORMAT_VERSION
from reconciler.errors import StorageError

# Raised when the checks a read makes change, so marks written under older rules vouch for
# nothing (the format version has its own checks, and is part of the mark too).
_CHECKS: Final = 1
_MAX: Final = 256


def mark_path_for(work_dir: Path, state_file: Path) -> Path:
    """Where the mark for `state_file` lives, in the work folder (`.ipass/`)."""
    return work_dir / "cache" / "state" / f"{state_file.name}.verified"


def vouches(mark: Path | None, digest: str) -> bool:
    """Bytes with this SHA-256 passed every check before (a link is never read)."""
    if mark is None:
        return False
    try:
        fd = os.open(mark, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read(_MAX) == _line(digest)
        except OSError:
            return False


def record(mark: Path | None, digest: str) -> None:
    """Mark bytes with this SHA-256 as checked; best effort (nothing is lost without it)."""
    if mark is None:
        return
    with contextlib.suppress(StorageError):
        ensure_folder(mark.parent)
        write_atomic(mark, _line(digest), durable=False)


def _line(digest: str) -> bytes:
    text = f"ipass state checked: format {STATE_FORMAT_VERSION} checks {_CHECKS} sha256 {digest}\n"
    return text.encode("ascii")
