"""`json_text` looks at a line character by character only when `str.isprintable` refuses it:
the same output as looking at every character, on every code point."""

from __future__ import annotations

import json
import sys

from reconciler.domain.text import _json_escaped, json_text


def every_character(text: str) -> str:
    """`json_text` as it was: each character on its own."""
    return "".join(_json_escaped(char) for char in text)


def test_every_code_point_is_escaped_as_one_by_one() -> None:
    characters = [chr(code) for code in range(sys.maxunicode + 1)]
    # each code point alone on a line, inside plain text, and many to a line
    lines = [f'  "k": "a{char}b 咖啡",' for char in characters]
    lines += ["".join(characters[start : start + 997]) for start in range(0, len(characters), 997)]
    text = "\n".join(lines)
    assert json_text(text) == every_character(text)


def test_json_keeps_its_data() -> None:
    data = {"咖啡": "a\u2028b\x85\u202e\u3000\ue000\U000e0001 😀", "n": [1, "\t\r\n"]}
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    shown = json_text(text)
    assert shown == every_character(text)
    assert json.loads(shown) == data
    assert not {"\u2028", "\x85", "\u202e"} & set(shown)


def test_plain_lines_are_kept_whole() -> None:
    text = '{\n  "name": "咖啡券 HK$38 — café ☕"\n}\n'
    assert json_text(text) == text
