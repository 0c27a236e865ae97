"""The fast path: values made only of text and `{{ name }}` / `{{ name.key.key }}` placeholders.

Compiling a value costs about half a millisecond, and most catalog values are plain substitutions
such as `"{{ cdn }}/coupons/item-42.png"`. Those are rendered here without Jinja, to exactly what
the Jinja path gives. Whenever this module is not sure -- a name or key it does not find, a value
that is not a str or an int, output over the limit -- it answers None and the caller takes the
Jinja path, which gives its own result or its own error.

What "exactly" means rests on the sandbox's lexer settings (default delimiters, no line statements,
`keep_trailing_newline`); tests/test_templating_fast_path.py renders a generated corpus both ways.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Final, TypeGuard

from reconciler.domain.templating.limits import text_size
from reconciler.domain.templating.plain import PlainData

_NAME: Final = r"[A-Za-z][A-Za-z0-9_]*"
# One piece of a simple value: a placeholder (its dotted path in group `path`), or a run of text
# holding no `{{`, `{%`, `{#` or `}}`. `\r` is left to Jinja, which turns `\r\n` and `\r` into `\n`;
# `{{-` and `-}}` are left to it as well, as is whitespace other than spaces, tabs and newlines.
_PIECE: Final = re.compile(
    rf"\{{\{{[ \t\n]*(?P<path>{_NAME}(?:\.{_NAME})*)[ \t\n]*\}}\}}"
    r"|(?:[^{}\r]|\{(?![{%#])|\}(?!\}))+"
)
# Jinja reads `{{ x.items }}` as the dict's method, not as the key, whenever the attribute exists.
_DICT_ATTRIBUTES: Final = frozenset(dir(dict))
_MISSING: Final = object()
_INT_BITS: Final = 64  # at most 20 digits, far from the 4300 that `str(int)` refuses to print


@dataclass(frozen=True, slots=True)
class Substitution:
    """A value parsed into text pieces and placeholders (each a name and then dict keys)."""

    pieces: tuple[str | tuple[str, ...], ...]

    @property
    def expression(self) -> bool:
        """Exactly one `{{ ... }}` and nothing else: renders to the value itself, as Jinja does."""
        return len(self.pieces) == 1 and isinstance(self.pieces[0], tuple)


def parse_substitution(source: str, refused_names: Container[str]) -> Substitution | None:
    """The pieces of `source`, or None if it is anything but text and simple placeholders or if
    it uses a name in `refused_names` (globals, macros, names Jinja reads as its own)."""
    pieces: list[str | tuple[str, ...]] = []
    position = 0
    while position < len(source):
        found = _PIECE.match(source, position)
        if found is None:
            return None
        position = found.end()
        if found["path"] is None:
            pieces.append(found[0])
            continue
        path = tuple(found["path"].split("."))
        if path[0] in refused_names or not _DICT_ATTRIBUTES.isdisjoint(path[1:]):
            return None
        pieces.append(path)
    return Substitution(tuple(pieces))


def substitute(
    substitution: Substitution, context: Mapping[str, PlainData], max_chars: int
) -> str | int | None:
    """The rendered value, or None where only the Jinja path can tell what happens."""
    texts: list[str] = []
    for piece in substitution.pieces:
        if isinstance(piece, str):
            texts.append(piece)
            continue
        value = _look_up(piece, context)
        if not _printable(value, max_chars):
            return None
        if substitution.expression:
            return value
        texts.append(str(value))
    text = "".join(texts)
    return text if len(text) <= max_chars else None


def _look_up(path: tuple[str, ...], context: Mapping[str, PlainData]) -> object:
    value: object = context.get(path[0], _MISSING)
    for key in path[1:]:
        if type(value) is not dict:
            return _MISSING
        value = value.get(key, _MISSING)
    return value


def _printable(value: object, max_chars: int) -> TypeGuard[str | int]:
    """A str, or an int the sandbox prints as `str(value)`. bool, float, None, lists and dicts
    print in Jinja's own ways, and a missing name raises Jinja's error: all are left to Jinja. So
    are ints whose size estimate the sandbox refuses, or too long for `str()` to convert."""
    if type(value) is str:
        return len(value) <= max_chars
    return (
        type(value) is int
        and value.bit_length() <= _INT_BITS
        and text_size(value, max_chars) <= max_chars
    )
