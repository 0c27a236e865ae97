"""Selectors: which entries a command acts on (`--select`, `--exclude`, `--target`).

A selector is one of:

- an exact key: `coffee-voucher`, `gift-card[100]`;
- a glob over keys, where only `*` (any text) and `?` (one character) are wild and brackets are
  literal, since they belong to `for_each` keys: `gift-card[*]`, `*-2027`;
- a catalog folder or file: `templates/tickets/`, `catalog/templates/coffee.yaml`;
- `tag:NAME` (the entry's `tags:`), `product:MOVIE`, `type:COUPON`.

Several selectors combine as a union; excludes are then taken away. A selector that matches
nothing is an error (with a guess), so a typo never turns into "no changes".
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from reconciler.errors import InvalidInput

Kind = Literal["key", "glob", "path", "tag", "product", "type"]
_PREFIXES: Final[dict[str, Kind]] = {"tag:": "tag", "product:": "product", "type:": "type"}


@dataclass(frozen=True)
class Candidate:
    """What a selector can see of an entry (from the catalog, or its recorded template)."""

    key: str
    source: str | None  # `catalog/templates/x.yaml:3`, if known
    product: str | None
    type: str | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Selector:
    text: str
    kind: Kind
    value: str

    def matches(self, entry: Candidate) -> bool:
        match self.kind:
            case "key":
                return entry.key == self.value
            case "glob":
                return _glob(self.value).fullmatch(entry.key) is not None
            case "path":
                return _in_path(entry.source, self.value)
            case "tag":
                return self.value in entry.tags
            case "product":
                return entry.product == self.value
            case "type":
                return entry.type == self.value


def parse_selector(text: str) -> Selector:
    """Read one selector; refuse an empty one or one with an empty value."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidInput("an empty selector selects nothing", hint="give a key, glob or tag:NAME")
    for prefix, kind in _PREFIXES.items():
        if cleaned.startswith(prefix):
            value = cleaned[len(prefix) :]
            if not value:
                raise InvalidInput(f"selector {cleaned!r} names no {kind}")
            return Selector(cleaned, kind, value.upper() if kind != "tag" else value)
    if "/" in cleaned or cleaned.endswith((".yaml", ".yml")):
        return Selector(cleaned, "path", _relative(cleaned))
    if "*" in cleaned or "?" in cleaned:
        return Selector(cleaned, "glob", cleaned)
    return Selector(cleaned, "key", cleaned)


@dataclass(frozen=True)
class Selection:
    """The keys chosen, and how many of the candidates were left outside."""

    keys: frozenset[str]
    outside: int


def select(
    candidates: Sequence[Candidate], selects: Iterable[str], excludes: Iterable[str]
) -> Selection:
    """Union of `selects` (all when none), minus `excludes`; every selector must match."""
    chosen_in = [parse_selector(text) for text in selects]
    chosen_out = [parse_selector(text) for text in excludes]
    for selector, flag in [
        *((s, "--select") for s in chosen_in),
        *((s, "--exclude") for s in chosen_out),
    ]:
        if not any(selector.matches(entry) for entry in candidates):
            raise _matches_nothing(selector, flag, candidates)
    keys = {
        entry.key
        for entry in candidates
        if (not chosen_in or any(s.matches(entry) for s in chosen_in))
        and not any(s.matches(entry) for s in chosen_out)
    }
    return Selection(frozenset(keys), len(candidates) - len(keys))


def _matches_nothing(
    selector: Selector, flag: str, candidates: Sequence[Candidate]
) -> InvalidInput:
    pool = _pool(selector, candidates)
    guesses = difflib.get_close_matches(selector.value, sorted(pool), n=1)
    family = _for_each_family(selector, candidates)
    if family:
        files = sorted({_relative(e.source.rsplit(":", 1)[0]) for e in family if e.source})
        where = f" (or the file, {files[0]!r})" if len(files) == 1 else ""
        hint = (
            f"{selector.value!r} is a for_each file's base name: {selector.value + '[*]'!r} "
            f"selects all {len(family)} of its entries{where}, "
            f"{family[0].key!r} one of them"
        )
    elif guesses:
        shown = (
            guesses[0]
            if selector.kind in ("key", "glob", "path")
            else f"{selector.kind}:{guesses[0]}"
        )
        hint = f"did you mean {shown!r}?"
    else:
        hint = (
            "`ipass validate` and `ipass state list` show the keys; selectors are keys, globs "
            "(gift-card[*]), folders (templates/tickets/), tag:NAME, product:NAME, type:NAME"
        )
    return InvalidInput(f"{flag} {selector.text!r} matches no entry", hint=hint)


def _for_each_family(selector: Selector, candidates: Sequence[Candidate]) -> list[Candidate]:
    """The entries of a `for_each` file whose keys are `selector`'s key with an `[each]` suffix."""
    if selector.kind != "key":
        return []
    prefix = selector.value + "["
    return sorted(
        (e for e in candidates if e.key.startswith(prefix) and e.key.endswith("]")),
        key=lambda e: e.key,
    )


def _pool(selector: Selector, candidates: Sequence[Candidate]) -> set[str]:
    match selector.kind:
        case "key" | "glob":
            return {entry.key for entry in candidates}
        case "path":
            return {
                _relative(entry.source.rsplit(":", 1)[0]) for entry in candidates if entry.source
            }
        case "tag":
            return {tag for entry in candidates for tag in entry.tags}
        case "product":
            return {entry.product for entry in candidates if entry.product}
        case "type":
            return {entry.type for entry in candidates if entry.type}


def _glob(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts))


def _relative(path: str) -> str:
    """`catalog/templates/x.yaml` and `templates/x.yaml` name the same file."""
    text = path.strip().lstrip("./")
    return text[len("catalog/") :] if text.startswith("catalog/") else text


def _in_path(source: str | None, wanted: str) -> bool:
    if source is None:
        return False
    file = _relative(source.rsplit(":", 1)[0])
    if wanted.endswith("/"):
        return file.startswith(wanted)
    return file == wanted or file.startswith(wanted + "/")
