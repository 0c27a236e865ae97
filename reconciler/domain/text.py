"""Untrusted text made safe to print: what a line shows is what the line holds.

Catalog text, file names and exception messages reach the terminal and CI logs. A line break
in them could start a line of their own (`::error::` is a GitHub Actions workflow command), a
terminal escape could rewrite the screen, a bidi control could reorder what a reader sees.
`printable` shows every such character as an escape and keeps ordinary text, Chinese included,
as it is.
"""

from __future__ import annotations

import unicodedata
from typing import Final

# Cc: C0, DEL and C1 controls; Cf: format characters (bidi embeddings, overrides and isolates,
# LRM/RLM/ALM, zero-width space, BOM, ...); Cs: lone surrogates (a file name that was not
# UTF-8); Zl/Zp: U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR.
_HIDDEN: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Zero-width (non-)joiners are format characters that emoji and several scripts need.
_KEPT: Final = frozenset("\u200c\u200d")
_SHORT: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """`text` on one line, control and invisible characters shown as `\\n`, `\\x1b`, `\\u202e`."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    if char in _KEPT or unicodedata.category(char) not in _HIDDEN:
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def json_text(text: str) -> str:
    """JSON text with every hidden character inside its strings written as a `\\uXXXX` escape.

    The data is the same (JSON reads the escape back as the character), but a terminal or CI
    log shows the escape instead of acting on it: C1 controls (U+009B starts a terminal
    sequence), DEL, U+2028/U+2029 and bidi controls are legal raw in JSON strings. Outside
    strings JSON holds none of these characters, so a plain replacement is exact.

    Line by line: a line `str.isprintable` passes (most of them, Chinese included) holds none
    of these characters and is kept whole; only the others are looked at character by character.
    """
    return "\n".join(
        line if line.isprintable() else "".join(map(_json_escaped, line))
        for line in text.split("\n")
    )


def _json_escaped(char: str) -> str:
    if char in "\n\r\t" or char in _KEPT or unicodedata.category(char) not in _HIDDEN:
        return char  # JSON's own line breaks and indentation, and visible text
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"
