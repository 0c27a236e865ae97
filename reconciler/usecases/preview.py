"""`ipass preview`: the cards of the catalog as customers will see them, plan-aware, as a static
HTML proof sheet. Loads the catalog, the state and the plan exactly as `ipass plan` does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from pydantic import JsonValue

from reconciler.domain.catalog import InvalidEntry
from reconciler.domain.config import Target
from reconciler.domain.plan import Plan, PlanOptions, step_source
from reconciler.domain.preview import (
    CatalogFaults,
    ImageFacts,
    PreviewSheet,
    SheetInputs,
    SheetOutline,
    sheet_outline,
)
from reconciler.domain.preview.invalid import unreadable_files
from reconciler.domain.preview.sheet import image_urls
from reconciler.domain.selectors import Candidate, select
from reconciler.errors import InvalidInput
from reconciler.usecases.catalog import default_workers
from reconciler.usecases.plan import PlanInputs, candidate_of, load_inputs, plan_from


class ImageSource(Protocol):
    def inspect(self, urls: Iterable[str]) -> Mapping[str, ImageFacts]: ...


@dataclass(frozen=True)
class Written:
    index: Path
    sheet: PreviewSheet  # what the index shows


class PreviewWriter(Protocol):
    def __call__(
        self, out: Path, outline: SheetOutline, *, below: Path | None, workers: int
    ) -> Written: ...


@dataclass(frozen=True)
class PreviewPorts:
    write: PreviewWriter
    images: ImageSource | None = None
    images_from: str | None = None  # where the images came from, for the summary
    clock: Callable[[], int] = field(default=lambda: int(time.time() * 1000))


@dataclass(frozen=True)
class PreviewResult:
    index: Path
    entries: int
    problems: int
    images_from: str | None
    # What the catalog check refused: the invalid entries (and how many of them the selectors
    # left out), the problems no card shows, and every problem (the exit status).
    invalid: int = 0
    invalid_unselected: int = 0
    outside_cards: int = 0
    catalog_problems: int = 0
    # Files no entry came from (they could not be read or rendered), and their problems.
    unread_files: int = 0
    unread_problems: int = 0


def default_folder(target: Target) -> Path:
    return target.work_dir / "preview" / target.name


def preview_ports(target: Target, *, fetch_images: bool) -> PreviewPorts:
    """The real writer, and the image source: fetched, the `[preview] images` folder, or none."""
    from reconciler.adapters.preview.images import FetchedImages, LocalImages, fetching_session
    from reconciler.adapters.preview.site import write_site

    def write(out: Path, outline: SheetOutline, *, below: Path | None, workers: int) -> Written:
        done = write_site(out, outline, below=below, workers=workers)
        return Written(done.index, done.sheet)

    if fetch_images:
        return PreviewPorts(write, FetchedImages(fetching_session()), "fetched over https")
    folder = target.preview_images
    if folder is None:
        return PreviewPorts(write)
    if not folder.is_dir():
        raise InvalidInput(
            f"ipass.toml: [preview] images: no folder {str(folder)!r}",
            hint="create it with the catalog's image files, or remove the setting",
        )
    return PreviewPorts(write, LocalImages(folder), f"folder {folder}")


def build_preview(
    target: Target,
    options: PlanOptions,
    *,
    out: Path | None,
    ports: PreviewPorts,
    workers: int | None = None,
) -> PreviewResult:
    """Plan as `ipass plan` does, check the images if a source is given, write the pages.

    An invalid catalog is shown, not refused: the plan covers the valid entries, and each
    invalid one is shown first with its cards and problems (the caller exits 1 on them).
    `workers` processes load the catalog and build and write the card pages (default: the
    usable cores, for a large catalog or many entries; 1 keeps everything in this process)."""
    inputs = load_inputs(target, workers=workers, refuse_invalid=False)
    catalog = inputs.catalog
    plan, invalid = _scoped(inputs, options)
    faults = CatalogFaults(invalid, catalog.problems, catalog.entries)
    urls = image_urls(plan, invalid)
    images = ports.images.inspect(urls) if ports.images is not None else None
    removed = _removed_sources(target.root, plan)
    outline = sheet_outline(plan, SheetInputs(ports.clock(), images, removed=removed), faults)
    folder = out if out is not None else default_folder(target)
    # The default folder is ipass's own (.ipass/): no link is followed anywhere below the project.
    below = target.root if out is None else None
    pages = workers if workers is not None else default_workers(len(outline.items))
    written = ports.write(folder, outline, below=below, workers=pages)
    sheet = written.sheet
    unread = unreadable_files(catalog.problems, [*catalog.entries, *catalog.invalid])
    return PreviewResult(
        written.index,
        len(sheet.entries),
        sheet.problems,
        ports.images_from,
        invalid=sheet.invalid + len(catalog.invalid) - len(invalid),
        invalid_unselected=len(catalog.invalid) - len(invalid),
        outside_cards=sum(len(file.problems) for file in sheet.problem_files),
        catalog_problems=len(catalog.problems),
        unread_files=len(unread),
        unread_problems=sum(len(found) for found in unread.values()),
    )


def _removed_sources(root: Path, plan: Plan) -> frozenset[str]:
    """The recorded source files of the plan's entries that are no longer in the project."""
    files = {source.rsplit(":", 1)[0] for step in plan.steps if (source := step_source(step))}
    return frozenset(file for file in files if not (root / file).is_file())


def _scoped(inputs: PlanInputs, options: PlanOptions) -> tuple[Plan, tuple[InvalidEntry, ...]]:
    """The plan of the selected entries, and the selected invalid entries.

    With invalid entries, a selector may name only them, which the planner (seeing the valid
    entries) would refuse as matching nothing: the selectors are checked against every entry,
    and the whole plan narrowed to what they choose. A published key whose only entry is invalid
    has no step (it is not gone from the catalog, only not sendable).
    """
    invalid = inputs.catalog.invalid
    if not invalid:
        return plan_from(inputs, options), ()
    candidates = [candidate_of(wanted) for wanted in inputs.desired.values()]
    candidates += [
        Candidate(
            key,
            entry.current.source,
            _text(entry.current.payload, "product"),
            _text(entry.current.payload, "type"),
        )
        for key, entry in inputs.state.entries.items()
        if entry.current is not None and key not in inputs.desired
    ]
    candidates += [_candidate(entry) for entry in invalid]
    chosen = select(candidates, options.targets, options.excludes).keys
    whole = plan_from(inputs, PlanOptions(replace=options.replace))
    # A published key whose entry is now invalid is not gone from the catalog.
    gone = {entry.key for entry in invalid} - set(inputs.desired)
    steps = tuple(s for s in whole.steps if s.key in chosen and s.key not in gone)
    return replace(whole, steps=steps), tuple(e for e in invalid if e.key in chosen)


def _candidate(entry: InvalidEntry) -> Candidate:
    tree = entry.tree()
    product, kind = _text(tree, "product"), _text(tree, "type")
    return Candidate(entry.key, f"{entry.file}:{entry.line}", product, kind, entry.tags)


def _text(payload: Mapping[str, JsonValue], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) else None
