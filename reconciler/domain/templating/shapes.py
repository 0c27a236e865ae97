"""Values that differ only in their text share one compiled template.

Compiling a value costs one to two milliseconds (Jinja's parser and code generator, then Python's
`compile()`), and a realistic catalog holds thousands of descriptions, each its own text around
the same few expressions: `{{ money(price) }} for any coffee (usually {{ money(was) }}).` Such
values have one *shape*: the same markup (`{{ ... }}`, `{% ... %}`) at the same lines, with other
text between. One template is compiled per shape, with each text replaced by a name only this
module can spell; rendering passes the value's own texts under those names.

Sharing is exact because the shape pins everything Jinja reads except the texts: the markup
(character for character), where each text stands and how many lines it spans. Jinja's lexer
splits a value into texts and markup the same way whatever the texts say, its parser builds the
same tree around them, and every compile-time check (literals, forbidden tags, `self`, loops)
looks only at the markup. Errors keep their line (the lines are the same) and column (located in
the value's own source). A shape that tells its texts apart as Jinja does is all this module
needs; anything it is not sure of -- comments, `raw` blocks, whitespace control (`{{-`, `-%}`),
braces inside an expression, `\\r` -- is no shape, and the value is compiled on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from jinja2 import nodes
from jinja2.visitor import NodeTransformer

# Names no value can use: a value that spells the prefix is never given a shape.
NAME_PREFIX: Final = "_ipass_"
TEXT_NAME: Final = "_ipass_text_"
NUMBER_NAME: Final = "_ipass_number_"
# Jinja's own string literal (jinja2.lexer.string_re).
_STRING: Final = r"""'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*\""""
# `{{ ... }}` and `{% ... %}` without whitespace control, braces, comments or backslashes outside
# strings. With no brace in it, the first `}}` (`%}`) outside a string is where Jinja ends the tag
# too: an unclosed `(` or `[` before it makes Jinja fail on the `}`, never read past it.
# Possessive repeats: a tag that does not close fails at once instead of backtracking.
_MARKUP: Final = re.compile(
    rf"""(\{{\{{(?![-+])(?:[^{{}}'"#\\]++|{_STRING})*+(?<![-+])\}}\}}"""
    rf"""|\{{%(?![-+])(?:[^{{}}'"#\\%]++|%(?!\}})|{_STRING})*+(?<![-+])%\}})"""
)
_OPENER: Final = re.compile(r"\{[{%#]")
# In a tag: a string (group 1, kept as written), or a whole number of up to 18 digits that is not
# part of a name, a float, `1_000`, `0x1f`, `007` or `x.0` (group 2): Jinja's int literal.
_NUMBER: Final = re.compile(rf"({_STRING})|(?<![\w.])([1-9][0-9]{{0,17}}|0)(?![\w.])")
_DIGIT: Final = re.compile(r"[0-9]")
_HOLE: Final = "#"  # where a number was: never outside a string in a tag `_MARKUP` accepts
# Numbers stand in for the literals while the shared template is compiled: `with_sentinels`.
_SENTINEL: Final = 987_654_321_000_000_000
_NUMBER_BITS: Final = 64  # with a smaller max_int_bits, literals stay in the shape


@dataclass(frozen=True, slots=True)
class Shape:
    """`key`: the markup (each whole-number literal a `#`), then for each place around it the
    number of lines its text spans (-1 for no text); `texts`: the value's texts and `numbers` its
    literals, in source order."""

    key: tuple[str | int, ...]
    texts: tuple[str, ...]
    numbers: tuple[int, ...] = ()


def shape_of(source: str, max_bits: int = 0) -> Shape | None:
    """The value's shape, or None if it has no text or number or is not one this module is sure
    of. Literals are taken out of the markup only if `max_bits` (the limit on numbers) is 64 or
    more, so that none of them could be refused."""
    if "\r" in source or NAME_PREFIX in source:
        return None  # Jinja turns \r\n into \n inside texts; the names are ours
    parts = _MARKUP.split(source)
    markup, between = parts[1::2], parts[0::2]  # between: "" where two tags touch
    if not markup:
        return None
    # An opener left in a text, or a `{` just before a tag, is markup this module did not read as
    # Jinja does: give up rather than guess. (\0 stands between the texts when searching them.)
    joined = "\0".join(between)
    if _OPENER.search(joined) is not None or "{\0" in joined:
        return None
    for tag in markup:
        if tag.startswith("{%") and tag[2:-2].strip() == "raw":
            return None
    numbers: list[int] = []
    if max_bits >= _NUMBER_BITS:
        markup = [_take_numbers(tag, numbers) if _DIGIT.search(tag) else tag for tag in markup]
    texts = tuple(text for text in between if text)
    if not texts and not numbers:
        return None
    lines = tuple(text.count("\n") if text else -1 for text in between)
    return Shape((*markup, *lines), texts, tuple(numbers))


def _take_numbers(tag: str, numbers: list[int]) -> str:
    def hole(found: re.Match[str]) -> str:
        if found[1] is not None:
            return found[0]
        numbers.append(int(found[2]))
        return _HOLE

    return _NUMBER.sub(hole, tag)


def with_sentinels(source: str) -> str:
    """`source` with its literals (those `shape_of` took out) numbered from `_SENTINEL` up."""
    parts = _MARKUP.split(source)
    count = 0

    def sentinel(found: re.Match[str]) -> str:
        nonlocal count
        if found[1] is not None:
            return found[0]
        count += 1
        return str(_SENTINEL + count - 1)

    parts[1::2] = [_NUMBER.sub(sentinel, tag) for tag in parts[1::2]]
    return "".join(parts)


_NAMES: Final = tuple(f"{TEXT_NAME}{index}" for index in range(64))


def shape_names(shape: Shape) -> dict[str, str | int]:
    """The render-time variables holding a value's texts and numbers."""
    texts = shape.texts
    names: dict[str, str | int]
    if len(texts) <= len(_NAMES):
        names = dict(zip(_NAMES, texts, strict=False))
    else:
        names = {f"{TEXT_NAME}{index}": text for index, text in enumerate(texts)}
    for index, number in enumerate(shape.numbers):
        names[f"{NUMBER_NAME}{index}"] = number
    return names


def name_texts(tree: nodes.Template, texts: tuple[str, ...]) -> bool:
    """Replaces the template's texts with the names `text_names` fills, in place. False (tree
    untouched) unless its texts are exactly `texts`, in that order."""
    found = list(tree.find_all(nodes.TemplateData))
    if [node.data for node in found] != list(texts):
        return False
    index = {id(node): number for number, node in enumerate(found)}
    for output in tree.find_all(nodes.Output):
        output.nodes = [
            nodes.Name(f"{TEXT_NAME}{index[id(child)]}", "load", lineno=child.lineno)
            if isinstance(child, nodes.TemplateData)
            else child
            for child in output.nodes
        ]
    return True


class _NameNumbers(NodeTransformer):
    def __init__(self, count: int) -> None:
        self.count = count
        self.found: list[int] = []

    def visit_Const(self, node: nodes.Const) -> nodes.Node:
        value = node.value
        if type(value) is int and _SENTINEL <= value < _SENTINEL + self.count:
            self.found.append(value - _SENTINEL)
            return nodes.Name(f"{NUMBER_NAME}{value - _SENTINEL}", "load", lineno=node.lineno)
        return node


def name_numbers(tree: nodes.Template, count: int) -> bool:
    """Replaces the `count` sentinels of a tree parsed from `with_sentinels` with the names
    `shape_names` fills, in place. False unless each was found exactly once (the tree is then
    not to be used)."""
    if not count:
        return True
    naming = _NameNumbers(count)
    naming.visit(tree)
    return sorted(naming.found) == list(range(count))
