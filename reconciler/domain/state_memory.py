"""Keeping a large state small in memory: one object for what its records repeat.

A state of 30,000 records holds a million strings, most of them repeated in every record (the
keys `description` and `en_US`, the same links, merchant ids and timestamps), and each pydantic
model keeps its own set of the names of the fields it was given (about 700 bytes for a record).
A state is read once and then only looked at, so equal strings and numbers can be one object
each, and records given the same fields can share one set: the same data in about half the
memory. These helpers do that; `reconciler.domain.state` calls them while it reads a file.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel


class NotWhole(ValueError):
    """A fraction in parsed state data: orjson reads a whole number beyond 64 bits as one."""


class Repeats:
    """The first copy of each string and whole number met so far."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.numbers: dict[int, int] = {}

    def share_in(self, data: object) -> None:
        """Replace, in place, every string value and whole number inside the parsed JSON `data`
        (a dict or list) by the first equal one met. Keys are left as they are: orjson already
        makes equal keys one object. Nothing else changes.

        Raises `NotWhole` at a fraction: ipass writes none, and orjson reads a whole number
        beyond 64 bits as one, so such data must be read by a parser that keeps it whole."""
        pending = [data]
        while pending:
            node = pending.pop()
            # Setting the value of a key already there, or an item of a list, while going over
            # it changes no size: the iteration is unaffected.
            if isinstance(node, dict):
                for key, value in node.items():
                    node[key] = self._one(value, pending)
            elif isinstance(node, list):
                for index, value in enumerate(node):
                    node[index] = self._one(value, pending)

    def _one(self, value: object, pending: list[object]) -> object:
        kind = type(value)
        if kind is str:
            return self.strings.setdefault(value, value)  # type: ignore[arg-type]
        if kind is int:  # never a bool: True == 1, but it is not the same JSON
            return self.numbers.setdefault(value, value)  # type: ignore[arg-type]
        if kind is dict or kind is list:
            pending.append(value)
        elif kind is float:
            raise NotWhole(repr(value))
        return value


def share_field_sets(models: Iterable[BaseModel]) -> None:
    """Models given the same fields share one set of their names.

    pydantic reads the set (`model_fields_set`) and copies it before a `model_copy` adds to it;
    only assignment to a field would change it in place, and these models are frozen.
    """
    names: dict[frozenset[str], set[str]] = {}
    for model in models:
        given = model.model_fields_set
        shared = names.setdefault(frozenset(given), given)
        if shared is not given:
            object.__setattr__(model, "__pydantic_fields_set__", shared)
