"""Files that matter are replaced atomically: temp file in the same folder, fsync, rename, fsync."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _temp_prefix(name: str) -> str:
    return f".{name}."


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` so a reader sees the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable: the folder's entry must reach the disk too."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: Path, names: tuple[str, ...]) -> None:
    """Delete temp files a killed writer of these files left behind (call holding their lock)."""
    for name in names:
        for leftover in folder.glob(f"{_temp_prefix(name)}*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
