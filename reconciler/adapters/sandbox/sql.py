"""The sandbox's SQLite schema and statements, kept as constant text so the sqlite3 module's
statement cache keeps each one prepared."""

from __future__ import annotations

from typing import Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    merchant_id TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS client_keys (
    client_id TEXT NOT NULL REFERENCES clients (client_id),
    key_version INTEGER NOT NULL,
    public_key_pem TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (client_id, key_version)
);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY,
    open_id TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS templates (
    id INTEGER PRIMARY KEY,
    template_code TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    type TEXT NOT NULL,
    product TEXT NOT NULL,
    status TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (merchant_id, request_id)
);
CREATE TABLE IF NOT EXISTS passes (
    id INTEGER PRIMARY KEY,
    pass_id TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    biz_serial_id TEXT NOT NULL,
    template_code TEXT NOT NULL REFERENCES templates (template_code),
    user_id TEXT NOT NULL REFERENCES users (user_id),
    client_id TEXT NOT NULL,
    type TEXT NOT NULL,
    product TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (merchant_id, biz_serial_id)
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    client_id TEXT,
    idempotency_key TEXT,
    result_code TEXT,
    http_status INTEGER NOT NULL,
    faults TEXT NOT NULL,
    elapsed_ms REAL NOT NULL
);
"""

# Constant SQL text: the sqlite3 module keeps these prepared in its statement cache.
SELECT_KEY: Final = (
    "SELECT k.key_version, k.public_key_pem, c.merchant_id FROM client_keys k "
    "JOIN clients c USING (client_id) WHERE k.client_id = ? AND k.key_version = ?"
)
SELECT_LATEST_KEY: Final = (
    "SELECT k.key_version, k.public_key_pem, c.merchant_id FROM client_keys k "
    "JOIN clients c USING (client_id) WHERE k.client_id = ? ORDER BY k.key_version DESC LIMIT 1"
)
SELECT_TEMPLATE_BY_REQUEST: Final = (
    "SELECT template_code, status, body_sha256 FROM templates "
    "WHERE merchant_id = ? AND request_id = ?"
)
SELECT_TEMPLATE: Final = (
    "SELECT type, product FROM templates WHERE template_code = ? AND merchant_id = ?"
)
INSERT_TEMPLATE: Final = (
    "INSERT INTO templates (id, template_code, merchant_id, request_id, client_id, type, "
    "product, status, body_sha256, body, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_USER_BY_ID: Final = "SELECT user_id, open_id FROM users WHERE user_id = ?"
SELECT_USER_BY_OPEN_ID: Final = "SELECT user_id, open_id FROM users WHERE open_id = ?"
SELECT_ISSUED_BY_SERIAL: Final = (
    "SELECT pass_id FROM passes WHERE merchant_id = ? AND biz_serial_id = ?"
)
INSERT_ISSUED: Final = (
    "INSERT INTO passes (id, pass_id, merchant_id, biz_serial_id, template_code, user_id, "
    "client_id, type, product, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_REQUEST: Final = (
    "INSERT INTO requests (received_at, remote_addr, method, path, client_id, idempotency_key, "
    "result_code, http_status, faults, elapsed_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

NEXT_ID: Final = {
    table: f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}"  # noqa: S608 -- fixed table names
    for table in ("templates", "passes")
}
