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

from collections.abc import Mapping
from typing import Any, Final

from jinja2.runtime import Macro

from reconciler.domain.templating.budget import WorkMeter

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
