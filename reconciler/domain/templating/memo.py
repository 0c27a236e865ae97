"""Calls of catalog macros, remembered: `money(2800)` gives the same text in every entry.

A realistic catalog calls `money()` a few times in each of thousands of descriptions, mostly with
the same few prices, and a call costs more than the rest of rendering a value. A macro from
`catalog/macros/` is a pure function of its arguments: it sees only them, the globals and the
other macros (never the caller's context), nothing in the sandbox can change any of these, and
no filter or global depends on the time or on chance. So the text a call gave is the text it
gives again, given the same arguments.

Only calls worth remembering are: every argument a str, an int, a bool or None (by type and
value, so `1`, `1.0` and `True` never share an answer), no `caller` (a `{% call %}` block passes
one), short arguments and a short text. A call that fails is not remembered: it fails again.
What the call charged to the catalog's loop budget is charged again each time it is answered
from memory, so the budget counts the same work as before.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from jinja2.runtime import Macro

from reconciler.domain.templating.budget import WorkMeter
from reconciler.domain.templating.plain import PlainData

_PLAIN: Final = frozenset({str, int, bool, type(None)})
_MAX_ARGUMENT_CHARS: Final = 256
_MAX_TEXT_CHARS: Final = 1024
_MAX_CALLS: Final = 16_384

# The macro, the type of each argument, the arguments (positional, then by name), their names.
Key = tuple[Macro, tuple[type, ...], tuple[object, ...], tuple[str, ...]]


class MacroMemo:
    """Remembered texts of calls to `macros` (the catalog's), with the loops each charged."""

    __slots__ = ("_calls", "_macros", "_meter")

    def __init__(self, meter: WorkMeter) -> None:
        self._meter = meter
        self._macros: frozenset[Macro] = frozenset()
        self._calls: dict[Key, tuple[str, int]] = {}

    def remember(self, macros: Mapping[str, Macro]) -> None:
        """The macros whose calls may be remembered: those of the catalog's macro files."""
        self._macros = frozenset(macros.values())

    def key(self, macro: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Key | None:
        """The call's key, or None if it is not one to remember."""
        if type(macro) is not Macro or macro not in self._macros:
            return None
        values = (*args, *kwargs.values()) if kwargs else args
        kinds = tuple(map(type, values))
        if not _PLAIN.issuperset(kinds):
            return None
        if str in kinds and sum(len(v) for v in values if type(v) is str) > _MAX_ARGUMENT_CHARS:
            return None
        return macro, kinds, values, tuple(kwargs)

    def answer(self, key: Key) -> str | None:
        """The remembered text, its loops charged again; None if not remembered."""
        found = self._calls.get(key)
        if found is None:
            return None
        text, loops = found
        if loops:
            self._meter.charge_loops(loops)
        return text

    def keep(self, key: Key, result: object, loops_before: int) -> None:
        if type(result) is str and len(result) <= _MAX_TEXT_CHARS and len(self._calls) < _MAX_CALLS:
            self._calls[key] = (result, self._meter.loops - loops_before)


_MISSING: Final = ("missing",)  # a name the context does not hold: no value's part equals it
_MAX_RENDERS: Final = 65_536
_IMMUTABLE: Final = frozenset({str, int, bool, float})

# The value's source, then each name it reads with the context's value for it.
RenderKey = tuple[object, ...]


def _part(value: object) -> object:
    """A hashable stand-in for a context value, equal only for values that render the same:
    text as itself, anything else as its type and JSON (so `1`, `1.0`, `True` and `"1"` differ,
    and mappings in their order, which a loop over them follows)."""
    if type(value) is str:
        return value
    if value is _MISSING:
        return value
    return (type(value).__name__, json.dumps(value, ensure_ascii=False))


class RenderMemo:
    """Rendered values remembered by their source and the values of the names they read.

    A value reads nothing from its context but the names it spells (`reads`): macros see only
    their arguments and the globals, filters and tests only what they are given. So two contexts
    that agree on those names render it to the same result. Only results that cannot be changed
    afterwards (text, numbers, booleans) are kept, with the loop iterations the render charged:
    an answer charges them again, as a render would.
    """

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[RenderKey, tuple[PlainData, int]] = {}

    @staticmethod
    def key(source: str, names: tuple[str, ...], context: Mapping[str, object]) -> RenderKey:
        """`names` in a fixed order (sorted): the same names give the same key."""
        return (source, *[_part(context.get(name, _MISSING)) for name in names])

    def answer(self, key: RenderKey) -> tuple[PlainData, int] | None:
        return self._kept.get(key)

    def keep(self, key: RenderKey, value: PlainData, loops: int) -> None:
        if type(value) in _IMMUTABLE and len(self._kept) < _MAX_RENDERS:
            self._kept[key] = (value, loops)
