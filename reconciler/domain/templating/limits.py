"""Budgets for one render, and the size estimates and capped containers that enforce them.

Sizes are checked *before* a big value is built: a list can share one big string many times over at
almost no memory cost, so what is expensive is turning it into text, and that is what is estimated.
"""

from __future__ import annotations

import math
import re
from collections.abc import ItemsView, Iterable, Iterator, KeysView, ValuesView
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True)
class RenderLimits:
    """Budgets for one rendered value. Defaults are far above what a wallet card needs."""

    max_output_chars: int = 65_536
    max_sequence_len: int = 10_000
    max_int_bits: int = 256
    deadline_seconds: float = 1.0  # 0 arms no timer; the counting limits still apply


# Concrete types first: isinstance against the ABCs at the end is slow.
_CONTAINERS: Final = (list, tuple, dict, set, frozenset, KeysView, ValuesView, ItemsView)
_PRINTF_FIELD: Final = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?"
    r"(?P<kind>.?)",
    re.DOTALL,
)
_FLOAT_DIGITS: Final = 320  # '%f' of 1e308 prints 309 digits before the point


class Refused(Exception):
    """A limit stopped the render; becomes a located TemplateProblem at the boundary."""


def over(what: str, amount: str, limit: str, value: float) -> Refused:
    return Refused(f"{what} ({amount}) is over the limit {limit}={value}")


def text_over(what: str, limit: int) -> Refused:
    return over(what, f"more than {limit} characters", "max_output_chars", limit)


def not_finite(what: str, value: float) -> Refused:
    return Refused(f"{what} is {value}, not a finite number; AlipayHK takes finite numbers only")


def check_number(value: object, what: str, max_bits: int) -> None:
    """Refuses an int wider than `max_bits` and an infinite or NaN float. Cheap for anything else,
    so every place that can make a number calls it on what it made."""
    if isinstance(value, int):
        bits = value.bit_length()
        if bits > max_bits:
            raise over(what, f"{bits} bits", "max_int_bits", max_bits)
    elif isinstance(value, float) and not math.isfinite(value):
        raise not_finite(what, value)


def text_size(value: object, budget: int) -> int:
    """Upper estimate of `len(str(value))` that stops counting once it passes `budget`.

    Lists can share one big string many times over ([big] * 10000) at almost no memory cost; only
    turning them into text is expensive, so every place that does so asks here first. Each element
    is charged before it is queued, which keeps the queue itself smaller than `budget`.
    """
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return _scalar_size(value)
    total = 0
    pending: list[object] = [value]
    while pending and total <= budget:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item) + 4  # quotes, comma and space of a nested repr
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= budget:
                pending.extend(item.keys())
                pending.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            total += 2 + 2 * len(item)
            if total <= budget:
                pending.extend(item)
        else:
            total += _scalar_size(item)
    return total


def _scalar_size(value: object) -> int:
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    return 26 if isinstance(value, float) else 80  # reprs of floats and objects are short


class OutputBuffer(list[str]):
    """Output of a macro, `{% set %}` block, `{% filter %}` or `{% call %}`, capped as it grows."""

    __slots__ = ("_left", "_limit")

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._left = limit

    def append(self, text: str) -> None:
        self._left -= len(text)
        if self._left < 0:
            raise text_over("block output", self._limit)
        super().append(text)

    def extend(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.append(text)


class BoundedIterator(Iterator[Any]):
    """Wraps the lazy results of filters (`map`, `select`, ...) so materialising them is capped:
    `[big] * 10000 | map('upper') | list` would otherwise build 10000 fresh copies of `big`."""

    __slots__ = ("_items", "_left", "_limit")

    def __init__(self, items: Iterator[Any], limit: int) -> None:
        self._items = items
        self._limit = limit
        self._left = limit

    def __next__(self) -> Any:
        item = next(self._items)
        self._left -= text_size(item, self._left)
        if self._left < 0:
            raise text_over("a filter's results", self._limit)
        return item


PrintfField = tuple[str | None, int, int, int]


def parse_printf(template: str) -> tuple[PrintfField, ...]:
    """(mapping key, width, precision, extra digits) of each `%` field."""
    fields = []
    for field in _PRINTF_FIELD.finditer(template):
        if field["kind"] == "%":
            continue
        if "*" in (field["width"] or "") + (field["precision"] or ""):
            raise Refused("'*' widths in '%' formatting are not allowed in catalog values")
        extra = _FLOAT_DIGITS if field["kind"] in "fF" else 0
        width, precision = int(field["width"] or 0), int(field["precision"] or 0)
        fields.append((field["key"], width, precision, extra))
    return tuple(fields)
