"""The render cache: each catalog file's rendered result, kept in `.ipass/cache/render/<env>/`,
so a run in which a few files changed renders only those.

All results of one environment are in one file, `results.pack` (read at once, written at once):

    ipass render cache 2                        the format (anything else: no record is used)
    <key> <sha256> <result as compact JSON>     one line per catalog file, in catalog order
    ...

`key` is the SHA-256 of everything the result depends on (`domain/render_key.py`), `sha256` that
of the JSON text after it. A record is used only if all of it holds: the line's shape, the digest
of its text, the strict shape of a result (pydantic, strict types) and the key inside it. The
digest is what finds damage (a flipped byte, a truncated file), so the text needs no strict
reader of its own: it is the exact text an ipass of this format wrote. Anything else (damaged,
truncated, of another format or version, filed under another key, a link, not a regular file,
unreadable) is a miss: the file is rendered again and its record rewritten. Never trusted, never
an error; each record is checked only when its key is asked for.

The cache holds only what the catalog renders to (payloads, intents, problems, positions): no
credential reaches rendering. After a run, `save` writes the records that run used, and only
those (so it holds one catalog's worth), atomically but not fsynced (a lost pack is rendered
again); a run that rendered nothing new and used every record writes nothing. It also removes
what older ipass versions kept there (one `<key>.json` per result) and temp files a killed
writer left behind.

The folder and the folders above it up to the project are never links: one that is, or that
cannot be listed, turns the cache off for the run with a warning (the `ipass` logger).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Final

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

import reconciler
from reconciler.adapters.files import ensure_folder, write_atomic
from reconciler.domain.catalog import CatalogEntry, InvalidEntry, LoadedCatalog, StartCheck
from reconciler.domain.problems import Problem
from reconciler.domain.retirement import Retirement
from reconciler.domain.templating import RenderCost
from reconciler.errors import StorageError

log = logging.getLogger("ipass.cache")

FORMAT: Final = 2
PACK: Final = "results.pack"
HEADER: Final = f"ipass render cache {FORMAT}".encode()
# Far above any catalog's results (about 2.5 KB per file): a bigger pack is not read.
MAX_PACK_BYTES: Final = 1 << 30
# A temp file a killed writer left behind is removed once it is this old (seconds).
STALE_TEMP_SECONDS: Final = 3600
_KEY_LENGTH: Final = 64
_BODY_AT: Final = 2 * _KEY_LENGTH + 2  # "<key> <sha256> "
# What ipass kept here before: one file per result (format 1), and temp files of both layouts.
_OLD_ENTRY = re.compile(r"^[0-9a-f]{64}\.json$")
_TEMP = re.compile(r"^\.(?:[0-9a-f]{64}\.json|" + re.escape(PACK) + r")\..+\.tmp$")
_OPEN_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# The code a file's result comes from (files and folders of `reconciler/domain`): reading,
# rendering, checking and locating. Other modules (the plan, the state) do not reach a result.
CATALOG_CODE: Final = (
    "canonical.py",
    "catalog.py",
    "catalog_files.py",
    "catalog_intents.py",
    "catalog_tree.py",
    "contract",
    "payload.py",
    "problems.py",
    "render_key.py",
    "retirement.py",
    "templating",
    "text.py",
    "yamlsafe",
)


@dataclass(frozen=True)
class _Record:
    """A cached result as written: `LoadedCatalog` less what a reusable result never has (a
    budget stop), its render time in whole microseconds."""

    key: str
    file: str
    entries: list[CatalogEntry]
    problems: list[Problem]
    keys: list[tuple[str, str]]
    retired: list[Retirement]
    start_checks: list[StartCheck]
    invalid: list[InvalidEntry]
    loop_iterations: int
    output_chars: int
    render_microseconds: int


@cache
def _records() -> TypeAdapter[_Record]:
    # Built on first use: commands that never load the catalog do not pay for it.
    return TypeAdapter(_Record)


@cache
def code_digest() -> str:
    """What the results depend on besides their inputs: the cache's format, ipass's version and
    the digest of the code that reads, renders and checks the catalog (`CATALOG_CODE`, so a
    development build whose version did not change is not given stale results), and the versions
    of Python and of the libraries doing that work."""
    digest = hashlib.sha256()
    versions = [f"format {FORMAT}", f"ipass {reconciler.__version__}", f"python {sys.version}"]
    # The versions of the modules loaded by then, read from them: `importlib.metadata` costs
    # more than the rest of this together, and only the renderer may import jinja2.
    versions += [f"{name} {_loaded_version(name)}" for name in ("pydantic_core", "jinja2", "yaml")]
    digest.update("\n".join(versions).encode("utf-8"))
    domain = os.path.join(os.path.dirname(reconciler.__file__), "domain")
    for name in _sources(domain, CATALOG_CODE):
        digest.update(f"\n{name}\n".encode())
        with open(os.path.join(domain, name), "rb") as source:
            digest.update(source.read())
    return digest.hexdigest()


def _loaded_version(module: str) -> str:
    return str(getattr(sys.modules.get(module), "__version__", "not loaded"))


def _sources(folder: str, names: Collection[str]) -> list[str]:
    """The Python files among `names` in `folder` and below the folders among them, relative to
    `folder`, sorted (`os.walk`: pathlib's glob costs more than hashing them)."""
    found = [name for name in names if name.endswith(".py")]
    for below in (name for name in names if not name.endswith(".py")):
        for parent, folders, files in os.walk(os.path.join(folder, below)):
            folders[:] = [name for name in folders if name != "__pycache__"]
            relative = os.path.relpath(parent, folder)
            found += [os.path.join(relative, name) for name in files if name.endswith(".py")]
    return sorted(found)


class RenderCache:
    """One environment's cache folder: its pack read once when opened, written once by `save`."""

    def __init__(self, folder: Path, names: set[str], lines: list[bytes]) -> None:
        self.folder = folder
        self._names = names
        self._read = lines  # the pack's record lines as read, in order
        self._lines = {line[:_KEY_LENGTH]: line for line in lines}
        self._kept: dict[str, bytes] = {}  # key -> line, for `save`: checked or new
        self._writable = True
        self.damaged = 0

    @classmethod
    def open(cls, folder: Path, root: Path) -> RenderCache | None:
        """The cache in `folder` (created if missing), or None with a warning when it cannot be
        used: a link or a file standing for it or a folder above it, or a folder not listable."""
        try:
            ensure_folder(folder, below=root)
            with os.scandir(folder) as listing:
                names = {entry.name for entry in listing}
        except (StorageError, OSError) as error:
            log.warning("%s; the render cache is off for this run (every file is rendered)", error)
            return None
        return cls(folder, names, _pack_lines(folder / PACK) if PACK in names else [])

    def get(self, key: str) -> LoadedCatalog | None:
        """The result stored under `key`, or None (absent, or not exactly what ipass wrote)."""
        line = self._lines.get(key.encode("ascii"))
        if line is None:
            return None
        record = _checked(key, line)
        if record is None:
            self.damaged += 1
            return None
        self._kept[key] = line
        return LoadedCatalog(
            entries=record.entries,
            problems=record.problems,
            keys=record.keys,
            retired=record.retired,
            file=record.file,
            cost=RenderCost(
                record.loop_iterations,
                record.output_chars,
                record.render_microseconds / 1_000_000,
            ),
            start_checks=record.start_checks,
            invalid=record.invalid,
        )

    def put(self, key: str, result: LoadedCatalog) -> None:
        """Keep `result` under `key` for `save` (a result that does not encode is not kept)."""
        record = _Record(
            key=key,
            file=result.file,
            entries=result.entries,
            problems=result.problems,
            keys=result.keys,
            retired=result.retired,
            start_checks=result.start_checks,
            invalid=result.invalid,
            loop_iterations=result.cost.loop_iterations,
            output_chars=result.cost.output_chars,
            render_microseconds=round(result.cost.render_seconds * 1_000_000),
        )
        try:
            body = _records().dump_json(record)
        except (PydanticSerializationError, ValueError):  # e.g. half a surrogate pair
            return
        self._kept[key] = b"%s %s %s" % (key.encode("ascii"), _sha256(body), body)

    def save(self, used: Collection[str]) -> None:
        """Write the records of `used` (keys, in that order) that were read intact or put, and
        only those; remove what older versions and killed writers left. A refused write turns
        the cache off for the rest of the run with one warning."""
        lines = [self._kept[key] for key in dict.fromkeys(used) if key in self._kept]
        self._remove_leftovers()
        if lines == self._read or not self._writable:
            return  # every record was used as it stands: nothing to write
        data = b"\n".join([HEADER, *lines, b""])
        try:
            write_atomic(self.folder / PACK, data, mode=0o600, durable=False)
        except StorageError as error:
            self._writable = False
            log.warning("%s; the render cache is not updated in this run", error)
            return
        self._read = lines

    def _remove_leftovers(self) -> None:
        stale_before = time.time() - STALE_TEMP_SECONDS
        for name in self._names:
            path = self.folder / name
            if _TEMP.match(name):
                with contextlib.suppress(OSError):
                    if os.lstat(path).st_mtime >= stale_before:
                        continue  # another run may be writing it now
            elif not _OLD_ENTRY.match(name):
                continue  # not ours: left alone
            with contextlib.suppress(OSError):
                path.unlink()
        self._names = set()


def _checked(key: str, line: bytes) -> _Record | None:
    """The record on `line` if the line is exactly what ipass wrote for `key`."""
    body = line[_BODY_AT:]
    if (
        line[_KEY_LENGTH : _KEY_LENGTH + 1] != b" "
        or line[_BODY_AT - 1 : _BODY_AT] != b" "
        or line[_KEY_LENGTH + 1 : _BODY_AT - 1] != _sha256(body)
    ):
        return None
    try:
        record = _records().validate_json(body, strict=True)
    except ValidationError:
        return None
    return record if record.key == key else None


def _pack_lines(path: Path) -> list[bytes]:
    """The record lines of the pack at `path`; none if it is unreadable or of another format."""
    try:
        data = _read_regular(path)
    except OSError:
        return []
    lines = data.split(b"\n")
    if lines[0] != HEADER:
        return []
    if lines[-1] == b"":  # the newline that ends the last line
        lines.pop()
    return lines[1:]


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file opened without following a link, at most MAX_PACK_BYTES."""
    descriptor = os.open(path, _OPEN_FLAGS)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_PACK_BYTES:
            raise OSError(f"{path}: not a cache pack")
        chunks = []
        total = 0
        while chunk := os.read(descriptor, max(status.st_size + 1 - total, 1 << 16)):
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_PACK_BYTES:
                raise OSError(f"{path}: not a cache pack")
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode("ascii")
