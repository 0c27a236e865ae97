"""The catalog: YAML files in, validated createTemplate contents out, every problem located.

Layout (all optional but `templates/`; `catalog_files` finds and reads them):

    catalog/vars.yaml            shared variables (plain data, never rendered)
    catalog/vars.<env>.yaml      per-environment overrides of those variables
    catalog/defaults.yaml        createTemplate fields every entry inherits (rendered per entry)
    catalog/macros/*.j2          Jinja macros, callable by name in any value
    catalog/templates/**.yaml    one template per file; the file's stem is its key

YAML is parsed strictly first; then each string value is rendered in the sandbox; then the
result is validated against the vendor's createTemplate rules. Nothing is rendered twice.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Final

from pydantic import JsonValue

from reconciler.domain.catalog_files import var_name_refusal
from reconciler.domain.catalog_intents import INTENT_KEYS, Intents, read_intents
from reconciler.domain.catalog_tree import TEMPLATED, Shape, shape_of
from reconciler.domain.contract.codes import ResultCode
from reconciler.domain.contract.rules import (
    Violation,
    check_template_content,
    checked_start_ms,
    start_date_violation,
)
from reconciler.domain.payload import content_payload, payload_digest
from reconciler.domain.problems import FieldPath, Problem, format_field_path
from reconciler.domain.retirement import Retirement
from reconciler.domain.templating import (
    BudgetName,
    BudgetProblem,
    CatalogBudget,
    PlainData,
    RenderCost,
    Renderer,
    TemplateProblem,
    describe_cost,
    needs_rendering,
)
from reconciler.domain.yamlsafe import YamlDocument, YamlError, load_yaml_file, load_yaml_text

META_KEYS: Final = frozenset({"key", "vars", "for_each"}) | INTENT_KEYS
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ITEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:/+-]{0,63}$")


@dataclass(frozen=True)
class CatalogEntry:
    """One template as the catalog describes it, validated, with the body it sends."""

    key: str
    file: str
    line: int
    # The request body without requestId (merchantId included) and its SHA-256, computed where
    # the entry is validated (a worker process, for large catalogs): plain data travels cheaply.
    payload: dict[str, JsonValue]
    payload_hash: str
    # What the entry says about its own life (catalog_intents); never sent.
    intents: Intents = field(default_factory=Intents)


@dataclass(frozen=True)
class InvalidEntry:
    """An entry that rendered but failed validation: the body it would send, unvalidated, for
    `ipass preview` to show, and its problems. Never sent.

    The body is kept as JSON text: it may hold anything the catalog wrote (fractions, NaN, lone
    surrogates), which travels between processes and through the render cache unchanged as text
    (the cache's strict reader refuses such numbers, rightly, in data).
    """

    key: str
    file: str
    line: int
    tree_json: str
    problems: tuple[Problem, ...]
    tags: tuple[str, ...] = ()

    def tree(self) -> dict[str, JsonValue]:
        value = json.loads(self.tree_json)
        return value if isinstance(value, dict) else {}


def tree_json(tree: Mapping[str, PlainData] | Mapping[str, JsonValue]) -> str:
    return json.dumps(tree, ensure_ascii=True, separators=(",", ":"))


@dataclass(frozen=True)
class SharedInputs:
    """What every catalog file is rendered with: loaded once per run.

    Nothing here depends on the time or on the state, so a file's result depends only on these,
    the macros and the file itself (a render cache keys on them); the start-date rule, which
    depends on both, is checked afterwards on every run (`check_start_dates`).
    """

    environment: str
    merchant_id: str
    variables: Mapping[str, PlainData]
    defaults: YamlDocument | None
    # Where the defaults need rendering (`catalog_tree`): found once, not once per entry.
    defaults_shape: Shape = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        data = self.defaults.data if self.defaults is not None else None
        object.__setattr__(self, "defaults_shape", shape_of(data))


@dataclass(frozen=True)
class StartCheck:
    """An entry's start date, located, for the one rule that depends on the time of day and on
    the state: before it is published, an entry may not start in the past.

    `entry` is the index in its file's `entries` of the entry this rule would invalidate (None
    when the entry is invalid anyway: the rule's problem is still reported beside the others).
    """

    key: str
    adopted: bool
    start_ms: int
    file: str
    line: int
    column: int
    note: str
    entry: int | None


@dataclass(frozen=True)
class BudgetStop:
    """Where rendering stopped because the catalog's budget ran out, and which budget."""

    where: Problem
    budget: BudgetName


@dataclass
class LoadedCatalog:
    entries: list[CatalogEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Every key a file defines, valid or not, so duplicates are caught even in broken files.
    keys: list[tuple[str, str]] = field(default_factory=list)
    # Entries the file declares retired (`retired: true`): not rendered, not validated.
    retired: list[Retirement] = field(default_factory=list)
    # What rendering the file cost, for naming the heaviest files when the catalog's budget runs
    # out; and whether it ran out here (`stopped`) or before the file was rendered (`skipped`).
    file: str = ""
    cost: RenderCost = field(default_factory=RenderCost)
    stopped: BudgetStop | None = None
    skipped: BudgetName | None = None
    # Start dates to check against the time of this run (`check_start_dates`).
    start_checks: list[StartCheck] = field(default_factory=list)
    # Entries that rendered but are invalid, with what they would send.
    invalid: list[InvalidEntry] = field(default_factory=list)


# Wall-clock budget for rendering all values of one file: a backstop for loop bombs.
FILE_RENDER_SECONDS: Final = 2.0
# A file that took more than this share of its deadline may fail on a busier machine: its
# result depends on the time taken, so it is not worth keeping (`reusable`).
_STEADY_SHARE: Final = 0.5


def load_files(
    files: Sequence[tuple[Path, str]],
    shared: SharedInputs,
    macro_sources: Mapping[str, str],
    budget: CatalogBudget | None = None,
) -> list[LoadedCatalog]:
    """Load, render and validate template files (path, shown name); one result per file, in order.

    Self-contained (it builds its own renderer), so a process pool can run it on a share of files;
    `budget` is what rendering all of `files` may cost together.
    """
    renderer = Renderer(macro_sources, budget=budget)
    results = []
    with _collector_spares_results() as done:
        for path, shown in files:
            done()
            try:
                document = load_yaml_file(path, path=shown)
            except YamlError as error:
                results.append(LoadedCatalog(problems=[yaml_problem(error)]))
                continue
            results.append(render_file(shown, document, shared, renderer))
    return results


def render_sources(
    sources: Sequence[tuple[str, bytes]],
    shared: SharedInputs,
    macro_sources: Mapping[str, str],
    budget: CatalogBudget | None = None,
) -> list[LoadedCatalog]:
    """`load_files` over files already read: (shown name, bytes) pairs, one result each."""
    renderer = Renderer(macro_sources, budget=budget)
    results = []
    with _collector_spares_results() as done:
        for shown, data in sources:
            done()
            try:
                document = load_yaml_text(data, path=shown)
            except YamlError as error:
                results.append(LoadedCatalog(problems=[yaml_problem(error)]))
                continue
            results.append(render_file(shown, document, shared, renderer))
    return results


# Files rendered between two freezes of what is alive (`_collector_spares_results`).
_FREEZE_EVERY: Final = 256


@contextmanager
def _collector_spares_results() -> Iterator[Callable[[], None]]:
    """The cyclic garbage collector leaves the results made so far alone while files render.

    Results only grow, and the collector's full collections walk every object alive: over a
    catalog of thousands of files they cost more the further it gets (about a tenth of the
    work at 10,000 entries). Every `_FREEZE_EVERY` files, what is alive is moved out of its
    reach (`gc.freeze`, which costs nothing per object); at the end it is handed back
    (`gc.unfreeze`), so any garbage cycle left meanwhile is collected as usual afterwards.
    Reference counting frees everything else as it goes. Nothing is frozen when someone else
    already froze objects (their freeze is theirs to undo).
    """
    ours = gc.get_freeze_count() == 0
    count = 0

    def done() -> None:
        nonlocal count
        count += 1
        if ours and count % _FREEZE_EVERY == 0:
            gc.freeze()

    try:
        yield done
    finally:
        if ours and count >= _FREEZE_EVERY:
            gc.unfreeze()


def reusable(result: LoadedCatalog) -> bool:
    """True if `result` depends only on its inputs (not on the budget left or the time taken), so
    it may be used again for the same inputs instead of rendering the file."""
    if result.stopped is not None or result.skipped is not None:
        return False
    return result.cost.render_seconds < FILE_RENDER_SECONDS * _STEADY_SHARE


def check_start_dates(
    result: LoadedCatalog, now_ms: int, published: frozenset[str]
) -> LoadedCatalog:
    """`result` with the start-date rule applied at `now_ms`: an entry neither published nor
    adopted that starts before then is a problem, and is no longer a valid entry.

    Returns `result` itself when nothing changes; never modifies it (it may be shared).
    """
    fired = [
        (check, violation)
        for check in result.start_checks
        if not check.adopted and check.key not in published
        for violation in (start_date_violation(check.start_ms, now_ms),)
        if violation is not None
    ]
    if not fired:
        return result
    found = {
        check.key: Problem(
            check.file,
            check.line,
            check.column,
            format_field_path(violation.loc),
            f"{violation.message}{check.note}",
            str(violation.code),
        )
        for check, violation in fired
    }
    dropped = {check.entry for check, _ in fired}
    entries = [entry for index, entry in enumerate(result.entries) if index not in dropped]
    invalid = [
        dataclasses.replace(entry, problems=(*entry.problems, found[entry.key]))
        if entry.key in found
        else entry
        for entry in result.invalid
    ]
    invalid += [
        InvalidEntry(
            entry.key,
            entry.file,
            entry.line,
            tree_json(entry.payload),
            (found[entry.key],),
            entry.intents.tags,
        )
        for index, entry in enumerate(result.entries)
        if index in dropped
    ]
    return dataclasses.replace(
        result, entries=entries, problems=[*result.problems, *found.values()], invalid=invalid
    )


def render_file(
    path: str, document: YamlDocument, shared: SharedInputs, renderer: Renderer
) -> LoadedCatalog:
    """`load_file` under the file's deadline, with what it cost; once the catalog's budget is
    spent, files are no longer rendered."""
    if renderer.budget_spent is not None:
        return LoadedCatalog(file=path, skipped=renderer.budget_spent)
    before = renderer.cost
    try:
        # One timer per file, not per value: arming costs more than a cached render.
        with renderer.deadline(FILE_RENDER_SECONDS):
            out = load_file(path, document, shared, renderer)
    except _BudgetSpentAt as spent:
        out = LoadedCatalog(stopped=spent.stop)
    out.file, out.cost = path, renderer.cost.minus(before)
    return out


def budget_problem(results: Sequence[LoadedCatalog], budget: CatalogBudget) -> Problem | None:
    """One problem where the catalog's budget ran out first, naming the costliest files."""
    stop = next((result.stopped for result in results if result.stopped is not None), None)
    skipped = [result for result in results if result.skipped is not None]
    if stop is None:
        if not skipped or skipped[0].skipped is None:
            return None
        # The time ran out between two values, after the last one was rendered.
        stop = BudgetStop(Problem(skipped[0].file, 1, 1, "", ""), skipped[0].skipped)
        where = "rendering stopped before this file"
    else:
        where = "rendering stopped here"
    name = stop.budget
    costs = sorted(
        (result for result in results if result.file and result.cost.of(name) > 0),
        key=lambda result: -result.cost.of(name),
    )
    heaviest = ", ".join(f"{r.file} ({describe_cost(r.cost, name)})" for r in costs[:3])
    limit = budget.limit(name)
    shown = f"{limit:g}" if name == "render_seconds" else str(int(limit))
    message = (
        f"{where}: the catalog's budget {name}={shown} (all files together) is spent; "
        f"heaviest files: {heaviest or 'none'}"
    )
    if skipped:
        message += f"; {len(skipped)} file{'s' if len(skipped) != 1 else ''} not rendered"
    return dataclasses.replace(stop.where, message=message)


def yaml_problem(error: YamlError) -> Problem:
    return Problem(
        error.path, error.line, error.column, format_field_path(error.field), error.reason
    )


def load_file(
    path: str, document: YamlDocument, shared: SharedInputs, renderer: Renderer
) -> LoadedCatalog:
    """One template file: zero or more entries (for_each), or its problems."""
    out = LoadedCatalog()
    data = document.data
    if not isinstance(data, dict) or not data:
        out.problems.append(Problem(path, 1, 1, "", "a template file must be a mapping of fields"))
        return out
    base_key = _base_key(path, data, document, out.problems)
    entry_vars = _entry_vars(data, document, out.problems, renderer)
    items = _items(data, document, out.problems)
    if out.problems or base_key is None:
        return out
    content = {k: v for k, v in data.items() if k not in META_KEYS}
    content_shape = shape_of(content)
    for item_key, each in items:
        since = len(out.problems)
        key = base_key if item_key is None else f"{base_key}[{item_key}]"
        out.keys.append((key, path))
        context: dict[str, PlainData] = {**shared.variables, **entry_vars}
        context.update(environment=shared.environment, key=key)
        if each is not None:
            context["each"] = each
        job = _RenderJob(key, renderer, context, out.problems)
        # An intent string may use the entry's context: `moved_from: old[{{ each.key }}]`.
        intents = read_intents(data, document, out.problems, partial(job.tree, document=document))
        if intents.retired:
            line = document.position_of(("retired",)).line
            out.retired.append(Retirement(key, f"{path}:{line}", "retired: true in its file"))
            continue
        entry = job.entry(content, content_shape, document, shared)
        if entry is not None:
            _validate(
                key,
                entry,
                document,
                shared,
                out,
                unrendered=job.unrendered,
                intents=intents,
                since=since,
            )
    return out


def _base_key(
    path: str, data: dict[str, PlainData], document: YamlDocument, problems: list[Problem]
) -> str | None:
    key = data.get("key", Path(path).stem)
    if not isinstance(key, str) or not _KEY.match(key):
        where = document.position_of(("key",))
        problems.append(
            Problem(
                path,
                where.line,
                where.column,
                "key",
                f"{key!r} is not a valid key: 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit (rename the file or set `key:`)",
            )
        )
        return None
    return key


def _entry_vars(
    data: dict[str, PlainData],
    document: YamlDocument,
    problems: list[Problem],
    renderer: Renderer,
) -> dict[str, PlainData]:
    raw = data.get("vars", {})
    if not isinstance(raw, dict):
        _item_problem(document, ("vars",), problems, "must be a mapping of names to values")
        return {}
    for name in raw:
        refusal = var_name_refusal(name, renderer.reserved_meaning)
        if refusal is not None:
            _item_problem(document, ("vars", name), problems, refusal)
    return raw


def _items(
    data: dict[str, PlainData], document: YamlDocument, problems: list[Problem]
) -> list[tuple[str | None, PlainData]]:
    """(item key, `each`) pairs: one (None, None) when the file has no for_each."""
    if "for_each" not in data:
        return [(None, None)]
    raw = data["for_each"]
    pairs: list[tuple[str, PlainData]] = []
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            if isinstance(item, bool) or not isinstance(item, str | int):
                _item_problem(
                    document,
                    ("for_each", index),
                    problems,
                    "list items must be text or whole numbers; use a mapping for richer items",
                )
                continue
            pairs.append((str(item), {"key": str(item), "value": item}))
    elif isinstance(raw, dict):
        pairs = [(k, {"key": k, "value": v}) for k, v in raw.items()]
    else:
        _item_problem(document, ("for_each",), problems, "must be a list or a mapping")
        return []
    if not pairs and not problems:
        _item_problem(document, ("for_each",), problems, "is empty: it would produce no entries")
    for name, _ in pairs:
        if not _ITEM.match(name):
            _item_problem(
                document,
                ("for_each", name),
                problems,
                f"{name!r} cannot be part of a key: 1-64 letters, digits, spaces or ._:/+-",
            )
    return [(name, each) for name, each in pairs]


def _item_problem(
    document: YamlDocument, loc: FieldPath, problems: list[Problem], message: str
) -> None:
    where = document.position_of(loc)
    problems.append(
        Problem(document.path, where.line, where.column, format_field_path(loc), message)
    )


class _Walk:
    """No shape given: every node is visited."""


_WALK: Final = _Walk()


class _BudgetSpentAt(Exception):
    """The catalog's budget ran out while rendering a value: rendering stops there."""

    def __init__(self, stop: BudgetStop) -> None:
        super().__init__(stop.where.message)
        self.stop = stop


@dataclass
class _RenderJob:
    """Rendering one entry: its key, its context, and where its problems go.

    A value that fails to render is reported and left out (`unrendered`); the other fields are
    still rendered and the entry still validated, so one run shows every problem of the entry.
    """

    key: str
    renderer: Renderer
    context: Mapping[str, PlainData]
    problems: list[Problem]
    unrendered: list[FieldPath] = field(default_factory=list)

    def entry(
        self,
        content: dict[str, PlainData],
        shape: Shape,
        document: YamlDocument,
        shared: SharedInputs,
    ) -> dict[str, PlainData] | None:
        """The entry's fields over the catalog defaults, each rendered where it was written.

        A default that reads only what every entry shares (`{{ cdn }}`) renders once for all
        (`Renderer.render_shared`); one that reads the entry's `key` renders for each entry.
        """
        rendered = self.tree(content, (), document, shape)
        own = len(self.unrendered)
        inherited: PlainData = {}
        defaults = shared.defaults
        if defaults is not None and defaults.data is not None:
            inherited = self.tree(
                defaults.data, (), defaults, shared.defaults_shape, self.renderer.render_shared
            )
        # A default that failed is reported, but matters only where the entry does not replace it.
        self.unrendered[own:] = [p for p in self.unrendered[own:] if not _sets(rendered, p)]
        merged = _merge(inherited, rendered)
        for path in self.unrendered:
            _leave_out(merged, path)
        return merged if isinstance(merged, dict) else None

    def tree(
        self,
        value: PlainData,
        path: FieldPath,
        document: YamlDocument,
        shape: Shape | _Walk = _WALK,
        render: Callable[[str, Mapping[str, PlainData]], PlainData] | None = None,
    ) -> PlainData:
        """`value` rendered: with its `shape`, only the strings and containers it marks are
        visited (everything else is `value`'s own data, never changed); without, all of it."""
        if not isinstance(shape, _Walk):
            return self._shaped(value, path, document, shape, render or self.renderer.render)
        if isinstance(value, str):
            if not needs_rendering(value):
                return value
            return self._render(value, path, document, self.renderer.render)
        if isinstance(value, dict):
            return {k: self.tree(v, (*path, k), document) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, (*path, i), document) for i, v in enumerate(value)]
        return value

    def _shaped(
        self,
        value: PlainData,
        path: FieldPath,
        document: YamlDocument,
        shape: Shape,
        render: Callable[[str, Mapping[str, PlainData]], PlainData],
    ) -> PlainData:
        if shape is None:
            return value
        if shape is TEMPLATED and isinstance(value, str):
            return self._render(value, path, document, render)
        if isinstance(shape, dict) and isinstance(value, dict):
            mapping = dict(value)
            for key, inner in shape.items():
                if isinstance(key, str):
                    mapping[key] = self._shaped(value[key], (*path, key), document, inner, render)
            return mapping
        if isinstance(shape, dict) and isinstance(value, list):
            items = list(value)
            for index, inner in shape.items():
                if isinstance(index, int):
                    items[index] = self._shaped(
                        value[index], (*path, index), document, inner, render
                    )
            return items
        return self.tree(value, path, document)  # a shape of other data: walk it all

    def _render(
        self,
        value: str,
        path: FieldPath,
        document: YamlDocument,
        render: Callable[[str, Mapping[str, PlainData]], PlainData],
    ) -> PlainData:
        try:
            return render(value, self.context)
        except BudgetProblem as error:
            where = _template_problem(document, path, error, self.key)
            raise _BudgetSpentAt(BudgetStop(where, error.name)) from None
        except TemplateProblem as error:
            self.problems.append(_template_problem(document, path, error, self.key))
            self.unrendered.append(path)
            return None


def _template_problem(
    document: YamlDocument, path: FieldPath, error: TemplateProblem, key: str
) -> Problem:
    """Map a line and column inside the template back to the YAML file."""
    source = document.strings.get(path)
    if source is None:
        where = document.position_of(path)
        line, column = where.line, where.column
    else:
        # Block scalars (| and >) start on the line after their indicator.
        block = source.style in ("|", ">")
        line = source.position.line + error.line - 1 + (1 if block else 0)
        column = source.position.column
        if error.column is not None:
            if error.line == 1 and not block:
                column += error.column - 1 + (1 if source.style else 0)
            else:
                column = error.column
    return Problem(
        document.path, line, column, format_field_path(path), error.message + _entry_note(key)
    )


def _entry_note(key: str) -> str:
    """Entries expanded by for_each share a file: say which one a problem belongs to."""
    return f" (entry {key})" if "[" in key else ""


def _sets(tree: PlainData, path: FieldPath) -> bool:
    """True if `tree` (an entry) gives the value at `path`, replacing whatever defaults say."""
    node = tree
    for part in path:
        if not isinstance(node, dict):
            return True  # anything but a mapping replaces the defaults below it whole
        if not isinstance(part, str) or part not in node:
            return False
        node = node[part]
    return True


def _leave_out(tree: PlainData, path: FieldPath) -> None:
    """Removes the value at `path`. In a list its None stays: removing it would move the items
    after it, and their problems would be reported at the wrong index."""
    node = tree
    for part in path[:-1]:
        if isinstance(node, dict) and isinstance(part, str):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return
    last = path[-1] if path else None
    if isinstance(node, dict) and isinstance(last, str):
        node.pop(last, None)


def _merge(base: PlainData, override: PlainData) -> PlainData:
    """Defaults under the entry: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for k, v in override.items():
            merged[k] = _merge(base[k], v) if k in base else v
        return merged
    return override


def _validate(
    key: str,
    content: dict[str, PlainData],
    document: YamlDocument,
    shared: SharedInputs,
    out: LoadedCatalog,
    *,
    unrendered: Sequence[FieldPath],
    intents: Intents,
    since: int,
) -> None:
    """Append the entry to `out`: valid, or invalid with its problems (those from `since` on in
    `out.problems`, which are this entry's)."""
    # Every rule but the start date's, which depends on the time and the state: it is located
    # here and checked by `check_start_dates` (it does not apply to a published entry, nor to
    # one adopted from AlipayHK).
    checked = check_template_content(content, now_ms=None, unrendered=unrendered)
    for violation in checked.violations:
        out.problems.append(_violation_problem(violation, document, shared.defaults, key))
    index: int | None = None
    line = document.position_of(()).line  # the first field, after any leading comments
    if checked.value is not None and not checked.violations and not unrendered:
        payload = content_payload(checked.value, shared.merchant_id)
        index = len(out.entries)
        out.entries.append(
            CatalogEntry(key, document.path, line, payload, payload_digest(payload), intents)
        )
    elif not unrendered:  # rendered whole: what it would send can still be shown
        problems = tuple(sorted(out.problems[since:]))
        out.invalid.append(
            InvalidEntry(key, document.path, line, tree_json(content), problems, intents.tags)
        )
    start = checked_start_ms(content, checked.violations, unrendered)
    if start is not None:
        where = _violation_problem(
            Violation(("startDate",), "", ResultCode.PASS_TEMPLATE_START_TIME_LESS_CURRENT),
            document,
            shared.defaults,
            key,
        )
        adopted = intents.adopt is not None
        out.start_checks.append(
            StartCheck(
                key, adopted, start, where.file, where.line, where.column, where.message, index
            )
        )


def _violation_problem(
    violation: Violation, document: YamlDocument, defaults: YamlDocument | None, key: str
) -> Problem:
    where_doc = document
    if defaults is not None and _depth(defaults, violation.loc) > _depth(document, violation.loc):
        where_doc = defaults
    where = where_doc.position_of(violation.loc)
    suffix = _entry_note(key)
    return Problem(
        where_doc.path,
        where.line,
        where.column,
        format_field_path(violation.loc),
        f"{violation.message}{suffix}",
        str(violation.code),
    )


def _depth(document: YamlDocument, loc: FieldPath) -> int:
    """How much of `loc` the document itself spells out (defaults win only where deeper)."""
    for size in range(len(loc), 0, -1):
        if loc[:size] in document.positions:
            return size
    return 0


def iter_duplicate_keys(keys: list[tuple[str, str]]) -> Iterator[Problem]:
    """Keys are identities at AlipayHK: two files may never claim the same one."""
    first: dict[str, str] = {}
    for key, file in keys:
        if key in first:
            yield Problem(
                file,
                1,
                1,
                "key",
                f"duplicate key {key!r}: also defined in {first[key]}; "
                "rename one file or set a different `key:`",
            )
        else:
            first[key] = file
