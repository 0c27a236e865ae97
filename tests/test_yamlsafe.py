"""The strict YAML loader: RELIABILITY.md invariant 8 and its "Catalog and YAML" test list."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yaml.events import Event
from yaml.scanner import ScannerError

from reconciler.domain import yamlsafe
from reconciler.domain.problems import FieldPath
from reconciler.domain.yamlsafe import (
    PlainData,
    Position,
    ScalarSource,
    YamlDocument,
    YamlError,
    load_yaml_file,
    load_yaml_text,
    loader,
)
from reconciler.errors import ExitCode, InvalidInput

NORWAY_FIX = "is ambiguous in YAML 1.1 (Norway problem): write true/false, or quote it"
ALIASES = (
    "anchors and aliases are not allowed; repeat the value or use a shared variable in vars.yaml"
)
TAGS = "remove it: values are plain text, numbers, true/false, lists and mappings"
SEVERAL = "more than one YAML document in the file; keep one per file and remove this '---' line"
TOO_DEEP = "nested deeper than 32 levels; flatten the structure"


# libyaml when PyYAML was built with it, and PyYAML's own parser: the answers must not differ.
PARSERS = [
    pytest.param(loader._PARSER, id="default"),
    pytest.param(yaml.SafeLoader, id="pure-python"),
]


def load(text: str | bytes, **limits: int) -> PlainData:
    return load_yaml_text(text, path="catalog/t.yaml", **limits).data


def refusal(text: str | bytes, **limits: int) -> str:
    """The one line a user sees for a refused input."""
    with pytest.raises(YamlError) as caught:
        load_yaml_text(text, path="catalog/t.yaml", **limits)
    return str(caught.value)


# --- what plain scalars mean ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("null", None),
        ("Null", None),
        ("NULL", None),
        ("~", None),
        ("", None),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ("0", 0),
        ("-0", 0),
        ("+3", 3),
        ("42", 42),
        ("-17", -17),
        ("0o17", 15),
        ("0x1F", 31),
        ("0x1f", 31),
        ("1.5", 1.5),
        ("-1.5", -1.5),
        (".5", 0.5),
        ("1.", 1.0),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("0.5", 0.5),
        ("123456789012345678901234567890", 123456789012345678901234567890),
        ("nULL", "nULL"),
        ("tRUE", "tRUE"),
        ("none", "none"),
        ("nothing", "nothing"),
        ("yesterday", "yesterday"),
        ("0b101", "0b101"),
        ("1.2.3", "1.2.3"),
        ("+", "+"),
        ("-x", "-x"),
        (".", "."),
        ("inf", "inf"),
        ("nan", "nan"),
        ("Coffee {{ price }} HKD", "Coffee {{ price }} HKD"),
        ("alipayhk://platformapi/startapp?appId=1", "alipayhk://platformapi/startapp?appId=1"),
    ],
)
def test_plain_scalars_resolve_like_yaml_1_2_core(text: str, expected: PlainData) -> None:
    value = load(f"v: {text}\n")
    assert value == {"v": expected}
    assert isinstance(value, dict)
    assert type(value["v"]) is type(expected)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01",
        "2026-12-01T10:00:00+08:00",
        "2026-12-01 10:00:00",
        "1:30",
        "190:20:30",
        "12:30:00",
    ],
)
def test_unquoted_dates_and_times_stay_strings_exactly_as_written(text: str) -> None:
    assert load(f"startDate: {text}\n") == {"startDate": text}


@pytest.mark.parametrize(
    "text", ["'123'", "'true'", '"null"', "'0777'", "'NO'", "'1_000'", "'.inf'", "'~'", "''"]
)
def test_quoted_scalars_are_always_strings(text: str) -> None:
    assert load(f"v: {text}\n") == {"v": text[1:-1]}


def test_block_scalars_are_strings() -> None:
    assert load("a: |\n  123\nb: >\n  NO\n  more\n") == {"a": "123\n", "b": "NO more\n"}


# --- YAML 1.1 surprises are refused, with the fix -------------------------------------------


NORWAY_WORDS = ["yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]


@pytest.mark.parametrize("word", [*NORWAY_WORDS, "y", "Y", "n", "N", "yEs", "nO"])
def test_norway_words_are_refused(word: str) -> None:
    assert refusal(f"enabled: {word}\n") == (
        f"catalog/t.yaml:1:10: enabled: {word} {NORWAY_FIX} ('{word}') if you mean the text"
    )


def test_norway_word_in_a_list_names_the_item() -> None:
    assert refusal("countries:\n  - HK\n  - NO\n") == (
        f"catalog/t.yaml:3:5: countries[1]: NO {NORWAY_FIX} ('NO') if you mean the text"
    )


@pytest.mark.parametrize("text", ["0777", "007", "-007", "+01", "00"])
def test_leading_zeros_are_refused(text: str) -> None:
    assert refusal(f"code: {text}\n") == (
        f"catalog/t.yaml:1:7: code: {text} has a leading zero, which YAML 1.1 reads as octal: "
        f"quote it if it is a code ('{text}'), or drop the zero"
    )


@pytest.mark.parametrize("text", ["1_000", "1_000.5", "0x_1F", "-1_0", "1__"])
def test_underscores_in_numbers_are_refused(text: str) -> None:
    assert refusal(f"count: {text}\n") == (
        f"catalog/t.yaml:1:8: count: {text} has _ between digits, "
        "which YAML 1.1 reads as a number: "
        f"write it without _, or quote it ('{text}') if it is a code"
    )


def test_words_with_underscores_are_text() -> None:
    assert load("a: snake_case\nb: 1_a\nc: _1\n") == {"a": "snake_case", "b": "1_a", "c": "_1"}


@pytest.mark.parametrize("text", [".inf", ".Inf", "-.inf", "+.INF", ".nan", ".NaN", ".NAN"])
def test_infinity_and_nan_are_refused(text: str) -> None:
    assert refusal(f"price: {text}\n") == (
        f"catalog/t.yaml:1:8: price: {text} is not a finite number; "
        f"use a number, or quote it ('{text}')"
    )


def test_a_float_that_overflows_is_refused() -> None:
    assert refusal("price: 1e999\n") == (
        "catalog/t.yaml:1:8: price: 1e999 is not a finite number; use a smaller one, or quote it"
    )


@pytest.mark.parametrize(
    ("text", "digits"),
    [("1" * 31, 31), ("-" + "9" * 40, 40), ("0x" + "f" * 31, 31), ("9" * 5000, 5000)],
)
def test_huge_integers_are_refused(text: str, digits: int) -> None:
    assert refusal(f"amount: {text}\n") == (
        f"catalog/t.yaml:1:9: amount: number too large ({digits} digits, at most 30); "
        "quote it if it is an identifier"
    )


# --- anchors, aliases, merge keys, tags -----------------------------------------------------


def test_anchors_are_refused_at_the_anchor() -> None:
    assert refusal("base: &b {a: 1}\nother: *b\n") == f"catalog/t.yaml:1:7: base: {ALIASES}"


def test_aliases_are_refused_even_without_an_anchor() -> None:
    assert refusal("a: 1\nb: *missing\n") == f"catalog/t.yaml:2:4: b: {ALIASES}"


def test_anchor_on_a_list_item() -> None:
    assert refusal("- a\n- &x b\n") == f"catalog/t.yaml:2:3: [1]: {ALIASES}"


def test_alias_bomb_is_refused_at_once() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for name, previous in zip("bcdefghi", "abcdefgh", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    started = time.perf_counter()
    assert refusal("\n".join(lines)) == f"catalog/t.yaml:1:4: a: {ALIASES}"
    assert time.perf_counter() - started < 0.5


def test_merge_keys_are_refused() -> None:
    assert refusal("a:\n  <<: {b: 1}\n") == (
        "catalog/t.yaml:2:3: a.<<: merge keys (<<) are not allowed; "
        "write the keys out, or use a shared variable in vars.yaml"
    )


def test_a_quoted_merge_key_is_just_text() -> None:
    assert load("'<<': 1\n") == {"<<": 1}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("!!python/object/apply:os.system ['echo pwned']", "!!python/object/apply:os.system"),
        ("!!python/object:builtins.object {}", "!!python/object:builtins.object"),
        ("!!python/name:os.system ''", "!!python/name:os.system"),
        ("!!str 1", "!!str"),
        ("!!int '1'", "!!int"),
        ("!!binary aGk=", "!!binary"),
        ("!!map {a: 1}", "!!map"),
        ("!!set {a}", "!!set"),
        ("!!timestamp 2026-12-01", "!!timestamp"),
        ("!foo bar", "!foo"),
        ("! bar", "!"),
        ("!<tag:example.com,2026:x> y", "tag:example.com,2026:x"),
    ],
)
def test_tags_are_refused(text: str, shown: str) -> None:
    assert refusal(f"x: {text}\n") == (
        f"catalog/t.yaml:1:4: x: tags are not allowed (found {shown}); {TAGS}"
    )


def test_tag_on_a_nested_list_names_the_path() -> None:
    assert refusal("a:\n  b:\n    - !!seq [1]\n") == (
        f"catalog/t.yaml:3:7: a.b[0]: tags are not allowed (found !!seq); {TAGS}"
    )


# --- mapping keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("1", "a number"),
        ("1.5", "a number"),
        ("true", "a boolean"),
        ("~", "null"),
        ("null", "null"),
    ],
)
def test_keys_that_are_not_text_are_refused(key: str, kind: str) -> None:
    assert refusal(f"a: 1\n{key}: x\n") == (
        f"catalog/t.yaml:2:1: {key}: the key {key} is read as {kind}, not text; "
        f"quote it ('{key}') if it is a name"
    )


def test_norway_words_as_keys_are_refused() -> None:
    assert refusal("on: push\n") == (
        f"catalog/t.yaml:1:1: on: on {NORWAY_FIX} ('on') if you mean the text"
    )


def test_an_empty_key_is_refused() -> None:
    assert refusal("?\n: a\n") == (
        "catalog/t.yaml:1:2: : empty key, read as null; write a name before the ':'"
    )


def test_quoted_keys_that_look_like_other_types_are_text() -> None:
    assert load("'1': a\n\"true\": b\n'': c\n") == {"1": "a", "true": "b", "": "c"}


@pytest.mark.parametrize(
    ("text", "where"),
    [("? [a, b]\n: c\n", "1:3:"), ("{a: 1}: c\n", "1:1:"), ("x: { {a: 1}: c}\n", "1:6: x:")],
)
def test_complex_keys_are_refused(text: str, where: str) -> None:
    assert refusal(text) == (
        f"catalog/t.yaml:{where} a list or mapping cannot be a mapping key; keys must be text"
    )


def test_an_unquoted_template_value_gets_a_quoting_hint() -> None:
    assert refusal("name: {{ price }}\n") == (
        "catalog/t.yaml:1:8: name: a list or mapping cannot be a mapping key; keys must be text; "
        'a value that starts with {{ must be quoted: "{{ ... }}"'
    )


def test_duplicate_keys_point_at_the_second_and_name_the_first_line() -> None:
    assert refusal("name: a\nother: b\nname: c\n") == (
        "catalog/t.yaml:3:1: name: duplicate key 'name' (first defined on line 1); "
        "remove one of them or merge their contents"
    )


def test_duplicate_nested_keys_quoted_or_not() -> None:
    assert refusal("localeInfo:\n  en_US:\n    name: a\n    'name': b\n") == (
        "catalog/t.yaml:4:5: localeInfo.en_US.name: duplicate key 'name' "
        "(first defined on line 3); remove one of them or merge their contents"
    )


def test_the_same_key_in_sibling_mappings_is_fine() -> None:
    assert load("- {a: 1}\n- {a: 2}\n") == [{"a": 1}, {"a": 2}]


# --- documents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: 1\n---\nb: 2\n", 2), ("---\na: 1\n...\n---\nb: 2\n", 4), ("--- a\n--- b\n", 2)],
)
def test_several_documents_are_refused_at_the_second(text: str, line: int) -> None:
    assert refusal(text) == f"catalog/t.yaml:{line}:1: {SEVERAL}"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "\n\n  \n", b"\xef\xbb\xbf"])
def test_an_empty_file_is_none(text: str | bytes) -> None:
    document = load_yaml_text(text, path="catalog/t.yaml")
    assert document.data is None
    assert dict(document.positions) == {}
    assert dict(document.strings) == {}
    assert document.position_of(("key",)) == Position(1, 1)


def test_an_explicit_empty_document_is_none() -> None:
    document = load_yaml_text("---\n", path="catalog/t.yaml")
    assert document.data is None
    assert dict(document.positions) == {(): Position(2, 1)}


def test_a_version_directive_is_harmless() -> None:
    assert load("%YAML 1.1\n---\na: no_problem\n") == {"a": "no_problem"}


# --- broken syntax --------------------------------------------------------------------------


TAB_HINT = "indent with spaces, not tabs"
QUOTE_HINT = "close the quote"
COLON_HINT = "check the indentation, or quote a value containing ': '"
FLOW_HINT = "check the brackets, commas and indentation"
DEFAULT_HINT = "check the indentation and quoting on this line and the one before"

# What the parser says in between is its own wording (libyaml and PyYAML already differ), so only
# our parts are checked: the position, the "invalid YAML:" prefix and the hint.
BROKEN_SYNTAX = [
    ("a:\n\tb: c\n", (2, 1), TAB_HINT),
    ("a:\n  b: c\n\t- d\n", (3, 1), TAB_HINT),
    ("a: 'b\nc: d\n", (3, 1), QUOTE_HINT),
    ('a: "b\nc: d\n', (3, 1), QUOTE_HINT),
    ("名字: '未完\nc: d\n", (3, 1), QUOTE_HINT),
    ("a: b\n c: d\n", (2, 3), COLON_HINT),
    ("名字: 未: d\n", (1, 6), COLON_HINT),
    ("a: [b, c\nd: e\n", (2, 2), FLOW_HINT),
    ("x: {a: 1, b\n", (2, 1), FLOW_HINT),
    ("a: b\nc\nd: e\n", (3, 1), DEFAULT_HINT),
]


@pytest.mark.parametrize(("text", "where", "hint"), BROKEN_SYNTAX)
@pytest.mark.parametrize("parser", PARSERS)
def test_broken_syntax_is_located_with_a_hint(
    parser: loader._ParserFactory, text: str, where: tuple[int, int], hint: str
) -> None:
    with pytest.raises(YamlError) as caught:
        loader._load(
            text.encode(), path="catalog/t.yaml", max_depth=32, max_nodes=1000, parser=parser
        )
    error = caught.value
    assert (error.line, error.column, error.field) == (*where, ())
    assert error.message.startswith("invalid YAML: ")
    assert error.message.endswith(f"; {hint}")
    assert str(error) == f"catalog/t.yaml:{where[0]}:{where[1]}: {error.message}"


def test_a_construct_left_open_names_the_line_it_started_on() -> None:
    # "(... started on line 1)" is ours, added to the parser's context.
    assert "started on line 1)" in refusal("a: 'b\nc: d\n")
    assert "started on line" not in refusal("a: b\n c: d\n")


def test_control_characters_are_located() -> None:
    assert refusal("a: ok\nb: x\x07y\n") == (
        "catalog/t.yaml:2:5: control character U+0007 is not allowed in YAML; remove it, "
        'or write it as "\\u0007" inside double quotes'
    )


def test_escaped_control_characters_in_double_quotes_are_fine() -> None:
    assert load('a: "x\\u0007y"\n') == {"a": "x\x07y"}


# --- limits ---------------------------------------------------------------------------------


def test_nesting_up_to_the_limit_is_fine() -> None:
    assert load("[" * 5 + "]" * 5, max_depth=5) == [[[[[]]]]]


def test_deep_nesting_is_refused_at_the_first_level_too_deep() -> None:
    text = "".join(f"{'  ' * level}k{level}:\n" for level in range(40)) + "  " * 40 + "x\n"
    path = ".".join(f"k{level}" for level in range(32))
    assert refusal(text) == (f"catalog/t.yaml:33:65: {path}: {TOO_DEEP}")


def test_very_deep_flow_nesting_is_refused_quickly() -> None:
    # libyaml 0.2.6+ stops at its own limit of 1,000 levels while reading ahead, before the
    # builder sees level 33: the answer is still ours, at the first level too deep.
    started = time.perf_counter()
    message = refusal("[" * 100_000 + "]" * 100_000)
    assert message == f"catalog/t.yaml:1:33: {'[0]' * 32}: {TOO_DEEP}"
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 1001 + "]" * 1001, f"catalog/t.yaml:1:33: {'[0]' * 32}: {TOO_DEEP}"),
        ("[\n" * 1001 + "]" * 1001, f"catalog/t.yaml:33:1: {'[0]' * 32}: {TOO_DEEP}"),
        ("- " * 1001 + "x\n", f"catalog/t.yaml:1:65: {'[0]' * 32}: {TOO_DEEP}"),
        (
            "".join(f"{'  ' * level}k:\n" for level in range(1001)) + "  " * 1001 + "x\n",
            f"catalog/t.yaml:33:65: {'.'.join(['k'] * 32)}: {TOO_DEEP}",
        ),
    ],
    ids=["flow-one-line", "flow-many-lines", "block-sequences", "block-mappings"],
)
def test_nesting_beyond_the_parsers_own_limit_gets_our_message(text: str, expected: str) -> None:
    assert refusal(text) == expected


class NestingLimited:
    """A parser that gives up on nesting at once, as libyaml 0.2.6+ does at 1,000 levels."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_event(self) -> Event | None:
        mark = yaml.Mark("<byte string>", 3, 0, 3, None, 0)
        raise ScannerError(
            "while increasing flow level", mark, "exceeded maximum nesting depth", mark
        )

    def dispose(self) -> None:
        self.data = b""


def _outcome(parser: loader._ParserFactory, max_depth: int) -> tuple[object, object]:
    try:
        document = loader._load(
            b"[[[[[]]]]]", path="catalog/t.yaml", max_depth=max_depth, max_nodes=99, parser=parser
        )
    except YamlError as error:
        return str(error), error.field
    return document.data, dict(document.positions)


@pytest.mark.parametrize("max_depth", [3, 10])
def test_a_parser_that_gives_up_on_nesting_is_replaced_by_one_without_a_limit(
    max_depth: int,
) -> None:
    assert _outcome(NestingLimited, max_depth) == _outcome(yaml.SafeLoader, max_depth)


def test_a_parser_that_gives_up_on_nesting_still_gives_the_first_level_too_deep() -> None:
    assert _outcome(NestingLimited, 3) == (
        "catalog/t.yaml:1:4: [0][0][0]: nested deeper than 3 levels; flatten the structure",
        (0, 0, 0),
    )
    data, positions = _outcome(NestingLimited, 10)
    assert data == [[[[[]]]]]
    assert positions == {
        path: Position(1, len(path) + 1) for path in [(), (0,), (0, 0), (0, 0, 0), (0, 0, 0, 0)]
    }


def test_a_nesting_limit_in_the_unlimited_parser_too_still_gets_our_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loader, "_UNLIMITED", NestingLimited)
    assert _outcome(NestingLimited, 32) == (
        "catalog/t.yaml:1:4: nested deeper than the YAML parser allows "
        "(the catalog allows 32 levels); flatten the structure",
        (),
    )


def test_too_many_nodes_are_refused() -> None:
    text = "".join(f"- {n}\n" for n in range(20))  # the list is node 1, item n is node n + 2
    assert refusal(text, max_nodes=10) == (
        "catalog/t.yaml:10:3: [9]: more than 10 YAML nodes; split the file"
    )
    assert load(text, max_nodes=21) == list(range(20))


def test_keys_and_values_of_a_mapping_count_as_nodes() -> None:
    text = "".join(f"k{n}: {n}\n" for n in range(10))  # the mapping, then key and value each
    assert refusal(text, max_nodes=20) == (
        "catalog/t.yaml:10:5: k9: more than 20 YAML nodes; split the file"
    )
    assert refusal(text, max_nodes=19) == (
        "catalog/t.yaml:10:1: k9: more than 19 YAML nodes; split the file"
    )
    assert load(text, max_nodes=21) == {f"k{n}": n for n in range(10)}


def test_text_over_the_size_limit_is_refused() -> None:
    assert refusal("a: 1234567\n", max_bytes=10) == (
        "catalog/t.yaml:1:1: file too large (11 bytes; the limit is 10); "
        "split it into smaller files"
    )
    assert refusal("名: x", max_bytes=5) == (  # the limit is on UTF-8 bytes, not characters
        "catalog/t.yaml:1:1: file too large (6 bytes; the limit is 5); split it into smaller files"
    )


# --- encodings ------------------------------------------------------------------------------


def test_latin_1_bytes_are_refused_with_their_offset() -> None:
    assert refusal("name: café\n".encode("latin-1")) == (
        "catalog/t.yaml:1:10: not UTF-8 text (invalid byte 0xe9 at offset 9); "
        "save the file as UTF-8"
    )


def test_utf_16_is_refused() -> None:
    assert refusal("a: b\n".encode("utf-16")) == (
        "catalog/t.yaml:1:1: not UTF-8 text (invalid byte 0xff at offset 0); save the file as UTF-8"
    )


def test_a_bad_byte_after_multibyte_characters_counts_columns_in_characters() -> None:
    assert refusal("a: 1\n名前: ".encode() + b"\xff\n") == (
        "catalog/t.yaml:2:5: not UTF-8 text (invalid byte 0xff at offset 13); "
        "save the file as UTF-8"
    )


def test_nul_bytes_are_refused() -> None:
    assert refusal(b"a: 1\nb: x\x00y\n") == (
        "catalog/t.yaml:2:5: NUL byte at offset 9: binary data, not text; remove it"
    )


def test_unpaired_surrogates_in_text_are_refused() -> None:
    assert refusal("a: 1\nb: \ud800\n") == (
        "catalog/t.yaml:2:4: not UTF-8 text (unpaired surrogate U+D800 at character 8); "
        "save the file as UTF-8"
    )


def test_a_utf_8_byte_order_mark_is_stripped_and_columns_ignore_it() -> None:
    document = load_yaml_text("\ufeffname: 咖啡\n".encode(), path="catalog/t.yaml")
    assert document.data == {"name": "咖啡"}
    assert document.strings[("name",)] == ScalarSource(Position(1, 7), None)


# --- positions ------------------------------------------------------------------------------

NESTED = """\
key: coffee
localeInfo:
  en_US:
    name: "Coffee {{ price }}"
    useRule:
      - first
      - 'second'
      - title: x
        body: |
          text
  zh_HK: {name: 咖啡, tags: [a, b]}
"""


def test_positions_of_nested_keys_and_list_items() -> None:
    document = load_yaml_text(NESTED, path="catalog/t.yaml")
    assert dict(document.positions) == {
        (): Position(1, 1),
        ("key",): Position(1, 1),
        ("localeInfo",): Position(2, 1),
        ("localeInfo", "en_US"): Position(3, 3),
        ("localeInfo", "en_US", "name"): Position(4, 5),
        ("localeInfo", "en_US", "useRule"): Position(5, 5),
        ("localeInfo", "en_US", "useRule", 0): Position(6, 9),
        ("localeInfo", "en_US", "useRule", 1): Position(7, 9),
        ("localeInfo", "en_US", "useRule", 2): Position(8, 9),
        ("localeInfo", "en_US", "useRule", 2, "title"): Position(8, 9),
        ("localeInfo", "en_US", "useRule", 2, "body"): Position(9, 9),
        ("localeInfo", "zh_HK"): Position(11, 3),
        ("localeInfo", "zh_HK", "name"): Position(11, 11),
        ("localeInfo", "zh_HK", "tags"): Position(11, 21),
        ("localeInfo", "zh_HK", "tags", 0): Position(11, 28),
        ("localeInfo", "zh_HK", "tags", 1): Position(11, 31),
    }


def test_strings_record_where_each_value_starts_and_its_style() -> None:
    document = load_yaml_text(NESTED + "folded: >\n  a\n  b\ncount: 3\n", path="catalog/t.yaml")
    assert dict(document.strings) == {
        ("key",): ScalarSource(Position(1, 6), None),
        ("localeInfo", "en_US", "name"): ScalarSource(Position(4, 11), '"'),
        ("localeInfo", "en_US", "useRule", 0): ScalarSource(Position(6, 9), None),
        ("localeInfo", "en_US", "useRule", 1): ScalarSource(Position(7, 9), "'"),
        ("localeInfo", "en_US", "useRule", 2, "title"): ScalarSource(Position(8, 16), None),
        ("localeInfo", "en_US", "useRule", 2, "body"): ScalarSource(Position(9, 15), "|"),
        ("localeInfo", "zh_HK", "name"): ScalarSource(Position(11, 17), None),
        ("localeInfo", "zh_HK", "tags", 0): ScalarSource(Position(11, 28), None),
        ("localeInfo", "zh_HK", "tags", 1): ScalarSource(Position(11, 31), None),
        ("folded",): ScalarSource(Position(12, 9), ">"),
    }


def test_a_scalar_root_has_a_position_and_a_source() -> None:
    document = load_yaml_text("\n  'just text'\n", path="catalog/t.yaml")
    assert document.data == "just text"
    assert dict(document.positions) == {(): Position(2, 3)}
    assert dict(document.strings) == {(): ScalarSource(Position(2, 3), "'")}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (("localeInfo", "en_US", "name"), Position(4, 5)),
        (("localeInfo", "en_US", "useRule", 2, "body"), Position(9, 9)),
        (("localeInfo", "en_US", "name", "nothing", 3), Position(4, 5)),
        (("localeInfo", "fr_FR", "name"), Position(2, 1)),
        (("missing",), Position(1, 1)),
        ((), Position(1, 1)),
    ],
)
def test_position_of_falls_back_to_the_nearest_recorded_ancestor(
    path: FieldPath, expected: Position
) -> None:
    assert load_yaml_text(NESTED, path="catalog/t.yaml").position_of(path) == expected


def test_position_of_in_an_empty_document_is_the_start() -> None:
    assert load_yaml_text("", path="x").position_of(("a", 0)) == Position(1, 1)


def test_the_document_is_read_only() -> None:
    document = load_yaml_text("a: b\n", path="x")
    assert ("a",) in document.positions
    assert ("b",) not in document.strings
    assert len(document.positions) == 2
    with pytest.raises(TypeError):
        document.positions[("z",)] = Position(1, 1)  # type: ignore[index]


def test_columns_count_characters_not_bytes() -> None:
    document = load_yaml_text("名前: 'x'\n", path="x")
    assert document.strings[("名前",)] == ScalarSource(Position(1, 5), "'")


# --- files ----------------------------------------------------------------------------------


def test_a_file_is_read_and_named_by_its_path(tmp_path: Path) -> None:
    file = tmp_path / "coffee.yaml"
    file.write_text(NESTED, encoding="utf-8")
    document = load_yaml_file(file)
    assert document.path == str(file)
    assert isinstance(document, YamlDocument)
    assert load_yaml_file(file, path="catalog/templates/coffee.yaml").path == (
        "catalog/templates/coffee.yaml"
    )


def test_errors_in_a_file_carry_its_display_path(tmp_path: Path) -> None:
    file = tmp_path / "coffee.yaml"
    file.write_text("enabled: NO\n", encoding="utf-8")
    with pytest.raises(YamlError) as caught:
        load_yaml_file(file, path="catalog/templates/coffee.yaml")
    assert str(caught.value) == (
        f"catalog/templates/coffee.yaml:1:10: enabled: NO {NORWAY_FIX} ('NO') if you mean the text"
    )


def test_a_latin_1_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "coffee.yaml"
    file.write_bytes("key: coffee\nname: Café\n".encode("latin-1"))
    with pytest.raises(YamlError) as caught:
        load_yaml_file(file, path="coffee.yaml")
    assert str(caught.value) == (
        "coffee.yaml:2:10: not UTF-8 text (invalid byte 0xe9 at offset 21); save the file as UTF-8"
    )


def test_an_empty_file_loads_as_none(tmp_path: Path) -> None:
    file = tmp_path / "empty.yaml"
    file.write_bytes(b"")
    assert load_yaml_file(file).data is None


def test_an_oversize_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    file = tmp_path / "huge.yaml"
    with file.open("wb") as handle:
        handle.truncate(1 << 34)  # 16 GiB, sparse: reading it would take far too long
    started = time.perf_counter()
    with pytest.raises(YamlError) as caught:
        load_yaml_file(file, path="huge.yaml")
    assert str(caught.value) == (
        "huge.yaml:1:1: file too large (17,179,869,184 bytes; the limit is 1,048,576); "
        "split it into smaller files"
    )
    assert time.perf_counter() - started < 1


def test_a_file_just_over_a_custom_limit_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_bytes(b"a: 123456\n")
    assert load_yaml_file(file, max_bytes=10).data == {"a": 123456}
    with pytest.raises(YamlError, match=r"file too large \(10 bytes; the limit is 9\)"):
        load_yaml_file(file, max_bytes=9)


def test_a_large_file_within_the_limit_loads(tmp_path: Path) -> None:
    file = tmp_path / "big.yaml"
    file.write_text("".join(f"k{n}: {'x' * 90}\n" for n in range(10_000)), encoding="utf-8")
    document = load_yaml_file(file)
    assert isinstance(document.data, dict)
    assert len(document.data) == 10_000
    assert document.position_of(("k9999",)) == Position(10_000, 1)


def test_reading_stops_at_the_limit_when_the_size_was_wrong() -> None:
    # A file that grew after fstat (or reports size 0, as /proc does) is read in chunks, and
    # never past the limit.
    reader, writer = os.pipe()
    try:
        os.write(writer, b"y" * 12_000)  # fits in any pipe buffer
        os.close(writer)
        assert loader._read_at_most(reader, 10_001, 0) == b"y" * 10_001
        assert loader._read_at_most(reader, 10_001, 0) == b"y" * 1_999
    finally:
        os.close(reader)


def test_a_missing_file_is_a_yaml_error(tmp_path: Path) -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml_file(tmp_path / "gone.yaml", path="gone.yaml")
    assert str(caught.value) == (
        "gone.yaml:1:1: cannot read the file (No such file or directory); "
        "check that it exists and is readable"
    )


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml_file(tmp_path, path="catalog")
    assert str(caught.value) == "catalog:1:1: not a regular file; the catalog holds plain files"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(YamlError) as caught:
        load_yaml_file(fifo, path="pipe.yaml")
    assert str(caught.value) == "pipe.yaml:1:1: not a regular file; the catalog holds plain files"


# --- the error type -------------------------------------------------------------------------


def test_yaml_error_is_invalid_input_with_its_parts() -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml_text("a:\n  b: [1, NO]\n", path="catalog/t.yaml")
    error = caught.value
    assert isinstance(error, InvalidInput)
    assert error.exit_code is ExitCode.INVALID_INPUT
    assert (error.path, error.line, error.column) == ("catalog/t.yaml", 2, 10)
    assert error.field == ("a", "b", 1)
    assert error.reason == f"NO {NORWAY_FIX} ('NO') if you mean the text"
    assert error.message == f"a.b[1]: {error.reason}"
    assert str(error) == f"catalog/t.yaml:2:10: {error.message}"


def test_yaml_error_can_be_raised_by_callers_positionally() -> None:
    error = YamlError("catalog/vars.yaml", 1, 1, "the top level must be a mapping")
    assert str(error) == "catalog/vars.yaml:1:1: the top level must be a mapping"
    assert error.field == ()


# --- the package's interface ---------------------------------------------------------------


def test_the_package_exports_every_public_name() -> None:
    # Callers import these from the package, so the modules behind it stay free to change.
    assert set(yamlsafe.__all__) >= {
        "DEFAULT_MAX_BYTES",
        "DEFAULT_MAX_DEPTH",
        "DEFAULT_MAX_NODES",
        "PlainData",
        "Position",
        "ScalarSource",
        "YamlDocument",
        "YamlError",
        "load_yaml_file",
        "load_yaml_text",
    }
    assert all(hasattr(yamlsafe, name) for name in yamlsafe.__all__)
    limits = (yamlsafe.DEFAULT_MAX_BYTES, yamlsafe.DEFAULT_MAX_DEPTH, yamlsafe.DEFAULT_MAX_NODES)
    assert limits == (1_048_576, 32, 100_000)


# --- the pure-Python parser gives the same answers ------------------------------------------

PARITY = [
    NESTED,
    "- a\n- [1, 2.5, ~]\n- {x: 'y'}\n",
    "a: 1\na: 2\n",
    "enabled: NO\n",
    "x: !!python/object/apply:os.system ['id']\n",
    "a: &x 1\n",
    "a: 1\n---\nb: 2\n",
    "a: b\x07\n",
    "a: 0777\n",
    "[" * 1100 + "]" * 1100,  # beyond libyaml's own nesting limit: both give the builder's answer
    "[\n" * 1100 + "]" * 1100,
]


@pytest.mark.parametrize("text", PARITY)
def test_without_libyaml_the_results_are_the_same(text: str) -> None:
    def run(parser: loader._ParserFactory) -> YamlDocument | tuple[int, int, str]:
        try:
            return loader._load(
                text.encode(), path="t.yaml", max_depth=32, max_nodes=1000, parser=parser
            )
        except YamlError as error:
            return error.line, error.column, error.message

    fast, slow = run(loader._PARSER), run(yaml.SafeLoader)
    if isinstance(fast, YamlDocument) and isinstance(slow, YamlDocument):
        assert (fast.data, dict(fast.positions), dict(fast.strings)) == (
            slow.data,
            dict(slow.positions),
            dict(slow.strings),
        )
    else:
        assert fast == slow


def test_libyaml_is_used_when_present() -> None:
    fast = pytest.importorskip("yaml._yaml")
    assert loader._PARSER is fast.CParser


# --- nothing but a document or a YamlError, for any input -----------------------------------

YAMLISH = st.text(alphabet=st.sampled_from(list("ab01-:.,'\"[]{}#&*!|>?%@` \t\n~_eE+xoé\x85")))


def _loads_or_refuses(text: str | bytes) -> None:
    started = time.perf_counter()
    outcome: YamlDocument | YamlError
    try:
        outcome = load_yaml_text(text, path="fuzz.yaml", max_bytes=4096)
    except YamlError as error:
        outcome = error
    if isinstance(outcome, YamlError):
        assert outcome.line >= 1
        assert outcome.column >= 1
        assert str(outcome).startswith(f"fuzz.yaml:{outcome.line}:{outcome.column}: ")
    assert time.perf_counter() - started < 1  # microseconds in practice; this catches blow-ups


FUZZ = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_never_escape(data: bytes) -> None:
    _loads_or_refuses(data)


@FUZZ
@given(st.text(max_size=300))
def test_random_text_never_escapes(text: str) -> None:
    _loads_or_refuses(text)


@FUZZ
@given(YAMLISH)
def test_yaml_like_text_never_escapes(text: str) -> None:
    _loads_or_refuses(text)


def test_nesting_deeper_than_the_python_stack_is_fine_when_allowed() -> None:
    # The builder is iterative: only max_depth limits nesting, never Python's recursion limit,
    # nor libyaml's own limit of 1,000 levels. (One bracket per line: PyYAML's own scanner is
    # quadratic in brackets that open on one line.)
    depth = sys.getrecursionlimit() * 2
    value = load("[\n" * depth + "]" * depth, max_depth=depth)
    levels = 0
    while isinstance(value, list):
        levels += 1
        value = value[0] if value else None
    assert levels == depth
