"""The render cache: each catalog file's rendered result, kept in `.ipass/cache/<env>/` so a run
in which a few files changed renders only those.

One file per result, named by its key (`domain/render_key.py`: the SHA-256 of everything the
result depends on) plus `.json`. Its first line is a header, `{"format":..,"key":..,"sha256":..}`,
the rest the result as JSON; the header's `sha256` covers exactly those bytes. A result is used
only if all of it holds: the name, the header's key and format, the digest of the body, the
strict JSON reader (`jsonsafe.check_strict`) and the strict shape of a result (pydantic). Anything
else (damaged, truncated, edited, of another version, a link, not a regular file, unreadable) is
a miss: the file is rendered again and the entry rewritten. Never trusted, never an error.

The cache holds only what the catalog renders to (payloads, intents, problems, positions): no
credential reaches rendering. Entries are written atomically but not fsynced (a lost entry is
rendered again). `prune` removes, after a run, every entry that run did not use, so the folder
holds one catalog's worth of entries at most.

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

import reconciler
from reconciler.adapters.files import ensure_folder, write_atomic
from reconciler.domain.catalog import CatalogEntry, InvalidEntry, LoadedCatalog, StartCheck
from reconciler.domain.jsonsafe import StrictJsonError, check_strict
from reconciler.domain.problems import Problem
from reconciler.domain.retirement import Retirement
from reconciler.domain.templating import RenderCost
from reconciler.errors import StorageError

log = logging.getLogger("ipass.cache")

FORMAT: Final = 1
SUFFIX: Final = ".json"
# Far above any result (a template file is at most 1 MiB): a bigger file is not read.
MAX_ENTRY_BYTES: Final = 16 * 1024 * 1024
# A temp file a killed writer left behind is removed once it is this old (seconds).
STALE_TEMP_SECONDS: Final = 3600
_ENTRY = re.compile(r"^[0-9a-f]{64}\.json$")
_TEMP = re.compile(r"^\.[0-9a-f]{64}\.json\..+\.tmp$")
_OPEN_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# The code a file's result comes from (files and folders of `reconciler/domain`): reading,
# rendering, checking and locating. Other modules (the plan, the state) do not reach a result.
CATALOG_CODE: Final = (
    "canonical.py",
    "catalog.py",
    "catalog_files.py",
    "catalog_intents.py",
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
    budget stop), its cost in whole units (the strict reader takes no fractions)."""

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
    """One environment's cache folder, listed once when opened."""

    def __init__(self, folder: Path, names: set[str]) -> None:
        self.folder = folder
        self._names = names
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
        return cls(folder, names)

    def get(self, key: str) -> LoadedCatalog | None:
        """The result stored under `key`, or None (absent, or not exactly what ipass wrote)."""
        name = key + SUFFIX
        if name not in self._names:
            return None
        record = self._read(name)
        if record is None or record.key != key:
            self.damaged += 1
            return None
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
        """Store `result` under `key`; a refused write turns writing off with one warning."""
        if not self._writable:
            return
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
        body = _records().dump_json(record)
        header = f'{{"format":{FORMAT},"key":"{key}","sha256":"{_sha256(body)}"}}\n'
        try:
            write_atomic(
                self.folder / (key + SUFFIX), header.encode() + body, mode=0o600, durable=False
            )
        except StorageError as error:
            self._writable = False
            log.warning("%s; the render cache is not updated in this run", error)
            return
        self._names.add(key + SUFFIX)

    def prune(self, used: Collection[str]) -> None:
        """Remove every entry not in `used` (keys), and temp files left by killed writers."""
        keep = {key + SUFFIX for key in used}
        stale_before = time.time() - STALE_TEMP_SECONDS
        for name in self._names - keep:
            path = self.folder / name
            if _TEMP.match(name):
                with contextlib.suppress(OSError):
                    if os.lstat(path).st_mtime >= stale_before:
                        continue
            elif not _ENTRY.match(name):
                continue  # not ours: left alone
            with contextlib.suppress(OSError):
                path.unlink()

    def _read(self, name: str) -> _Record | None:
        try:
            data = _read_regular(self.folder / name)
        except OSError:
            return None
        header, newline, body = data.partition(b"\n")
        if not newline:
            return None
        expected = (
            f'{{"format":{FORMAT},"key":"{name[: -len(SUFFIX)]}","sha256":"{_sha256(body)}"}}'
        )
        if header != expected.encode():
            return None
        try:
            text = body.decode("utf-8")
            check_strict(text)
            return _records().validate_json(text, strict=True)
        except (UnicodeDecodeError, StrictJsonError, ValidationError):
            return None


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file opened without following a link, at most MAX_ENTRY_BYTES."""
    descriptor = os.open(path, _OPEN_FLAGS)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_ENTRY_BYTES:
            raise OSError(f"{path}: not a cache entry")
        chunks = []
        while chunk := os.read(descriptor, max(status.st_size + 1, 1 << 16)):
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_ENTRY_BYTES:
                raise OSError(f"{path}: not a cache entry")
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
