"""Canonical JSON: the exact bytes sent to AlipayHK, hashed to decide "modified"."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

import orjson

from reconciler.domain.contract.limits import has_unsendable_number, unsendable_numbers
from reconciler.domain.problems import format_field_path
from reconciler.errors import InvalidInput

# Sorted keys, compact, UTF-8 unescaped: byte for byte the standard library's form below on the
# data `_encodes_alike` admits; `STRICT_INTEGER` refuses whole numbers beyond 53 bits, which the
# standard library then encodes.
_ORJSON_CANONICAL: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_ALIKE_SCALARS: Final = frozenset({str, int, bool, type(None)})


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, UTF-8 unescaped: the same data always gives the same bytes.

    The last guard on numbers: an integer beyond a Java long, inf or NaN is refused with its path
    (InvalidInput) instead of being sent, or crashing. Earlier checks should have caught it.

    Encoded by orjson where its bytes are the standard library's (`_encodes_alike`; tests compare
    the two on hostile data), else by the standard library: a fraction, a whole number beyond 53
    bits, half a surrogate pair, a key that is not text, anything but plain JSON data.
    """
    if _encodes_alike(value):
        try:
            return orjson.dumps(value, option=_ORJSON_CANONICAL)
        except orjson.JSONEncodeError:
            pass  # the standard library says what is wrong, or encodes it
    return standard_canonical_json(value)


def standard_canonical_json(value: object) -> bytes:
    """`canonical_json` by the standard library alone (its definition)."""
    if has_unsendable_number(value):  # one pass over the body: cheaper than a regex on the text
        _refuse_numbers(value)
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _encodes_alike(value: object) -> bool:
    """True if `value` is plain dicts, lists, text, whole numbers, booleans and nulls only: no
    fraction (orjson and the standard library print some differently; inf and NaN are refused),
    no subclass or other type (orjson writes some that the standard library refuses)."""
    pending: list[Any] = [value]  # plain data: read by exact type, not by annotation
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind not in _ALIKE_SCALARS:
            return False
    return True


def _refuse_numbers(value: object) -> None:
    for path, message in unsendable_numbers(value):
        where = format_field_path(path) or "the body"
        raise InvalidInput(
            f"{where}: {message}",
            hint="nothing was sent with this value; `ipass validate` shows where it comes from",
        )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
