"""Bytes in, `YamlDocument` out: size and encoding checked first, then libyaml's event parser."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol, TypeAlias

import yaml
from yaml.events import Event

from reconciler.domain.yamlsafe.builder import TreeBuilder
from reconciler.domain.yamlsafe.document import (
    OnDemand,
    PlainData,
    Where,
    YamlDocument,
    to_position,
    to_source,
)
from reconciler.domain.yamlsafe.errors import (
    Refused,
    YamlError,
    is_parser_nesting_limit,
    parser_nesting_error,
    reader_error,
    syntax_error,
    text_where,
)

DEFAULT_MAX_BYTES: Final = 1_048_576
DEFAULT_MAX_DEPTH: Final = 32
DEFAULT_MAX_NODES: Final = 100_000


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


def read_yaml_bytes(file: Path, *, path: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """A file's bytes exactly as `load_yaml_file` reads them (no link followed, nothing but a
    regular file, the size checked first), for a caller that parses them with `load_yaml_text`
    only when it needs to (the render cache keys on the bytes)."""
    return _read_capped(file, path, max_bytes)


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

# PyYAML's own parser: iterative, so it has no nesting limit of its own; several times slower.
_UNLIMITED: _ParserFactory = yaml.SafeLoader

try:
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - without libyaml: the same events, several times slower
    _PARSER: _ParserFactory = _UNLIMITED
else:
    _PARSER = _CParser


def _load(
    data: bytes, *, path: str, max_depth: int, max_nodes: int, parser: _ParserFactory
) -> YamlDocument:
    builder = TreeBuilder(max_depth, max_nodes)
    try:
        root = _parse(data, parser, builder)
    except Refused as refused:
        line, column = refused.where
        raise YamlError(path, line, column, refused.message, field=refused.field) from None
    except yaml.MarkedYAMLError as error:
        if not is_parser_nesting_limit(error):
            raise syntax_error(path, data, error) from None
        if parser is not _UNLIMITED:
            # libyaml (0.2.6 and later) stops at 1,000 levels, and may do so while reading ahead
            # of the events the builder has seen, before the builder reaches `max_depth`. Parsing
            # again without that limit gives the same answer as without libyaml: the builder's
            # refusal at the first level too deep, with its field, or the document when
            # `max_depth` allows it. Only hostile or generated files get here. PyYAML's parser
            # reads about 1 MiB in 1.5 s before the builder stops it; with `max_depth` above
            # 1,000, brackets opened on one line make it quadratic (keep the default of 32).
            return _load(
                data, path=path, max_depth=max_depth, max_nodes=max_nodes, parser=_UNLIMITED
            )
        raise parser_nesting_error(path, error, max_depth) from None
    except yaml.YAMLError as error:  # the reader's complaint about a character
        raise reader_error(path, data, error) from None
    positions = OnDemand(builder.positions, to_position)
    return YamlDocument(path, root, positions, OnDemand(builder.strings, to_source))


def _parse(data: bytes, parser: _ParserFactory, builder: TreeBuilder) -> PlainData:
    events = parser(data)  # PyYAML's reader already checks characters here
    try:
        return builder.build(events.get_event)
    finally:
        events.dispose()


# --- bytes in -------------------------------------------------------------------------------

_BOM: Final = b"\xef\xbb\xbf"


# O_NONBLOCK: a FIFO planted in the catalog is refused below instead of waiting for a writer.
# O_NOFOLLOW: a symlink (even one swapped in after the caller checked the name) is refused, so
# nothing outside the catalog is read through it.
_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
)


def _read_capped(file: Path, shown: str, max_bytes: int) -> bytes:
    try:
        descriptor = os.open(file, _OPEN_FLAGS)
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise YamlError(shown, 1, 1, "not a regular file; the catalog holds plain files")
            _check_size(shown, status.st_size, max_bytes)
            return _read_at_most(descriptor, max_bytes + 1, status.st_size)
        finally:
            os.close(descriptor)
    except OSError as error:
        if error.errno == errno.ELOOP:  # what O_NOFOLLOW gives for a symlink
            raise YamlError(shown, 1, 1, "symlink refused; put the file itself here") from None
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
        line, column = text_where(text, error.start)
        code = ord(text[error.start])
        raise YamlError(
            shown,
            line,
            column,
            f"not UTF-8 text (unpaired surrogate U+{code:04X} at character {error.start}); "
            "save the file as UTF-8",
        ) from None


def _byte_where(data: bytes, offset: int) -> Where:
    line_start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column
