"""Strict YAML for untrusted catalog files: plain data plus where every value came from.

Anyone who can open a pull request can edit the catalog, and the pipeline that reads it holds the
signing key (RELIABILITY.md, invariant 8). So the loader reads the parser's events and builds the
data itself: anchors, aliases, merge keys and tags are refused instead of interpreted, and plain
scalars go through a small YAML 1.2-core-like table. The YAML 1.1 readings that surprise people
(`NO` -> false, `0777` -> 511, `1_000` -> 1000) are refused with a fix, never passed on.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Generic, Protocol, TypeAlias, TypeVar

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamStartEvent,
)

from reconciler.domain.problems import FieldPath, format_field_path
from reconciler.errors import InvalidInput

PlainData: TypeAlias = bool | int | float | str | list["PlainData"] | dict[str, "PlainData"] | None

DEFAULT_MAX_BYTES: Final = 1_048_576
DEFAULT_MAX_DEPTH: Final = 32
DEFAULT_MAX_NODES: Final = 100_000


@dataclass(frozen=True, slots=True)
class Position:
    """A place in a file, both numbers 1-based, as editors show them."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class ScalarSource:
    """Where a string value starts and how it was quoted, to locate errors inside the text."""

    position: Position  # for quoted scalars the opening quote, for block scalars the | or >
    style: str | None  # None plain, "'" single, '"' double, "|" literal, ">" folded


@dataclass(frozen=True)
class YamlDocument:
    """One parsed file: its data and the source position of every member and item.

    `positions` holds, for a mapping member, its key's position; for a sequence item, the item's
    start; for `()`, the root node. `strings` holds every string value (not keys).
    """

    path: str
    data: PlainData
    positions: Mapping[FieldPath, Position]
    strings: Mapping[FieldPath, ScalarSource]

    def position_of(self, path: FieldPath) -> Position:
        """The exact path, else its nearest recorded ancestor, else the start of the file."""
        positions = self.positions
        for end in range(len(path), -1, -1):
            found = positions.get(path[:end])
            if found is not None:
                return found
        return Position(1, 1)


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


def load_yaml_file(
    file: Path,
    *,
    path: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> YamlDocument:
    """Read and parse one file (`path` is the name shown in messages); the size is checked first."""
    shown = str(file) if path is None else path
    data = _read_capped(file, shown, max_bytes)
    return load_yaml_text(
        data, path=shown, max_bytes=max_bytes, max_depth=max_depth, max_nodes=max_nodes
    )


def load_yaml_text(
    text: str | bytes,
    *,
    path: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> YamlDocument:
    """Parse one YAML document (`path` is only shown in messages); empty input gives `None`."""
    data = _utf8(text, path, max_bytes)
    return _load(data, path=path, max_depth=max_depth, max_nodes=max_nodes, parser=_PARSER)


# --- parsing --------------------------------------------------------------------------------


class _EventSource(Protocol):
    def get_event(self) -> Event | None: ...
    def dispose(self) -> None: ...


_ParserFactory: TypeAlias = Callable[[bytes], _EventSource]

try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - without libyaml: the same events, several times slower
    _PARSER: _ParserFactory = yaml.SafeLoader
else:
    _PARSER = _CParser


def _load(
    data: bytes, *, path: str, max_depth: int, max_nodes: int, parser: _ParserFactory
) -> YamlDocument:
    builder = _TreeBuilder(max_depth, max_nodes)
    try:
        root = _parse(data, parser, builder)
    except _Refused as refused:
        line, column = refused.where
        raise YamlError(path, line, column, refused.message, field=refused.field) from None
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(path, data, error) from None
    except yaml.YAMLError as error:  # the reader's complaint about a character
        raise _reader_error(path, data, error) from None
    positions = _OnDemand(builder.positions, _to_position)
    return YamlDocument(path, root, positions, _OnDemand(builder.strings, _to_source))


def _parse(data: bytes, parser: _ParserFactory, builder: _TreeBuilder) -> PlainData:
    events = parser(data)  # PyYAML's reader already checks characters here
    try:
        return builder.build(events.get_event)
    finally:
        events.dispose()


_Raw = TypeVar("_Raw")
_Made = TypeVar("_Made")
_Where: TypeAlias = tuple[int, int]  # (line, column), 1-based
_StringWhere: TypeAlias = tuple[int, int, str | None]  # (line, column, style)


class _OnDemand(Mapping[FieldPath, _Made], Generic[_Raw, _Made]):
    """A read-only mapping that makes its values from plain tuples when they are read.

    Positions are recorded for every node but read only to locate problems; making a frozen
    dataclass per node up front costs about a fifth of the load time.
    """

    __slots__ = ("_make", "_raw")

    def __init__(self, raw: dict[FieldPath, _Raw], make: Callable[[_Raw], _Made]) -> None:
        self._raw = raw
        self._make = make

    def __getitem__(self, path: FieldPath) -> _Made:
        return self._make(self._raw[path])

    def __contains__(self, path: object) -> bool:
        return path in self._raw

    def __iter__(self) -> Iterator[FieldPath]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return repr(dict(self))


def _to_position(where: _Where) -> Position:
    return Position(where[0], where[1])


def _to_source(where: _StringWhere) -> ScalarSource:
    return ScalarSource(Position(where[0], where[1]), where[2])


# --- bytes in -------------------------------------------------------------------------------

_BOM: Final = b"\xef\xbb\xbf"


def _read_capped(file: Path, shown: str, max_bytes: int) -> bytes:
    # O_NONBLOCK: a FIFO planted in the catalog is refused below instead of waiting for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(file, flags)
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise YamlError(shown, 1, 1, "not a regular file; the catalog holds plain files")
            _check_size(shown, status.st_size, max_bytes)
            return _read_at_most(descriptor, max_bytes + 1, status.st_size)
        finally:
            os.close(descriptor)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise YamlError(
            shown, 1, 1, f"cannot read the file ({reason}); check that it exists and is readable"
        ) from None


def _read_at_most(descriptor: int, limit: int, expected: int) -> bytes:
    # Ask for the size fstat gave (plus one to see growth), never for the whole limit: a 1 MiB
    # buffer per small file costs more than parsing it.
    chunks: list[bytes] = []
    total = 0
    request = min(expected + 1, limit)
    while total < limit:
        chunk = os.read(descriptor, min(request, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        request = 1 << 16
    return b"".join(chunks)


def _check_size(shown: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise YamlError(
            shown,
            1,
            1,
            f"file too large ({size:,} bytes; the limit is {max_bytes:,}); "
            "split it into smaller files",
        )


def _utf8(text: str | bytes, shown: str, max_bytes: int) -> bytes:
    """Validated UTF-8 without a byte-order mark, within the size limit."""
    data = _encode(text, shown) if isinstance(text, str) else text
    _check_size(shown, len(data), max_bytes)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line, column = _byte_where(data, error.start)
        raise YamlError(
            shown,
            line,
            column,
            f"not UTF-8 text (invalid byte 0x{data[error.start]:02x} at offset {error.start}); "
            "save the file as UTF-8",
        ) from None
    nul = data.find(b"\x00")
    if nul >= 0:
        line, column = _byte_where(data, nul)
        raise YamlError(
            shown, line, column, f"NUL byte at offset {nul}: binary data, not text; remove it"
        )
    return data[len(_BOM) :] if data.startswith(_BOM) else data


def _encode(text: str, shown: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:  # lone surrogates, e.g. from a bad decode upstream
        line, column = _text_where(text, error.start)
        code = ord(text[error.start])
        raise YamlError(
            shown,
            line,
            column,
            f"not UTF-8 text (unpaired surrogate U+{code:04X} at character {error.start}); "
            "save the file as UTF-8",
        ) from None


def _byte_where(data: bytes, offset: int) -> _Where:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _text_where(text: str, index: int) -> _Where:
    return text.count("\n", 0, index) + 1, index - text.rfind("\n", 0, index)


# --- parser errors --------------------------------------------------------------------------

_TAB_HINT: Final = "indent with spaces, not tabs"
_SYNTAX_HINTS: Final = (
    ("quoted scalar", "close the quote"),
    ("mapping values are not allowed", "check the indentation, or quote a value containing ': '"),
    ("did not find expected", "check the brackets, commas and indentation"),
)
_DEFAULT_HINT: Final = "check the indentation and quoting on this line and the one before"

# libyaml's reader refuses everything outside YAML's printable set.
_NON_PRINTABLE: Final = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _syntax_error(shown: str, data: bytes, error: yaml.MarkedYAMLError) -> YamlError:
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
    clues = f"{error.problem} {error.context}"
    return next((hint for clue, hint in _SYNTAX_HINTS if clue in clues), _DEFAULT_HINT)


def _reader_error(shown: str, data: bytes, error: yaml.YAMLError) -> YamlError:
    # libyaml reports byte offsets and PyYAML character offsets, so find the character again.
    text = data.decode("utf-8")
    found = _NON_PRINTABLE.search(text)
    if found is None:
        return YamlError(shown, 1, 1, f"invalid YAML: {error}")
    line, column = _text_where(text, found.start())
    code = ord(found.group())
    return YamlError(
        shown,
        line,
        column,
        f"control character U+{code:04X} is not allowed in YAML; remove it, "
        f'or write it as "\\u{code:04X}" inside double quotes',
    )


# --- plain scalars --------------------------------------------------------------------------


class _Refused(Exception):
    """A rule broken at the current event; the tree builder adds where it happened."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.where: _Where = (1, 1)
        self.field: FieldPath = ()


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


def _resolve_plain(text: str) -> PlainData:
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
        raise _Refused(
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
        raise _Refused(
            f"{text} has a leading zero, which YAML 1.1 reads as octal: "
            f"quote it if it is a code ('{text}'), or drop the zero"
        )
    if _FLOAT.fullmatch(text):
        number = float(text)
        if not math.isfinite(number):
            raise _Refused(f"{text} is not a finite number; use a smaller one, or quote it")
        return number
    if text.lstrip("+-").lower() in _INFINITY_OR_NAN:
        raise _Refused(f"{text} is not a finite number; use a number, or quote it ('{text}')")
    if "_" in text and any(number.fullmatch(text.replace("_", "")) for number in _NUMBERS):
        raise _Refused(
            f"{text} has _ between digits, which YAML 1.1 reads as a number: "
            f"write it without _, or quote it ('{text}') if it is a code"
        )
    return text


def _integer(text: str, digits: str, base: int) -> int:
    if len(digits) > _MAX_DIGITS:
        raise _Refused(
            f"number too large ({len(digits)} digits, at most {_MAX_DIGITS}); "
            "quote it if it is an identifier"
        )
    return int(text if base == 10 else digits, base)


# --- events to data -------------------------------------------------------------------------

_ALIAS: Final = (
    "anchors and aliases are not allowed; repeat the value or use a shared variable in vars.yaml"
)
_MERGE: Final = (
    "merge keys (<<) are not allowed; write the keys out, or use a shared variable in vars.yaml"
)
_COMPLEX_KEY: Final = "a list or mapping cannot be a mapping key; keys must be text"
_SEVERAL_DOCUMENTS: Final = (
    "more than one YAML document in the file; keep one per file and remove this '---' line"
)
_CORE_TAG: Final = "tag:yaml.org,2002:"

_Frame: TypeAlias = tuple[dict[str, PlainData] | None, list[PlainData] | None, FieldPath]


def _where(event: Event) -> _Where:
    mark = event.start_mark
    if mark is None:  # pragma: no cover - both parsers always set marks
        return 1, 1
    return mark.line + 1, mark.column + 1


class _TreeBuilder:
    """Builds plain data in one pass over parser events, recording where each value starts.

    The open collection is `mapping` or `sequence` (both None at the document level) and `stack`
    holds the enclosing ones. In a mapping, `key` is None while a key is expected.
    """

    __slots__ = (
        "brace",
        "event",
        "key",
        "key_path",
        "mapping",
        "max_depth",
        "max_nodes",
        "nodes",
        "positions",
        "prefix",
        "root",
        "sequence",
        "stack",
        "strings",
    )

    def __init__(self, max_depth: int, max_nodes: int) -> None:
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.nodes = 0
        self.mapping: dict[str, PlainData] | None = None
        self.sequence: list[PlainData] | None = None
        self.prefix: FieldPath = ()
        self.key: str | None = None
        self.key_path: FieldPath = ()
        self.stack: list[_Frame] = []
        self.root: PlainData = None
        self.positions: dict[FieldPath, _Where] = {}
        self.strings: dict[FieldPath, _StringWhere] = {}
        self.event: Event | None = None  # the event being handled, to locate errors
        self.brace: _Where | None = None  # where the last flow mapping opened

    def build(self, next_event: Callable[[], Event | None]) -> PlainData:
        """Consume events to the end of the stream; a refusal is located at the last event."""
        try:
            return self.consume(next_event)
        except _Refused as refused:
            event = self.event
            if event is not None:
                refused.where = _where(event)
                refused.field = self.field_at(event)
            raise

    def consume(self, next_event: Callable[[], Event | None]) -> PlainData:
        documents = 0
        while True:
            self.event = event = next_event()
            if isinstance(event, ScalarEvent):  # most events, so tested first
                self.scalar(event)
            elif isinstance(event, CollectionEndEvent):
                self.mapping, self.sequence, self.prefix = self.stack.pop()
            elif isinstance(event, MappingStartEvent):
                self.start(event, {}, None)
            elif isinstance(event, SequenceStartEvent):
                self.start(event, None, [])
            elif isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _Refused(_SEVERAL_DOCUMENTS)
            elif isinstance(event, AliasEvent):
                raise _Refused(_ALIAS)
            elif not isinstance(event, StreamStartEvent | DocumentEndEvent):
                return self.root  # the end of the stream

    def scalar(self, event: ScalarEvent) -> None:
        self.count(event)
        style = event.style or None  # libyaml says "" for plain, PyYAML says None
        value = event.value if style else _resolve_plain(event.value)
        mapping = self.mapping
        if mapping is None:
            path = self.place(event, value)
        elif self.key is None:
            self.take_key(event, value, mapping)
            return
        else:
            mapping[self.key] = value
            self.key = None
            path = self.key_path
        if value.__class__ is str:
            mark = _where(event)
            self.strings[path] = (mark[0], mark[1], style)

    def start(
        self,
        event: CollectionStartEvent,
        mapping: dict[str, PlainData] | None,
        sequence: list[PlainData] | None,
    ) -> None:
        self.count(event)
        if len(self.stack) >= self.max_depth:
            raise _Refused(f"nested deeper than {self.max_depth} levels; flatten the structure")
        collection = mapping if mapping is not None else sequence
        if self.mapping is None:
            path = self.place(event, collection)
        elif self.key is None:
            raise _Refused(_COMPLEX_KEY + self.template_hint(event))
        else:
            self.mapping[self.key] = collection
            self.key = None
            path = self.key_path
        self.stack.append((self.mapping, self.sequence, self.prefix))
        self.mapping, self.sequence, self.prefix = mapping, sequence, path
        if event.flow_style and mapping is not None:
            self.brace = _where(event)

    def template_hint(self, event: CollectionStartEvent) -> str:
        # `name: {{ price }}` reads as a flow mapping whose key is another flow mapping.
        line, column = _where(event)
        if event.flow_style and self.brace == (line, column - 1):
            return '; a value that starts with {{ must be quoted: "{{ ... }}"'
        return ""

    def count(self, event: ScalarEvent | CollectionStartEvent) -> None:
        if event.anchor is not None:
            raise _Refused(_ALIAS)
        if event.tag is not None:
            raise _Refused(_tag_refusal(event.tag))
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise _Refused(f"more than {self.max_nodes:,} YAML nodes; split the file")

    def place(self, event: NodeEvent, value: PlainData) -> FieldPath:
        """Append to the open sequence, or make the document's root; record where it starts."""
        sequence = self.sequence
        if sequence is None:
            path: FieldPath = ()
            self.root = value
        else:
            path = (*self.prefix, len(sequence))
            sequence.append(value)
        self.positions[path] = _where(event)
        return path

    def take_key(self, event: ScalarEvent, key: PlainData, mapping: dict[str, PlainData]) -> None:
        if not isinstance(key, str):
            raise _Refused(_key_refusal(event.value, key))
        if key == "<<" and not event.style:
            raise _Refused(_MERGE)
        path = (*self.prefix, key)
        if key in mapping:
            raise _Refused(
                f"duplicate key {key!r} (first defined on line {self.positions[path][0]}); "
                "remove one of them or merge their contents"
            )
        self.positions[path] = _where(event)
        self.key = key
        self.key_path = path

    def field_at(self, event: Event) -> FieldPath:
        """The path of the value being read when `event` arrived, for messages."""
        if self.mapping is not None:
            if self.key is not None:
                return self.key_path
            return (*self.prefix, event.value) if isinstance(event, ScalarEvent) else self.prefix
        if self.sequence is not None:
            return (*self.prefix, len(self.sequence))
        return ()


def _tag_refusal(tag: str) -> str:
    shown = f"!!{tag[len(_CORE_TAG) :]}" if tag.startswith(_CORE_TAG) else tag
    return (
        f"tags are not allowed (found {shown}); remove it: values are plain text, numbers, "
        "true/false, lists and mappings"
    )


def _key_refusal(text: str, key: PlainData) -> str:
    if not text:
        return "empty key, read as null; write a name before the ':'"
    kind = "null" if key is None else "a boolean" if isinstance(key, bool) else "a number"
    return f"the key {text} is read as {kind}, not text; quote it ('{text}') if it is a name"
