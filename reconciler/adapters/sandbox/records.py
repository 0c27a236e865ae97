"""Rows of the sandbox's store, as the rest of the sandbox and its command line see them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientKey:
    """A public key registered for a Client-Id under one keyVersion."""

    client_id: str
    key_version: int
    public_key_pem: bytes
    merchant_id: str | None


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    merchant_id: str | None
    key_versions: tuple[int, ...]
    created_at: str


@dataclass(frozen=True)
class UserRecord:
    user_id: str
    open_id: str | None


@dataclass(frozen=True)
class TemplateRecord:
    template_code: str
    merchant_id: str
    request_id: str
    client_id: str
    type: str
    product: str
    status: str
    body_sha256: str
    body: str
    created_at: str


@dataclass(frozen=True)
class PassRecord:
    pass_id: str
    merchant_id: str
    biz_serial_id: str
    template_code: str
    user_id: str
    client_id: str
    type: str
    product: str
    body: str
    created_at: str


@dataclass(frozen=True)
class RequestLogEntry:
    """A request-log row before it is written (the id is assigned by the database)."""

    received_at: str
    remote_addr: str
    method: str
    path: str
    client_id: str | None
    idempotency_key: str | None
    result_code: str | None
    http_status: int
    faults: str
    elapsed_ms: float


@dataclass(frozen=True)
class RequestRecord(RequestLogEntry):
    """One row of the request log as stored: the entry plus the id the database gave it."""

    id: int


@dataclass(frozen=True)
class ExistingTemplate:
    template_code: str
    status: str
    body_sha256: str


@dataclass(frozen=True)
class TemplateKind:
    type: str
    product: str
