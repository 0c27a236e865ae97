"""What a load gives back: plain data, and where each of its values starts in the file."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from reconciler.domain.problems import FieldPath

PlainData: TypeAlias = bool | int | float | str | list["PlainData"] | dict[str, "PlainData"] | None

# What the builder records per node: plain tuples, made into the dataclasses below only when read.
Where: TypeAlias = tuple[int, int]  # (line, column), 1-based
StringWhere: TypeAlias = tuple[int, int, str | None]  # (line, column, style)


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


_Raw = TypeVar("_Raw")
_Made = TypeVar("_Made")


class OnDemand(Mapping[FieldPath, _Made], Generic[_Raw, _Made]):
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


def to_position(where: Where) -> Position:
    return Position(where[0], where[1])


def to_source(where: StringWhere) -> ScalarSource:
    return ScalarSource(Position(where[0], where[1]), where[2])
