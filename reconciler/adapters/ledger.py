"""The pass ledger: one SQLite file per environment and campaign (and shard), the journal of
createPass.

A row is written `pending`, with its bizSerialId and the SHA-256 of its body, and committed
(WAL, synchronous=FULL: fsynced) before its request leaves; its outcome is committed after. It
holds personal data (user ids): mode 0600, under the git-ignored `.ipass/`.

Also here: `SerialSet`, an on-disk set of bizSerialIds (duplicates within an input file without
holding the file in memory), and `ReportWriter`, a text file written whole or not at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self, cast

from reconciler.adapters.files import ensure_folder, fsync_dir
from reconciler.errors import ConflictError, StorageError

FORMAT_VERSION: Final = "1"
Status = Literal["pending", "created", "exists", "rejected", "unknown", "not_sent"]
STATUSES: Final[tuple[Status, ...]] = (
    "pending",
    "created",
    "exists",
    "rejected",
    "unknown",
    "not_sent",
)
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS passes (
  biz_serial_id TEXT PRIMARY KEY,
  row_number INTEGER NOT NULL,
  body_sha256 TEXT NOT NULL,
  user_ref TEXT NOT NULL,
  status TEXT NOT NULL,
  pass_id TEXT,
  result_code TEXT,
  detail TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
) WITHOUT ROWID;
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LedgerRow:
    biz_serial_id: str
    row_number: int
    body_sha256: str
    user_ref: str
    status: Status
    pass_id: str | None
    result_code: str | None
    detail: str | None
    attempts: int


@dataclass(frozen=True)
class Intent:
    """A request about to leave: written `pending` first."""

    biz_serial_id: str
    row_number: int
    body_sha256: str
    user_ref: str


@dataclass(frozen=True)
class Outcome:
    biz_serial_id: str
    status: Status
    pass_id: str | None = None
    result_code: str | None = None
    detail: str | None = None


class Ledger:
    """One writer at a time (an OS lock that dies with the process); reads need no lock."""

    def __init__(self, path: Path, connection: sqlite3.Connection, lock_fd: int | None) -> None:
        self.path = path
        self._db = connection
        self._lock_fd = lock_fd

    @classmethod
    def open(cls, path: Path, *, write: bool) -> Self:
        """Open (with `write`: create, and take the one-writer lock) the ledger at `path`."""
        lock_fd = None
        if write:
            ensure_folder(path.parent)
            lock_fd = _lock(path)
        elif not path.exists():
            raise FileNotFoundError(path)
        try:
            ledger = cls(path, _connect(path, write=write), lock_fd)
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        version = ledger.meta("format_version")
        if version != FORMAT_VERSION:
            ledger.close()
            raise ConflictError(f"{path}: ledger format {version!r} is not one this ipass reads")
        return ledger

    def meta(self, key: str) -> str | None:
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else str(found[0])

    def settle_meta(self, key: str, value: str) -> str:
        """The recorded value for `key`, recording `value` first if there is none."""
        self._db.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
        recorded = self.meta(key)
        return value if recorded is None else recorded

    def lookup(self, biz_serial_id: str) -> LedgerRow | None:
        found = self._db.execute(
            "SELECT * FROM passes WHERE biz_serial_id = ?", (biz_serial_id,)
        ).fetchone()
        return None if found is None else _row(found)

    def begin(self, intents: Sequence[Intent]) -> None:
        """Record `intents` as pending, durably, in one transaction (before any is sent)."""
        now = _now()
        self._write(
            """INSERT INTO passes (biz_serial_id, row_number, body_sha256, user_ref, status,
                 attempts, updated_at) VALUES (?, ?, ?, ?, 'pending', 1, ?)
               ON CONFLICT (biz_serial_id) DO UPDATE SET row_number = excluded.row_number,
                 body_sha256 = excluded.body_sha256, user_ref = excluded.user_ref,
                 status = 'pending', pass_id = NULL, result_code = NULL, detail = NULL,
                 attempts = passes.attempts + 1, updated_at = excluded.updated_at""",
            [(i.biz_serial_id, i.row_number, i.body_sha256, i.user_ref, now) for i in intents],
        )

    def record(self, outcomes: Sequence[Outcome]) -> None:
        now = _now()
        self._write(
            """UPDATE passes SET status = ?, pass_id = ?, result_code = ?, detail = ?,
                 updated_at = ? WHERE biz_serial_id = ?""",
            [
                (o.status, o.pass_id, o.result_code, o.detail, now, o.biz_serial_id)
                for o in outcomes
            ],
        )

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(sql, rows)
            self._db.execute("COMMIT")
        except sqlite3.Error as error:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise StorageError(
                f"{self.path}: cannot write the ledger: {error}",
                hint="free disk space or fix permissions; rows not recorded were not sent",
            ) from None

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for status, count in self._db.execute(
            "SELECT status, COUNT(*) FROM passes GROUP BY status"
        ):
            found[str(status)] = int(count)
        return found

    def rows(self) -> Iterator[LedgerRow]:
        cursor = self._db.execute("SELECT * FROM passes ORDER BY row_number, biz_serial_id")
        for found in cursor:
            yield _row(found)

    def close(self) -> None:
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _connect(path: Path, *, write: bool) -> sqlite3.Connection:
    try:
        if write and not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            os.close(fd)
            fsync_dir(path.parent)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        if not write:
            db.execute("PRAGMA query_only=ON")
        else:
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('format_version', ?)", (FORMAT_VERSION,))
    except sqlite3.Error as error:
        raise StorageError(f"{path}: cannot open the ledger: {error}") from None
    return db


def _row(found: tuple[object, ...]) -> LedgerRow:
    serial, number, digest, user, status, pass_id, code, detail, attempts, _ = found
    return LedgerRow(
        str(serial),
        int(str(number)),
        str(digest),
        str(user),
        cast(Status, str(status)),  # written only from STATUSES by this module
        None if pass_id is None else str(pass_id),
        None if code is None else str(code),
        None if detail is None else str(detail),
        int(str(attempts)),
    )


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConflictError(
            f"{path}: another ipass is issuing this campaign's passes",
            hint="wait for it to finish; the lock dies with its process",
        ) from None
    return fd


class SerialSet:
    """bizSerialIds seen so far, on disk (an input of millions of rows stays out of memory)."""

    def __init__(self, folder: Path) -> None:
        ensure_folder(folder)
        fd, name = tempfile.mkstemp(prefix=".serials-", suffix=".sqlite3", dir=folder)
        os.close(fd)
        self._path = Path(name)
        self._db = sqlite3.connect(name, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (serial TEXT PRIMARY KEY, row INTEGER) WITHOUT ROWID")
        self._db.execute("BEGIN")

    def first_row(self, serial: str, row: int) -> int | None:
        """None the first time `serial` is seen; afterwards the row that had it first."""
        found = self._db.execute("SELECT row FROM seen WHERE serial = ?", (serial,)).fetchone()
        if found is not None:
            return int(found[0])
        self._db.execute("INSERT INTO seen VALUES (?, ?)", (serial, row))
        return None

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")
        self._db.close()
        self._path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ReportWriter:
    """Lines written to a temporary file, renamed into place on `commit` (mode 0600)."""

    def __init__(self, path: Path) -> None:
        ensure_folder(path.parent)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        self.path = path
        self._temp = Path(name)
        self._handle = os.fdopen(fd, "w", encoding="utf-8", newline="")

    def write(self, text: str) -> None:
        self._handle.write(text)

    def commit(self) -> Path:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self._temp, self.path)
        fsync_dir(self.path.parent)
        return self.path

    def discard(self) -> None:
        if not self._handle.closed:
            self._handle.close()
        self._temp.unlink(missing_ok=True)


def ledger_files(folder: Path, campaign: str) -> list[Path]:
    """Every ledger of a campaign in an environment's folder: the unsharded one and each shard."""
    if not folder.is_dir():
        return []
    names = [f"{campaign}.sqlite3"]
    found = [folder / name for name in names if (folder / name).is_file()]
    found += sorted(folder.glob(f"{campaign}.shard-*-of-*.sqlite3"))
    return found
