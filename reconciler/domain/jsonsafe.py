"""One strict JSON reader for the files ipass writes and people can edit: state files, saved
plans, journal lines.

`json.loads` and pydantic's `model_validate_json` both let the last of two equal keys win, so a
file could show a reviewer one value (the first key) and hand ipass another (the last). They
also accept `NaN` and `Infinity`, turn `1e400` into infinity and read a 5,000-digit number. ipass
writes none of these, so a file holding one was edited by hand or is damaged, and it is refused
with what was found:

- a key twice in one object (the key is named, escaped for the terminal);
- `NaN`, `Infinity`, `-Infinity`;
- a fraction or an exponent (ipass writes whole numbers only), or more than `MAX_DIGITS` digits;
- nesting deeper than `MAX_DEPTH`, found *before* parsing by a scan of the brackets outside
  strings, so the parser never recurses that far;
- an escape that is half of a surrogate pair (`\\ud800`): no character, and no UTF-8 either.

The parse is the standard library's C scanner with hooks; pydantic validates the parsed data
afterwards (`model_validate`, strict), so what is checked is what is used: no second parser
reads the text.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import accumulate
from typing import Final, NoReturn

from pydantic import JsonValue

from reconciler.domain.text import printable

MAX_DEPTH: Final = 64  # a state or plan is ~8 deep around a payload the catalog caps at 32
MAX_DIGITS: Final = 20  # an int64 has 19; ipass writes milliseconds (13) and cents
_SHOWN_KEY: Final = 64  # characters of a duplicated key shown in the message

_EDITED: Final = "; the file was edited by hand or is damaged"
# Every byte but the quote and the four brackets, deleted by `bytes.translate`.
_NOT_STRUCTURE: Final = bytes(c for c in range(256) if c not in b'"[]{}')
_STEP: Final = [1 if c in b"[{" else -1 if c in b"]}" else 0 for c in range(256)]
# A high surrogate escape followed by a low one is one character; any other is half of one.
_SURROGATE: Final = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|(\\u[dD][89a-fA-F][0-9a-fA-F]{2})"
)


class StrictJsonError(ValueError):
    """Why a text is refused, as the end of a sentence whose start names the file."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class JsonSyntaxError(StrictJsonError):
    """The text is not JSON at all (truncated, a merge gone wrong, another kind of file)."""


def strict_loads(text: str) -> JsonValue:
    """Parse `text` as JSON that ipass could have written; raise `StrictJsonError` otherwise."""
    return _parse(text, _unique_keys, _whole_number)


def check_strict(text: str) -> None:
    """Refuse `text` exactly as `strict_loads` would, without keeping what it parsed.

    For a text that pydantic then reads itself (`model_validate_json`, the fast path for a
    25 MB state): a text that passes is plain JSON without a key twice, a fraction, a long
    number, `NaN`, half a surrogate pair or deep nesting, and on such a text every conforming
    parser reads the same data; pydantic's is stricter still (it refuses half a surrogate pair
    on its own). So what pydantic validates is what was checked.
    """
    _parse(text, _unique_keys_only, _whole_number_only)


def _parse(
    text: str,
    pairs: Callable[[list[tuple[str, JsonValue]]], JsonValue],
    whole: Callable[[str], JsonValue],
) -> JsonValue:
    depth = nesting_depth(text)
    if depth > MAX_DEPTH:
        raise StrictJsonError(f"is nested {depth} levels deep (at most {MAX_DEPTH}){_EDITED}")
    if "\\u" in text:
        _refuse_half_surrogates(text)
    try:
        with gc_paused():
            data: JsonValue = json.loads(
                text,
                object_pairs_hook=pairs,
                parse_int=whole,
                parse_float=_fraction,
                parse_constant=_constant,
            )
    except json.JSONDecodeError as error:
        raise JsonSyntaxError(f"is not valid JSON (line {error.lineno}: {error.msg})") from None
    except RecursionError:  # the scan above makes this unreachable; never a traceback anyway
        raise StrictJsonError(f"is nested too deeply (at most {MAX_DEPTH}){_EDITED}") from None
    return data


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text`, brackets inside strings aside; no parsing.

    Only bytes-level operations run over the whole text (UTF-8 never uses these ASCII bytes
    inside a multi-byte character). Escaped backslashes, then escaped quotes, are dropped, left
    to right as a parser reads them; then everything but quotes and brackets. Two adjacent
    quotes end one string and start the next (or delimit one without brackets): dropping them
    keeps every other quote's parity, so what was inside a string stays inside one, and what is
    left between odd and even quotes is the few brackets written inside strings.
    """
    data = text.encode("utf-8", "surrogatepass")
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in marks:
        marks = b"".join(marks.split(b'"')[::2])
    return max(accumulate(map(_STEP.__getitem__, marks)), default=0)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a large file becomes objects (parsing makes no cycles).

    Reading a 25 MB state creates millions of containers, and every few thousand of them the
    collector runs; its full collections walk every object alive, so they cost more the further
    the parse gets. Pausing it while the file is read roughly halves the reading time; memory is
    still freed by reference counting, and the previous setting is restored (a pause nested in
    another, or overlapping one in another thread, leaves the collector as it found it).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _unique_keys(pairs: list[tuple[str, JsonValue]]) -> dict[str, JsonValue]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJsonError(f"has the key {_shown(key)} twice in one object{_EDITED}")
            seen.add(key)
    return obj


def _unique_keys_only(pairs: list[tuple[str, JsonValue]]) -> None:
    """`_unique_keys` building nothing: every object of a checked text becomes None."""
    if len(pairs) > 1:
        _unique_keys(pairs)


def _whole_number(digits: str) -> int:
    _whole_number_only(digits)
    return int(digits)


def _whole_number_only(digits: str) -> None:
    count = len(digits) - digits.startswith("-")
    if count > MAX_DIGITS:
        raise StrictJsonError(f"holds a number of {count} digits (at most {MAX_DIGITS}){_EDITED}")


def _fraction(number: str) -> NoReturn:
    shown = number if len(number) <= MAX_DIGITS else number[:MAX_DIGITS] + "..."
    raise StrictJsonError(f"holds the number {shown}; ipass writes whole numbers only{_EDITED}")


def _constant(name: str) -> NoReturn:
    raise StrictJsonError(f"holds {name}, which is not a number in JSON{_EDITED}")


def _refuse_half_surrogates(text: str) -> None:
    for match in _SURROGATE.finditer(text.replace("\\\\", "")):
        if match.group(1) is not None:
            raise StrictJsonError(
                f"holds the escape {match.group(1)}, half of a surrogate pair and no character"
                f"{_EDITED}"
            )


def _shown(key: str) -> str:
    """The key as JSON would write it, shortened, and safe to print."""
    cut = key if len(key) <= _SHOWN_KEY else key[:_SHOWN_KEY] + "..."
    return printable(json.dumps(cut, ensure_ascii=False))
