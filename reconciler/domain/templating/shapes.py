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

# A name no value can use: a value that spells it is never given a shape.
TEXT_NAME: Final = "_ipass_text_"
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


@dataclass(frozen=True, slots=True)
class Shape:
    """`key`: the markup, then for each place around it the number of lines its text spans (-1
    for no text); `texts`: the value's texts in source order."""

    key: tuple[str | int, ...]
    texts: tuple[str, ...]


def shape_of(source: str) -> Shape | None:
    """The value's shape, or None if it has no text or is not one this module is sure of."""
    if "\r" in source or TEXT_NAME in source:
        return None  # Jinja turns \r\n into \n inside texts; the name is ours
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
    texts = tuple(text for text in between if text)
    if not texts:
        return None
    lines = tuple(text.count("\n") if text else -1 for text in between)
    return Shape((*markup, *lines), texts)


_NAMES: Final = tuple(f"{TEXT_NAME}{index}" for index in range(64))


def text_names(texts: tuple[str, ...]) -> dict[str, str]:
    """The render-time variables holding a value's texts."""
    if len(texts) <= len(_NAMES):
        return dict(zip(_NAMES, texts, strict=False))
    return {f"{TEXT_NAME}{index}": text for index, text in enumerate(texts)}


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
