"""Plain data: what a catalog value may render to, and the copy that refuses anything else."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from jinja2.runtime import Undefined

from reconciler.domain.templating.limits import Refused, not_finite

PlainData = None | bool | int | float | str | list["PlainData"] | dict[str, "PlainData"]


def plain(value: Any) -> PlainData:
    """Copies an expression's result into plain lists and dicts, refusing anything else."""
    if value is None or isinstance(value, bool):
        return value
    if type(value) is int:  # exact types: an IntEnum or a subclass is not plain data
        return int(value)
    if type(value) is float:
        if not math.isfinite(value):
            raise not_finite("expression", value)  # a last guard: none should get here
        return float(value)
    if isinstance(value, str):
        return str(value)  # a Markup becomes a plain str
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain_key(key): plain(item) for key, item in value.items()}
    if isinstance(value, Undefined):
        str(value)  # raises the undefined error
    raise not_plain(value, "expression")


def not_plain(value: object, what: str) -> Refused:
    kind = "generator (add |list)" if isinstance(value, Iterator) else type(value).__name__
    return Refused(f"{what} gave a {kind}, which is not plain data")


def _plain_key(key: Any) -> str:
    if not isinstance(key, str):
        kind = type(key).__name__
        raise Refused(f"expression gave a dict key of type {kind}; keys must be text")
    return str(key)
