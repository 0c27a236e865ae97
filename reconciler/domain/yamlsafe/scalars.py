"""Plain (unquoted) scalars: a small YAML 1.2-core-like table, with YAML 1.1's surprises refused.

`NO` -> false, `0777` -> 511 and `1_000` -> 1000 are what YAML 1.1 parsers read; here each is
refused with the fix, so no reader of the catalog ever sees a different value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Final

from reconciler.domain.yamlsafe.document import PlainData
from reconciler.domain.yamlsafe.errors import Refused

_WORDS: Final[Mapping[str, bool | None]] = {
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}
_NORWAY: Final = frozenset({"yes", "no", "on", "off", "y", "n"})
_WORD_START: Final = frozenset("~nNtTfFyYoO")
_NUMBER_START: Final = frozenset("0123456789+-.")
_MAX_DIGITS: Final = 30

_DECIMAL: Final = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_OCTAL: Final = re.compile(r"0o[0-7]+")
_HEX: Final = re.compile(r"0x[0-9a-fA-F]+")
_LEADING_ZERO: Final = re.compile(r"[-+]?0[0-9]+")
_FLOAT: Final = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_NUMBERS: Final = (_DECIMAL, _OCTAL, _HEX, _LEADING_ZERO, _FLOAT)
_INFINITY_OR_NAN: Final = frozenset({".inf", ".nan"})


def resolve_plain(text: str) -> PlainData:
    """What an unquoted scalar means; its first character settles most strings at once."""
    if not text:
        return None
    first = text[0]
    if first in _WORD_START:
        return _resolve_word(text)
    if first in _NUMBER_START:
        return _resolve_number(text)
    return text


def _resolve_word(text: str) -> PlainData:
    if text in _WORDS:
        return _WORDS[text]
    if len(text) <= 3 and text.lower() in _NORWAY:
        raise Refused(
            f"{text} is ambiguous in YAML 1.1 (Norway problem): write true/false, "
            f"or quote it ('{text}') if you mean the text"
        )
    return text


def _resolve_number(text: str) -> PlainData:
    if _DECIMAL.fullmatch(text):
        return _integer(text, text.lstrip("+-"), 10)
    if _OCTAL.fullmatch(text):
        return _integer(text, text[2:], 8)
    if _HEX.fullmatch(text):
        return _integer(text, text[2:], 16)
    if _LEADING_ZERO.fullmatch(text):  # before _FLOAT, which would read 0777 as 777.0
        raise Refused(
            f"{text} has a leading zero, which YAML 1.1 reads as octal: "
            f"quote it if it is a code ('{text}'), or drop the zero"
        )
    if _FLOAT.fullmatch(text):
        number = float(text)
        if not math.isfinite(number):
            raise Refused(f"{text} is not a finite number; use a smaller one, or quote it")
        return number
    if text.lstrip("+-").lower() in _INFINITY_OR_NAN:
        raise Refused(f"{text} is not a finite number; use a number, or quote it ('{text}')")
    if "_" in text and any(number.fullmatch(text.replace("_", "")) for number in _NUMBERS):
        raise Refused(
            f"{text} has _ between digits, which YAML 1.1 reads as a number: "
            f"write it without _, or quote it ('{text}') if it is a code"
        )
    return text


def _integer(text: str, digits: str, base: int) -> int:
    if len(digits) > _MAX_DIGITS:
        raise Refused(
            f"number too large ({len(digits)} digits, at most {_MAX_DIGITS}); "
            "quote it if it is an identifier"
        )
    return int(text if base == 10 else digits, base)
