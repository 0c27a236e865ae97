"""`ipass preview`: the cards of the catalog as customers will see them, plan-aware, as a static
HTML proof sheet. Loads the catalog, the state and the plan exactly as `ipass plan` does."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.domain.config import Target
from reconciler.domain.plan import PlanOptions
from reconciler.domain.preview import ImageFacts, PreviewSheet, SheetInputs, preview_sheet
from reconciler.domain.preview.sheet import image_urls
from reconciler.errors import InvalidInput
from reconciler.usecases.plan import load_inputs, plan_from


class ImageSource(Protocol):
    def inspect(self, urls: Iterable[str]) -> Mapping[str, ImageFacts]: ...


@dataclass(frozen=True)
class Written:
    index: Path
    pages: int


class PreviewWriter(Protocol):
    def __call__(self, out: Path, sheet: PreviewSheet, *, below: Path | None) -> Written: ...


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


def default_folder(target: Target) -> Path:
    return target.work_dir / "preview" / target.name


def preview_ports(target: Target, *, fetch_images: bool) -> PreviewPorts:
    """The real writer, and the image source: fetched, the `[preview] images` folder, or none."""
    from reconciler.adapters.preview.images import FetchedImages, LocalImages, fetching_session
    from reconciler.adapters.preview.site import write_site

    def write(out: Path, sheet: PreviewSheet, *, below: Path | None) -> Written:
        done = write_site(out, sheet, below=below)
        return Written(done.index, done.pages)

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
    target: Target, options: PlanOptions, *, out: Path | None, ports: PreviewPorts
) -> PreviewResult:
    """Plan as `ipass plan` does, check the images if a source is given, write the pages."""
    plan = plan_from(load_inputs(target), options)
    images = ports.images.inspect(image_urls(plan)) if ports.images is not None else None
    sheet = preview_sheet(plan, SheetInputs(now_ms=ports.clock(), images=images))
    folder = out if out is not None else default_folder(target)
    # The default folder is ipass's own (.ipass/): no link is followed anywhere below the project.
    below = target.root if out is None else None
    written = ports.write(folder, sheet, below=below)
    return PreviewResult(written.index, written.pages, sheet.problems, ports.images_from)
