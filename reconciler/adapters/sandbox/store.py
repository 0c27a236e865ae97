"""The sandbox's durable data: one SQLite file (WAL) per data folder.

One connection per store, guarded by a lock: SQLite serialises writers anyway, and the werkzeug
server runs every request on a fresh thread, so per-thread connections would mean one connection
per request. Every create runs in a `BEGIN IMMEDIATE` transaction together with its request-log
row, and uniqueness is also enforced by the schema, so concurrent requests can neither lose nor
duplicate a row. Other processes (the `ipass sandbox templates` listing, `register-client`) open
their own store on the same file; WAL lets them read while the server writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from reconciler.adapters.sandbox import ids, sql
from reconciler.adapters.sandbox.errors import SandboxDataError
from reconciler.adapters.sandbox.records import (
    ClientKey,
    ClientRecord,
    ExistingTemplate,
    PassRecord,
    RequestLogEntry,
    RequestRecord,
    TemplateKind,
    TemplateRecord,
    UserRecord,
)

SCHEMA_VERSION: Final = 1
SEEDED_USERS: Final = 1000
_BUSY_TIMEOUT_MS: Final = 10_000


class Transaction:
    """The reads and writes of one request, inside one `BEGIN IMMEDIATE` transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._db = connection

    def template_by_request(self, merchant_id: str, request_id: str) -> ExistingTemplate | None:
        row = self._db.execute(sql.SELECT_TEMPLATE_BY_REQUEST, (merchant_id, request_id)).fetchone()
        return None if row is None else ExistingTemplate(row[0], row[1], row[2])

    def template_kind(self, template_code: str, merchant_id: str) -> TemplateKind | None:
        row = self._db.execute(sql.SELECT_TEMPLATE, (template_code, merchant_id)).fetchone()
        return None if row is None else TemplateKind(row[0], row[1])

    def insert_template(
        self,
        *,
        merchant_id: str,
        request_id: str,
        client_id: str,
        type: str,
        product: str,
        status: str,
        body_sha256: str,
        body: str,
        at_ms: int,
    ) -> str:
        sequence = self._next_id("templates")
        code = ids.template_code(sequence, at_ms=at_ms)
        self._db.execute(
            sql.INSERT_TEMPLATE,
            (
                sequence,
                code,
                merchant_id,
                request_id,
                client_id,
                type,
                product,
                status,
                body_sha256,
                body,
                _timestamp(at_ms),
            ),
        )
        return code

    def user(self, *, user_id: str | None, open_id: str | None) -> UserRecord | None:
        """The user named by `userId` and/or `openId`; both must name the same user."""
        found: UserRecord | None = None
        for query, value in (
            (sql.SELECT_USER_BY_ID, user_id),
            (sql.SELECT_USER_BY_OPEN_ID, open_id),
        ):
            if value is None:
                continue
            row = self._db.execute(query, (value,)).fetchone()
            if row is None or (found is not None and found.user_id != row[0]):
                return None
            found = UserRecord(row[0], row[1])
        return found

    def pass_exists(self, merchant_id: str, biz_serial_id: str) -> bool:
        row = self._db.execute(sql.SELECT_ISSUED_BY_SERIAL, (merchant_id, biz_serial_id)).fetchone()
        return row is not None

    def insert_pass(
        self,
        *,
        merchant_id: str,
        biz_serial_id: str,
        template_code: str,
        user_id: str,
        client_id: str,
        type: str,
        product: str,
        body: str,
        at_ms: int,
    ) -> str:
        sequence = self._next_id("passes")
        pass_id = ids.pass_id(sequence, at_ms=at_ms)
        self._db.execute(
            sql.INSERT_ISSUED,
            (
                sequence,
                pass_id,
                merchant_id,
                biz_serial_id,
                template_code,
                user_id,
                client_id,
                type,
                product,
                body,
                _timestamp(at_ms),
            ),
        )
        return pass_id

    def log_request(self, entry: RequestLogEntry) -> None:
        self._db.execute(
            sql.INSERT_REQUEST,
            (
                entry.received_at,
                entry.remote_addr,
                entry.method,
                entry.path,
                entry.client_id,
                entry.idempotency_key,
                entry.result_code,
                entry.http_status,
                entry.faults,
                entry.elapsed_ms,
            ),
        )

    def _next_id(self, table: str) -> int:
        # Safe under BEGIN IMMEDIATE: no other writer can insert until this transaction ends.
        row = self._db.execute(sql.NEXT_ID[table]).fetchone()
        return int(row[0])


class SandboxStore:
    """Templates, passes, clients and their keys, users and the request log of one sandbox."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self._lock = threading.RLock()
        self.path = path

    @classmethod
    def open(cls, path: Path, *, seed_users: int = SEEDED_USERS) -> SandboxStore:
        """Open (creating if needed) the database at `path`; seeds users on first creation."""
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_MS / 1000
            )
        except sqlite3.Error as error:
            raise SandboxDataError(
                f"{path}: cannot open the sandbox database: {error}",
                hint="check that the data folder exists and is writable",
            ) from error
        store = cls(connection, path)
        try:
            store._initialise(seed_users)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise SandboxDataError(
                f"{path}: not a usable sandbox database: {error}",
                hint="point --data at another folder, or move the file away to start afresh",
            ) from error
        except BaseException:
            connection.close()
            raise
        return store

    def _initialise(self, seed_users: int) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (what the fault tests simulate); only a
        # power cut can lose the last commits.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        with self._transaction():
            for statement in sql.SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                self._seed_users(seed_users)
            elif int(row[0]) > SCHEMA_VERSION:
                raise SandboxDataError(
                    f"{self.path}: written by a newer ipass (schema {row[0]}, "
                    f"this one reads up to {SCHEMA_VERSION})",
                    hint="upgrade ipass, or use another --data folder",
                )

    def _seed_users(self, count: int) -> None:
        created = _timestamp(ids.now_ms())
        self._db.executemany(
            "INSERT INTO users (user_id, open_id, created_at) VALUES (?, ?, ?)",
            ((ids.seeded_user_id(i), ids.seeded_open_id(i), created) for i in range(count)),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One atomic unit of work: everything inside commits together or not at all."""
        with self._transaction() as db:
            yield Transaction(db)

    def log_request(self, entry: RequestLogEntry) -> None:
        with self.transaction() as tx:
            tx.log_request(entry)

    # Clients and users.

    def register_client(
        self,
        client_id: str,
        public_key_pem: bytes,
        *,
        key_version: int,
        merchant_id: str | None,
    ) -> None:
        """Add a client, or a key version to it; re-registering a version replaces its key."""
        now = _timestamp(ids.now_ms())
        with self._transaction() as db:
            db.execute(
                "INSERT INTO clients (client_id, merchant_id, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (client_id) DO UPDATE SET "
                "merchant_id = COALESCE(excluded.merchant_id, clients.merchant_id)",
                (client_id, merchant_id, now),
            )
            db.execute(
                "INSERT INTO client_keys (client_id, key_version, public_key_pem, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (client_id, key_version) DO UPDATE SET "
                "public_key_pem = excluded.public_key_pem, created_at = excluded.created_at",
                (client_id, key_version, public_key_pem.decode("ascii"), now),
            )

    def client_key(self, client_id: str, key_version: int | None) -> ClientKey | None:
        """The key of `client_id` at `key_version`, or its latest key when the version is None."""
        with self._lock:
            if key_version is None:
                row = self._db.execute(sql.SELECT_LATEST_KEY, (client_id,)).fetchone()
            else:
                row = self._db.execute(sql.SELECT_KEY, (client_id, key_version)).fetchone()
        if row is None:
            return None
        return ClientKey(client_id, int(row[0]), str(row[1]).encode("ascii"), row[2])

    def client_exists(self, client_id: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM clients WHERE client_id = ?", (client_id,)
            ).fetchone()
        return row is not None

    def clients(self) -> list[ClientRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT c.client_id, c.merchant_id, c.created_at, "
                "group_concat(k.key_version) FROM clients c "
                "LEFT JOIN client_keys k USING (client_id) GROUP BY c.client_id "
                "ORDER BY c.client_id"
            ).fetchall()
        return [
            ClientRecord(
                client_id=row[0],
                merchant_id=row[1],
                key_versions=tuple(sorted(int(v) for v in (row[3] or "").split(",") if v)),
                created_at=row[2],
            )
            for row in rows
        ]

    def add_user(self, user_id: str, *, open_id: str | None = None) -> bool:
        """Add a user; False if that user id already exists (open ids must be unique)."""
        with self._transaction() as db:
            if db.execute(sql.SELECT_USER_BY_ID, (user_id,)).fetchone() is not None:
                return False
            if open_id is not None and (
                db.execute(sql.SELECT_USER_BY_OPEN_ID, (open_id,)).fetchone() is not None
            ):
                raise SandboxDataError(
                    f"openId {open_id!r} already belongs to another user",
                    hint="choose another --open-id",
                )
            db.execute(
                "INSERT INTO users (user_id, open_id, created_at) VALUES (?, ?, ?)",
                (user_id, open_id, _timestamp(ids.now_ms())),
            )
        return True

    def user_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0])

    # Listings.

    def templates(self) -> list[TemplateRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT template_code, merchant_id, request_id, client_id, type, product, "
                "status, body_sha256, body, created_at FROM templates ORDER BY id"
            ).fetchall()
        return [TemplateRecord(*row) for row in rows]

    def passes(self) -> list[PassRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT pass_id, merchant_id, biz_serial_id, template_code, user_id, client_id, "
                "type, product, body, created_at FROM passes ORDER BY id"
            ).fetchall()
        return [PassRecord(*row) for row in rows]

    def requests(self, *, last: int | None = None) -> list[RequestRecord]:
        """The request log in arrival order; `last` keeps only the newest rows."""
        with self._lock:
            if last is None:
                rows = self._db.execute(
                    "SELECT received_at, remote_addr, method, path, client_id, "
                    "idempotency_key, result_code, http_status, faults, elapsed_ms, id "
                    "FROM requests ORDER BY id"
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT * FROM (SELECT received_at, remote_addr, method, path, "
                    "client_id, idempotency_key, result_code, http_status, faults, elapsed_ms, "
                    "id FROM requests ORDER BY id DESC LIMIT ?) ORDER BY id",
                    (last,),
                ).fetchall()
        return [RequestRecord(*row) for row in rows]


def _timestamp(at_ms: int) -> str:
    return ids.iso_timestamp(at_ms)
