"""How wide a line of text will be on the card, and text made safe to show as it is.

The width is an estimate in CSS pixels for the card's font (Arial metrics: Liberation Sans,
Arial and Helvetica share them); East Asian wide and full-width characters take one em. It
rounds up, so a line estimated to fit does fit in a browser with that font.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Final

from reconciler.domain.text import printable


@dataclass(frozen=True)
class TextBox:
    """A single-line box on the card: its width and font, shared with the stylesheet."""

    width_px: int
    font_px: int
    bold: bool = False


CARD_WIDTH_PX: Final = 343  # a 375 px phone viewport less 16 px margins
CARD_PADDING_PX: Final = 16
LOGO_PX: Final = 32
LOGO_GAP_PX: Final = 8
_INNER: Final = CARD_WIDTH_PX - 2 * CARD_PADDING_PX
BOXES: Final = MappingProxyType(
    {
        "brandName": TextBox(_INNER - LOGO_PX - LOGO_GAP_PX, 13),
        "name": TextBox(_INNER, 18, bold=True),
        "subName": TextBox(_INNER, 14),
    }
)

# Advance widths of Arial Regular in thousandths of an em, printable ASCII from the space on.
_ASCII_WIDTHS: Final = (
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
)  # fmt: skip
_WIDE: Final = frozenset({"W", "F"})  # East Asian width classes drawn one em wide
_OTHER_EM: Final = 1.0  # any other character: as wide as the widest Latin letter, to be safe
_LATIN_END: Final = 0x24F  # accented Latin letters: at most about as wide as a capital
_LATIN_EM: Final = 0.78
_BOLD_FACTOR: Final = 1.1  # Arial Bold is at most about 10% wider than Regular
_SLACK: Final = 1.02


def estimated_width(text: str, box: TextBox) -> float:
    """Pixels `text` takes on one line in `box`'s font (an estimate that errs on the wide side)."""
    ems = sum(map(_char_em, text))
    factor = _BOLD_FACTOR if box.bold else 1.0
    return ems * box.font_px * factor * _SLACK


@cache  # a catalog's texts draw on a few thousand characters at most
def _char_em(char: str) -> float:
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return _ASCII_WIDTHS[code - 0x20] / 1000
    if unicodedata.combining(char):
        return 0.0
    if unicodedata.east_asian_width(char) in _WIDE:
        return 1.0
    if code <= _LATIN_END:
        return _LATIN_EM
    return _OTHER_EM


def overflows(text: str, box: TextBox) -> bool:
    return estimated_width(text, box) > box.width_px


@lru_cache(maxsize=8192)  # a card repeats many short values (codes, currencies, merchant ids)
def visible_line(text: str) -> str:
    """One line as the page shows it: line breaks and invisible characters (bidi overrides,
    zero-width spaces, controls) written as escapes, so what a reviewer reads is what is sent."""
    return printable(text)


def visible_lines(text: str) -> str:
    """Like `visible_line`, keeping line breaks (for a description shown with its lines)."""
    return "\n".join(printable(line) for line in text.replace("\r\n", "\n").split("\n"))
