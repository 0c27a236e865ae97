"""Input rows for passes, read as a stream: CSV (a header, UTF-8 with or without a BOM) or JSON
Lines (one object per line). Memory stays flat in the number of rows.

Row numbers are what a person finds in the file: for CSV the header is row 1 (as a spreadsheet
shows it), for JSON Lines the line number.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from reconciler.domain.jsonsafe import StrictJsonError, strict_loads
from reconciler.domain.templating import PlainData
from reconciler.errors import InvalidInput

MAX_FIELD: Final = 64 * 1024
JSONL_SUFFIXES: Final = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class InputRow:
    """One row: its columns, or why it could not be read (`problem`)."""

    number: int
    values: dict[str, PlainData]
    problem: str | None = None


class _Hashing:
    """Text lines from a binary file, hashing every byte read (the file must not change)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self._handle:
            self.digest.update(raw)
            self.line += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise InvalidInput(
                    f"line {self.line}: not UTF-8 (byte {error.start + 1} of the line)",
                    hint="save the file as UTF-8",
                ) from None
            yield text.removeprefix("\ufeff") if self.line == 1 else text


class RowFile:
    """`rows()` streams the file; `digest` is the SHA-256 of everything read so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lines: _Hashing | None = None

    @property
    def digest(self) -> str:
        return "" if self._lines is None else self._lines.digest.hexdigest()

    def rows(self) -> Iterator[InputRow]:
        try:
            handle = self.path.open("rb")
        except OSError as error:
            raise InvalidInput.refused(self.path, "read the input", error) from None
        with handle:
            self._lines = _Hashing(handle)
            try:
                if self.path.suffix.lower() in JSONL_SUFFIXES:
                    yield from _jsonl(self._lines)
                else:
                    yield from _csv(self._lines)
            except InvalidInput as error:
                raise InvalidInput(f"{self.path}: {error.message}", hint=error.hint) from None


def _jsonl(lines: _Hashing) -> Iterator[InputRow]:
    for text in lines:
        if not text.strip():
            continue
        try:
            value = strict_loads(text)
        except StrictJsonError as error:
            yield InputRow(lines.line, {}, f"not a JSON object: {error}")
            continue
        if not isinstance(value, dict):
            yield InputRow(lines.line, {}, "each line must be a JSON object")
            continue
        yield InputRow(lines.line, value)


def _csv(lines: _Hashing) -> Iterator[InputRow]:
    reader = csv.reader(lines, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as error:
        raise InvalidInput(f"row 1: {error}") from None
    if not header or not any(h.strip() for h in header):
        raise InvalidInput("row 1: no header: the first row names the columns")
    names = [h.strip() for h in header]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated or "" in names:
        raise InvalidInput(f"row 1: column names must be unique and not empty: {duplicated}")
    number = 1
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield InputRow(number, {}, f"not readable as CSV: {error}")
            continue
        if not cells:
            continue
        if len(cells) != len(names):
            yield InputRow(number, {}, f"{len(cells)} cells where the header has {len(names)}")
            continue
        if any(len(cell) > MAX_FIELD for cell in cells):
            yield InputRow(number, {}, f"a cell longer than {MAX_FIELD} characters")
            continue
        yield InputRow(number, dict(zip(names, cells, strict=True)))
