"""What an entry says about its own life, beside the fields AlipayHK receives.

In a pull-request workflow the merge is the only approval, so every intent apply acts on is
written in the catalog and reviewed in the diff (none of these is sent to AlipayHK):

- `revision: N` (default 1): raising it publishes a new template for a published entry;
- `moved_from: OLD` (a key or a list): a rename that keeps the published template;
- `adopt: TEMPLATE_CODE`: the template already exists at AlipayHK (made by hand);
- `retired: true`: retire the entry (its file stays; nothing is rendered);
- `tags: [a, b]`: labels for `--select tag:NAME`.

`catalog/retired.yaml` retires keys whose files are gone (or single `for_each` items): a mapping
of key to the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from reconciler.domain.contract.identifiers import template_code_problem
from reconciler.domain.problems import FieldPath, Problem, format_field_path
from reconciler.domain.retirement import Retirement
from reconciler.domain.templating import PlainData
from reconciler.domain.yamlsafe import YamlDocument

INTENT_KEYS: Final = frozenset({"revision", "moved_from", "adopt", "retired", "tags"})
REVISION_MAX: Final = 10_000
TAGS_MAX: Final = 20
_TAG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
# A catalog key, including a for_each item: `gift-card[100]`.
_ENTRY_KEY = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(\[[A-Za-z0-9][A-Za-z0-9 ._:/+-]{0,63}\])?$"
)


@dataclass(frozen=True)
class Intents:
    revision: int = 1
    moved_from: tuple[str, ...] = ()
    adopt: str | None = None
    retired: bool = False
    tags: tuple[str, ...] = ()


# Renders one string written in the catalog (moved_from may name `old[{{ each.key }}]`);
# returns None when rendering failed (the problem is already recorded).
Render = Callable[[str, FieldPath], PlainData]


def read_intents(
    data: Mapping[str, PlainData],
    document: YamlDocument,
    problems: list[Problem],
    render: Render,
) -> Intents:
    """The entry's intents; each wrong one is a located problem (and takes its default)."""
    report = _Reporter(document, problems)
    return Intents(
        revision=_revision(data.get("revision", 1), report),
        moved_from=_moved_from(data.get("moved_from"), report, render),
        adopt=_adopt(data.get("adopt"), report),
        retired=_retired(data.get("retired", False), report),
        tags=_tags(data.get("tags"), report),
    )


@dataclass(frozen=True)
class _Reporter:
    document: YamlDocument
    problems: list[Problem]

    def __call__(self, loc: FieldPath, message: str) -> None:
        where = self.document.position_of(loc)
        self.problems.append(
            Problem(self.document.path, where.line, where.column, format_field_path(loc), message)
        )


def _revision(value: PlainData, report: _Reporter) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= REVISION_MAX:
        report(("revision",), f"must be a whole number from 1 to {REVISION_MAX:,}")
        return 1
    return value


def _moved_from(value: PlainData, report: _Reporter, render: Render) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    found: list[str] = []
    for index, item in enumerate(items):
        loc: FieldPath = ("moved_from", index) if isinstance(value, list) else ("moved_from",)
        shown = render(item, loc) if isinstance(item, str) else item
        if shown is None:
            continue
        if not isinstance(shown, str) or not _ENTRY_KEY.match(shown):
            report(loc, "must name a catalog key (or a list of them), e.g. coffee-voucher")
            continue
        found.append(shown)
    return tuple(found)


def _adopt(value: PlainData, report: _Reporter) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        report(("adopt",), "must be the templateCode AlipayHK gave the template, as text")
        return None
    problem = template_code_problem(value)
    if problem is not None:
        report(("adopt",), f"templateCode {problem}")
        return None
    return value


def _retired(value: PlainData, report: _Reporter) -> bool:
    if not isinstance(value, bool):
        report(("retired",), "must be true or false")
        return False
    return value


def _tags(value: PlainData, report: _Reporter) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > TAGS_MAX:
        report(("tags",), f"must be a list of at most {TAGS_MAX} tags, e.g. [launch, food]")
        return ()
    tags: list[str] = []
    for index, tag in enumerate(value):
        if not isinstance(tag, str) or not _TAG.match(tag):
            report(("tags", index), "a tag is 1-32 lower-case letters, digits, . _ or -")
            continue
        tags.append(tag)
    return tuple(dict.fromkeys(tags))


def load_retired(document: YamlDocument | None) -> tuple[dict[str, Retirement], list[Problem]]:
    """`catalog/retired.yaml`: `KEY: reason` for each key retired without its file."""
    if document is None or document.data is None:
        return {}, []
    problems: list[Problem] = []
    report = _Reporter(document, problems)
    if not isinstance(document.data, dict):
        report((), "must be a mapping of retired keys to the reason, e.g. `old-promo: ended`")
        return {}, problems
    found: dict[str, Retirement] = {}
    for key, reason in document.data.items():
        if not _ENTRY_KEY.match(key):
            report((key,), "is not a catalog key")
            continue
        if not isinstance(reason, str) or not reason.strip():
            report((key,), "give the reason as text, e.g. `promotion ended`")
            continue
        line = document.position_of((key,)).line
        found[key] = Retirement(key, f"{document.path}:{line}", reason.strip())
    return found, problems
