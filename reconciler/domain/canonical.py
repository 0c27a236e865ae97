"""Canonical JSON: the exact bytes sent to AlipayHK, hashed to decide "modified"."""

from __future__ import annotations

import hashlib
import json


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8 unescaped: the same data always gives the same bytes."""
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
