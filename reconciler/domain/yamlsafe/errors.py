"""`YamlError`, the one exception callers see, and the parser's complaints translated into it."""

from __future__ import annotations

import re
from typing import Final

import yaml

from reconciler.domain.problems import FieldPath, format_field_path
from reconciler.domain.yamlsafe.document import Where
from reconciler.errors import InvalidInput


class YamlError(InvalidInput):
    """A file that is not acceptable YAML; `str()` is `path:line:column: message`.

    When the problem belongs to a value, `field` is its path and `message` starts with it in
    dotted form (`localeInfo.en_US.name: ...`), so the line reads like a located `Problem`;
    `reason` is the message without that prefix.
    """

    def __init__(
        self, path: str, line: int, column: int, message: str, *, field: FieldPath = ()
    ) -> None:
        super().__init__(f"{format_field_path(field)}: {message}" if field else message)
        self.path = path
        self.line = line
        self.column = column
        self.field = field
        self.reason = message

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class Refused(Exception):
    """A rule broken at the current event; the tree builder adds where it happened.

    Internal to the package: the loader turns it into a `YamlError`.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: Where = (1, 1)
        self.field: FieldPath = ()


# --- parser errors --------------------------------------------------------------------------

# Hints come from the text at the parser's marks, never from its wording, which differs between
# libyaml and the pure-Python parser and between their versions.
_TAB_HINT: Final = "indent with spaces, not tabs"
_QUOTE_HINT: Final = "close the quote"
_FLOW_HINT: Final = "check the brackets, commas and indentation"
_COLON_HINT: Final = "check the indentation, or quote a value containing ': '"
_DEFAULT_HINT: Final = "check the indentation and quoting on this line and the one before"

# libyaml 0.2.6 and later stop at their own nesting limit (1,000 levels) with this problem text;
# older libyaml and PyYAML's pure-Python parser have no limit.
_PARSER_NESTING: Final = "maximum nesting depth"

# libyaml's reader refuses everything outside YAML's printable set.
_NON_PRINTABLE: Final = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def too_deep(max_depth: int) -> str:
    """The one message for nesting beyond the limit, whoever noticed it first."""
    return f"nested deeper than {max_depth:,} levels; flatten the structure"


def is_parser_nesting_limit(error: yaml.MarkedYAMLError) -> bool:
    """Whether the parser gave up on nesting depth (its own limit), not on the syntax."""
    return _PARSER_NESTING in (error.problem or "")


def parser_nesting_error(shown: str, error: yaml.MarkedYAMLError, max_depth: int) -> YamlError:
    """The parser's own nesting limit, in our words, where the parser stopped."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return YamlError(
        shown,
        line,
        column,
        f"nested deeper than the YAML parser allows (the catalog allows {max_depth:,} levels); "
        "flatten the structure",
    )


def syntax_error(shown: str, data: bytes, error: yaml.MarkedYAMLError) -> YamlError:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = error.problem or error.context or "not valid YAML"
    context = error.context if error.problem else None
    if context and error.context_mark is not None and error.context_mark.line + 1 != line:
        context = f"{context} started on line {error.context_mark.line + 1}"
    described = f"{problem} ({context})" if context else problem
    return YamlError(
        shown, line, column, f"invalid YAML: {described}; {_syntax_hint(data, line, column, error)}"
    )


def _syntax_hint(data: bytes, line: int, column: int, error: yaml.MarkedYAMLError) -> str:
    lines = data.decode("utf-8").splitlines()
    text = lines[line - 1] if line <= len(lines) else ""
    if "\t" in text[: len(text) - len(text.lstrip(" \t")) + 1] or "\t" in text[column - 1 : column]:
        return _TAB_HINT
    started = _character_at(lines, error.context_mark) if error.problem else ""
    if started in ("'", '"'):  # a quoted scalar that never ends
        return _QUOTE_HINT
    if started in ("[", "{"):  # a flow collection that never closes properly
        return _FLOW_HINT
    if _character_at(lines, error.problem_mark) == ":":  # a second ': ' on a line, or misindented
        return _COLON_HINT
    return _DEFAULT_HINT


def _character_at(lines: list[str], mark: yaml.Mark | None) -> str:
    """The character at a parser mark (both parsers count columns in characters), or ''."""
    if mark is None or mark.line >= len(lines):
        return ""
    return lines[mark.line][mark.column : mark.column + 1]


def reader_error(shown: str, data: bytes, error: yaml.YAMLError) -> YamlError:
    # libyaml reports byte offsets and PyYAML character offsets, so find the character again.
    text = data.decode("utf-8")
    found = _NON_PRINTABLE.search(text)
    if found is None:
        return YamlError(shown, 1, 1, f"invalid YAML: {error}")
    line, column = text_where(text, found.start())
    code = ord(found.group())
    return YamlError(
        shown,
        line,
        column,
        f"control character U+{code:04X} is not allowed in YAML; remove it, "
        f'or write it as "\\u{code:04X}" inside double quotes',
    )


def text_where(text: str, index: int) -> Where:
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)
