"""canonical_json (the bytes sent and hashed) is encoded by orjson where that gives the standard
library's bytes, and by the standard library elsewhere: the same bytes, or the same refusal, on
any data."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.domain.canonical import canonical_json, standard_canonical_json
from reconciler.domain.contract.limits import has_unsendable_number, unsendable_numbers
from reconciler.errors import InvalidInput

HOSTILE = (
    '咖啡 ☕ 😀 "quoted" back\\slash\ttab\nline\r\x00\x01\x1f\x1b[31m\x7f\x80\x85\x9b'
    "\u2028\u2029\u202e\u200b\ufeff\uffff\U0010ffff ##[error]::warning:: é </script>"
)
KEYS = ("", "a", "B", "é", "ẞ", "\uffff", "😀", "\U0010ffff", "\x00", "z", "Z", "10", "9", "咖啡")
BIG = 2**53


def outcome(encode: object, value: object) -> tuple[object, ...]:
    assert callable(encode)
    try:
        return ("bytes", encode(value))
    except InvalidInput as error:
        return ("refused", str(error), error.hint)
    except (TypeError, ValueError, RecursionError) as error:
        return ("raised", type(error).__name__)


VALUES = [
    {"text": HOSTILE, "reversed": HOSTILE[::-1], HOSTILE: 1},
    {key: index for index, key in enumerate(KEYS)},
    {key: {k: [k, None, True, False, 0, -1] for k in reversed(KEYS)} for key in KEYS},
    [BIG - 1, -(BIG - 1), BIG, -BIG, 2**63 - 1, -(2**63), 2**63, 2**64, -(2**64), 10**30],
    {"fraction": 1.5, "whole": 1.0, "tiny": 1e-7, "huge": 1e16, "neg": -0.0},
    {"nan": float("nan")},
    {"inf": [float("inf")]},
    {"half": "\ud800"},
    {"\udfff": 1},
    {1: "int key"},
    {1: "int key", "a": "mixed"},
    {(1, 2): "tuple key"},
    {"tuple": (1, 2)},
    {"set": {1}},
    True,
    None,
    "top",
    7,
    [],
    {},
    json.loads("[" * 20 + '{"deep": ["x"]}' + "]" * 20),
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_same_bytes_or_the_same_refusal(value: object) -> None:
    assert outcome(canonical_json, value) == outcome(standard_canonical_json, value)


def test_nested_beyond_what_orjson_takes() -> None:
    value: object = "x"
    for _ in range(300):
        value = {"a": [value]}
    assert canonical_json(value) == standard_canonical_json(value)


def test_the_standard_form() -> None:
    value = {"b": [1, True, None], "a": "é\n", "A": {"z": 0, "y": ""}}
    expected = json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    assert canonical_json(value) == standard_canonical_json(value) == expected


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**65), max_value=2**65)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_any_json_data_encodes_alike(value: object) -> None:
    assert outcome(canonical_json, value) == outcome(standard_canonical_json, value)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_the_quick_number_check_agrees_with_the_located_one(value: object) -> None:
    assert has_unsendable_number(value) == any(True for _ in unsendable_numbers(value))
    assert has_unsendable_number([value]) == has_unsendable_number({"a": value})


class Text(str):
    pass


class Number(int):
    pass


@pytest.mark.parametrize(
    ("value", "unsendable"),
    [
        (Number(2**63), True),
        ({"a": [Number(2**63 - 1)]}, False),
        (Text("x"), False),
        (True, False),
        (2**63, True),
        (-(2**63) + 1, False),
        (-(2**63), True),
        ({"a": {"b": [1.5, float("-inf")]}}, True),
    ],
)
def test_the_quick_number_check_takes_subclasses(value: object, unsendable: bool) -> None:
    assert has_unsendable_number(value) is unsendable
