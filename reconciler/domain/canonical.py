"""Canonical JSON: the exact bytes sent to AlipayHK, hashed to decide "modified"."""

from __future__ import annotations

import hashlib
import json

from reconciler.domain.contract.limits import has_unsendable_number, unsendable_numbers
from reconciler.domain.problems import format_field_path
from reconciler.errors import InvalidInput


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8 unescaped: the same data always gives the same bytes.

    The last guard on numbers: an integer beyond a Java long, inf or NaN is refused with its path
    (InvalidInput) instead of being sent, or crashing. Earlier checks should have caught it.
    """
    if has_unsendable_number(value):  # one pass over the body: cheaper than a regex on the text
        _refuse_numbers(value)
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _refuse_numbers(value: object) -> None:
    for path, message in unsendable_numbers(value):
        where = format_field_path(path) or "the body"
        raise InvalidInput(
            f"{where}: {message}",
            hint="nothing was sent with this value; `ipass validate` shows where it comes from",
        )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
