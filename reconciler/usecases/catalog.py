"""Use cases over the catalog: validate it, render the exact request bodies, export schemas."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from pathlib import Path
from typing import Protocol, TypeVar

from reconciler.domain import catalog as cat
from reconciler.domain import catalog_files
from reconciler.domain.canonical import canonical_json
from reconciler.domain.catalog_intents import load_retired
from reconciler.domain.config import Target
from reconciler.domain.jsonsafe import gc_paused
from reconciler.domain.problems import Problem
from reconciler.domain.render_key import context_digest, file_key
from reconciler.domain.retirement import Retirement
from reconciler.domain.templating import CatalogBudget, RenderCost, Renderer
from reconciler.domain.yamlsafe import YamlError
from reconciler.domain.yamlsafe.loader import read_yaml_bytes
from reconciler.errors import InvalidInput

# Starting a worker process costs about as much as loading 500 files: below this, stay serial.
PARALLEL_MIN_FILES = 1000
MAX_WORKERS = 4
# What rendering the whole catalog may cost (README, "What a value may contain"); tests set a
# small one here, or pass `budget` to `load_catalog`.
CATALOG_BUDGET = CatalogBudget()


class ResultCache(Protocol):
    """Where rendered files are kept between runs, by key (`adapters/render_cache.py`)."""

    def get(self, key: str) -> cat.LoadedCatalog | None: ...
    def put(self, key: str, result: cat.LoadedCatalog) -> None: ...
    def save(self, used: Collection[str]) -> None: ...


@dataclass(frozen=True)
class CatalogResult:
    """The catalog for one environment: its valid entries and every problem found."""

    target: Target
    files: int
    entries: tuple[cat.CatalogEntry, ...]
    problems: tuple[Problem, ...]
    # Keys declared retired: `retired: true` in a file, or listed in catalog/retired.yaml.
    retirements: Mapping[str, Retirement] = field(default_factory=dict)
    # Entries that rendered but are invalid, by key: what they would send, and why not.
    invalid: tuple[cat.InvalidEntry, ...] = ()


def load_catalog(
    target: Target,
    *,
    now_ms: int | None = None,
    published: frozenset[str] = frozenset(),
    workers: int | None = None,
    budget: CatalogBudget | None = None,
) -> CatalogResult:
    """Load, render and validate every catalog file; collect all problems, raise none of them.

    `published` names entries already live at AlipayHK: their start date may lie in the past.
    `workers` > 1 spreads the files over that many processes (default: the usable cores, for
    catalogs large enough to repay starting them). `budget` bounds rendering all files together
    (default `CATALOG_BUDGET`); once it is spent, one problem names the costliest files.
    With `target.render_cache`, files whose result is in `.ipass/cache/render/<env>/` are not
    rendered (`_load_cached`); the start date, which depends on the time and the state, is
    checked on every run.
    """
    root, catalog_dir, env_name = target.root, target.catalog_dir, target.name
    try:
        found = catalog_files.catalog_folder_exists(catalog_dir, root)
    except YamlError as error:
        return CatalogResult(target, 0, (), (cat.yaml_problem(error),))
    if not found:
        raise InvalidInput(
            f"no catalog folder at {catalog_files.display(catalog_dir, root)!r}",
            hint="create catalog/templates/ with one YAML file per template, or use -C",
        )
    files, problems = catalog_files.template_files(catalog_dir, root)
    try:
        macros = catalog_files.load_macros(catalog_dir, root)
        # Macro files are checked here, once, before any work is shared out; variables may not
        # take the name of a macro or of anything else templates already use.
        reserved = Renderer(macros).reserved_meaning
        shared = cat.SharedInputs(
            environment=env_name,
            merchant_id=target.merchant_id,
            variables=catalog_files.load_variables(catalog_dir, root, env_name, reserved),
            defaults=catalog_files.load_mapping(catalog_dir / "defaults.yaml", root),
        )
        retired_file = catalog_files.load_mapping(catalog_dir / "retired.yaml", root)
    except YamlError as error:
        # Without its macros, variables or defaults no entry can be rendered: report this alone.
        return CatalogResult(target, len(files), (), (*problems, cat.yaml_problem(error)))
    retirements, retired_problems = load_retired(retired_file)
    problems += retired_problems
    named = [(path, catalog_files.display(path, root)) for path in files]
    loaded = cat.LoadedCatalog()
    budget = CATALOG_BUDGET if budget is None else budget
    cache = _open_cache(target)
    if cache is None:
        results = _load_all(named, shared, macros, workers, budget)
    else:
        results = _load_cached(named, shared, macros, cache, workers=workers, budget=budget)
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    results = [cat.check_start_dates(result, now, published) for result in results]
    for result in results:
        loaded.entries += result.entries
        loaded.problems += result.problems
        loaded.keys += result.keys
        loaded.invalid += result.invalid
        for retirement in result.retired:
            retirements.setdefault(retirement.key, retirement)
    problems += loaded.problems
    problems += _retired_and_present(retirements, loaded.entries)
    spent = cat.budget_problem(results, budget)
    if spent is not None:
        problems.append(spent)
    problems += cat.iter_duplicate_keys(loaded.keys)
    entries = sorted(loaded.entries, key=lambda e: e.key)
    invalid = tuple(sorted(loaded.invalid, key=lambda e: e.key))
    return CatalogResult(
        target, len(files), tuple(entries), tuple(sorted(set(problems))), retirements, invalid
    )


def selected(
    result: CatalogResult, selects: Sequence[str], excludes: Sequence[str]
) -> CatalogResult:
    """The catalog narrowed to the selected entries: their entries, and the problems of the
    files that hold them (a path selector also keeps problems of files with no valid entry)."""
    from reconciler.domain.selectors import Candidate, parse_selector, select

    candidates = [
        Candidate(
            key=entry.key,
            source=f"{entry.file}:{entry.line}",
            product=_text(entry.payload.get("product")),
            type=_text(entry.payload.get("type")),
            tags=entry.intents.tags,
        )
        for entry in result.entries
    ]
    paths = [parse_selector(text) for text in selects if parse_selector(text).kind == "path"]
    broken = {problem.file for problem in result.problems}
    path_hits = {
        file
        for file in broken
        if any(selector.matches(Candidate(file, f"{file}:1", None, None)) for selector in paths)
    }
    try:
        keys = select(candidates, selects, excludes).keys
    except InvalidInput:
        if not path_hits:
            raise
        keys = frozenset()
    entries = tuple(entry for entry in result.entries if entry.key in keys)
    files = {entry.file for entry in entries} | path_hits
    problems = tuple(problem for problem in result.problems if problem.file in files)
    invalid = tuple(entry for entry in result.invalid if entry.file in files)
    return replace(result, entries=entries, problems=problems, invalid=invalid)


def _retired_and_present(
    retirements: Mapping[str, Retirement], entries: Sequence[cat.CatalogEntry]
) -> list[Problem]:
    """A key is either in the catalog or declared retired, never both."""
    found = []
    for entry in entries:
        declared = retirements.get(entry.key)
        if declared is not None:
            file, _, line = declared.source.rpartition(":")
            found.append(
                Problem(
                    file,
                    int(line) if line.isdigit() else 1,
                    1,
                    entry.key,
                    f"declared retired, but {entry.file} still defines it; a retired key is "
                    "never used again: remove one of the two",
                )
            )
    return found


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _load_all(
    named: list[tuple[Path, str]],
    shared: cat.SharedInputs,
    macros: dict[str, str],
    workers: int | None,
    budget: CatalogBudget,
) -> list[cat.LoadedCatalog]:
    """Per-file results in file order, computed here or shared with worker processes."""
    return _spread(cat.load_files, named, shared, macros, workers=workers, budget=budget)


_Item = TypeVar("_Item")
_Work = Callable[
    [Sequence[_Item], cat.SharedInputs, Mapping[str, str], CatalogBudget],
    list[cat.LoadedCatalog],
]


def _spread(
    work: _Work[_Item],
    items: Sequence[_Item],
    shared: cat.SharedInputs,
    macros: dict[str, str],
    *,
    workers: int | None,
    budget: CatalogBudget,
) -> list[cat.LoadedCatalog]:
    """`work` over `items` (one result per item, in order), here or in worker processes.

    This process takes the first share itself: one process fewer to start, and its results need
    no pickling. Each share gets its slice of `budget` (by its number of files), so all processes
    together stay within it; each reports what its files cost.
    """
    count = workers if workers is not None else default_workers(len(items))
    if count <= 1:
        return work(items, shared, macros, budget)
    from concurrent.futures import ProcessPoolExecutor  # only large catalogs pay for it
    from multiprocessing import get_context

    # Interleaved shares balance the work; spawn (not fork) is safe with threads running.
    shares = [items[i::count] for i in range(count)]
    slices = [budget.share(len(share), len(items)) for share in shares]
    with ProcessPoolExecutor(count - 1, mp_context=get_context("spawn")) as pool:
        pending = pool.map(work, shares[1:], repeat(shared), repeat(macros), slices[1:])
        done = [work(shares[0], shared, macros, slices[0]), *pending]
    ordered: list[cat.LoadedCatalog] = [cat.LoadedCatalog()] * len(items)
    for offset, results in enumerate(done):
        for index, result in enumerate(results):
            ordered[offset + index * count] = result
    return ordered


def _open_cache(target: Target) -> ResultCache | None:
    if not target.render_cache:
        return None
    from reconciler.adapters.render_cache import RenderCache

    return RenderCache.open(target.work_dir / "cache" / "render" / target.name, target.root)


def _load_cached(
    named: list[tuple[Path, str]],
    shared: cat.SharedInputs,
    macros: dict[str, str],
    cache: ResultCache,
    *,
    workers: int | None,
    budget: CatalogBudget,
) -> list[cat.LoadedCatalog]:
    """`_load_all`, rendering only the files whose result `cache` does not hold.

    Every file is read here, and keyed by its bytes and all else its result depends on
    (`render_key`); only the misses are rendered (and shared out to worker processes). A file
    taken from the cache renders nothing, but is charged the loop iterations and characters it
    counted when it was rendered: those are properties of the catalog, so that verdict of the
    budget does not depend on the cache. `render_seconds` bounds this run's time, which a cached
    file does not take: the misses get all of it. Reusable results are stored; what this run did
    not use is dropped from the cache.
    """
    from reconciler.adapters.render_cache import code_digest

    context = context_digest(shared, macros, code_digest())
    results: list[cat.LoadedCatalog] = [cat.LoadedCatalog()] * len(named)
    misses: list[tuple[int, str, str, bytes]] = []  # (index, key, shown name, bytes)
    used: list[str] = []
    # Cached results are plain data (no cycles): the collector would only walk them, again and
    # again, as they pile up.
    with gc_paused():
        for index, (path, shown) in enumerate(named):
            try:
                data = read_yaml_bytes(path, path=shown)
            except YamlError as error:  # not a result of the file's bytes: never cached
                results[index] = cat.LoadedCatalog(problems=[cat.yaml_problem(error)])
                continue
            key = file_key(context, shown, data)
            used.append(key)
            hit = cache.get(key)
            if hit is None:
                misses.append((index, key, shown, data))
            else:
                results[index] = hit
    spent = _total_cost(results)
    sources = [(shown, data) for _, _, shown, data in misses]
    left = _less(budget, spent)
    rendered = _spread(cat.render_sources, sources, shared, macros, workers=workers, budget=left)
    for (index, key, _, _), result in zip(misses, rendered, strict=True):
        results[index] = result
        if cat.reusable(result):
            cache.put(key, result)
    cache.save(used)
    return results


def _total_cost(results: Sequence[cat.LoadedCatalog]) -> RenderCost:
    return RenderCost(
        sum(result.cost.loop_iterations for result in results),
        sum(result.cost.output_chars for result in results),
        sum(result.cost.render_seconds for result in results),
    )


def _less(budget: CatalogBudget, spent: RenderCost) -> CatalogBudget:
    """What is left of `budget` once the counted part of `spent` is charged (never below zero);
    the time is this run's own."""
    return replace(
        budget,
        loop_iterations=max(0, budget.loop_iterations - spent.loop_iterations),
        output_chars=max(0, budget.output_chars - spent.output_chars),
    )


def default_workers(files: int) -> int:
    """How many processes share `files` (or, for the preview, its entries): one below
    PARALLEL_MIN_FILES, else the usable cores (at most MAX_WORKERS)."""
    if files < PARALLEL_MIN_FILES:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


def published_keys(target: Target) -> frozenset[str]:
    """Entries already live for this environment: their start date may lie in the past.

    Read with the one checked state reader (snapshot + journal) that plan and apply use, so
    validate never trusts a state file that plan would refuse.
    """
    from reconciler.adapters.statefile import StateStore

    state = StateStore(target.state_file, target.name).load()
    return frozenset(key for key, entry in state.entries.items() if entry.current is not None)


def bodies_json(bodies: dict[str, object], *, pretty: bool) -> str:
    """Canonical JSON, so each body inside is byte for byte what is signed and sent."""
    if pretty:
        import json

        return json.dumps(bodies, ensure_ascii=False, sort_keys=True, indent=2)
    return canonical_json(bodies).decode("utf-8")
