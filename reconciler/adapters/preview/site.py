"""The preview folder on disk: index.html, preview.css and cards/, written without following links.

ipass writes only into a folder that is new, empty, or a previous preview (it holds the marker
file `.ipass-preview`), so `--out` pointed at the wrong folder deletes nothing. The card pages
are written into a fresh folder beside the old ones, which is then swapped in: a reader sees the
old pages or the new ones. Pages are not fsynced one by one: they are rebuilt by the next run.
With `workers` > 1 the card pages are shared out (interleaved) to worker processes, each writing
its own into the same staging folder; this process writes the rest, the index and the stylesheet.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final

from reconciler.adapters.files import ensure_folder, write_atomic
from reconciler.adapters.preview.pages import PageRenderer
from reconciler.domain.plan import PlanStep
from reconciler.domain.preview import (
    EntryView,
    IndexRow,
    PreviewSheet,
    SheetInputs,
    SheetOutline,
    page_view,
    sheet_index,
)
from reconciler.domain.problems import Problem
from reconciler.errors import InvalidInput, StorageError

MARKER: Final = ".ipass-preview"
CARDS: Final = "cards"
_STAGING: Final = ".cards-new-"
_OLD: Final = ".cards-old-"
_MARKER_TEXT: Final = (
    b"This folder was written by `ipass preview`; each run replaces index.html, preview.css "
    b"and cards/. Safe to delete.\n"
)
_NEW_FILE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class WrittenPreview:
    index: Path
    sheet: PreviewSheet  # what the index shows


def write_site(
    out: Path, outline: SheetOutline, *, below: Path | None = None, workers: int = 1
) -> WrittenPreview:
    """Write the preview of `outline` into `out` (links between `below` and `out` are refused),
    the card pages in `workers` processes."""
    claim_folder(out, below=below)
    renderer = PageRenderer()
    staging = _staging_folder(out)
    try:
        rows = _write_pages(staging, outline, renderer, workers)
        write_atomic(out / "preview.css", renderer.stylesheet().encode("utf-8"))
        _swap_in(out, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    index = out / "index.html"
    sheet = sheet_index(outline, rows)
    write_atomic(index, renderer.index(sheet).encode("utf-8"))
    return WrittenPreview(index, sheet)


def _write_pages(
    staging: Path, outline: SheetOutline, renderer: PageRenderer, workers: int
) -> list[IndexRow]:
    """Every card page into `staging`, here or shared out to `workers` - 1 more processes; the
    index rows in page order.

    Each process builds the views of its own share (only plan steps and small index rows cross
    between processes). Interleaved shares balance the work; spawn (not fork) is safe with
    threads running. Each worker draws its own codes (the same drawing for the same sample). An
    error in a worker (a StorageError) is raised here as it was raised there.
    """
    items, environment = outline.items, outline.environment
    count = max(1, min(workers, len(items)))
    job = _Job(staging, environment, outline.inputs, outline.unreadable)
    share = partial(_write_share, job)
    if count == 1:
        return share(items, renderer)
    from concurrent.futures import ProcessPoolExecutor  # only large previews pay for it
    from multiprocessing import get_context

    shares = [items[i::count] for i in range(count)]
    rows: list[IndexRow | None] = [None] * len(items)
    with ProcessPoolExecutor(count - 1, mp_context=get_context("spawn")) as pool:
        pending = [pool.submit(share, part) for part in shares[1:]]
        rows[0::count] = share(shares[0], renderer)
        for number, future in enumerate(pending, start=1):
            rows[number::count] = future.result()
    return [row for row in rows if row is not None]


@dataclass(frozen=True)
class _Job:
    """What every share needs besides its entries (sent once to each worker)."""

    staging: Path
    environment: str
    inputs: SheetInputs
    unreadable: Mapping[str, Sequence[Problem]]


def _write_share(
    job: _Job, items: Sequence[EntryView | PlanStep], renderer: PageRenderer | None = None
) -> list[IndexRow]:
    """The views and pages of `items`, and their index rows (a worker makes its own renderer)."""
    renderer = renderer if renderer is not None else PageRenderer()
    rows = []
    for item in items:
        entry = page_view(item, job.inputs, job.unreadable)
        page = renderer.entry(entry, job.environment)
        write_new(job.staging / f"{entry.slug}.html", page.encode("utf-8"))
        rows.append(IndexRow.of(entry))
    return rows


def claim_folder(out: Path, *, below: Path | None) -> None:
    """Make `out` ours: create it, or accept it if empty or marked; then mark it."""
    try:
        names = os.listdir(out) if _is_real_folder(out) else None
    except OSError as error:
        raise StorageError.refused(out, "list the folder", error) from None
    if names is not None and names and MARKER not in names:
        raise InvalidInput(
            f"{out}: exists and is not an ipass preview (it has no {MARKER} file); ipass "
            "writes a preview only into a new or empty folder, or over an earlier preview",
            hint="give --out a new folder, or empty this one",
        )
    ensure_folder(out, below=below)
    write_atomic(out / MARKER, _MARKER_TEXT)
    for name in names or ():
        if name.startswith((_STAGING, _OLD)):  # left by a run that was stopped
            _remove_folder(out / name)


def _is_real_folder(path: Path) -> bool:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    except OSError as error:
        raise StorageError.refused(path, "open the folder", error) from None
    return stat.S_ISDIR(info.st_mode)  # a link or a file is refused by ensure_folder


def _staging_folder(out: Path) -> Path:
    try:
        staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=out))
        staging.chmod(0o755)
    except OSError as error:
        raise StorageError.refused(out, "create a folder in", error) from None
    return staging


def write_new(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist; never through a link) holding `data`."""
    try:
        fd = os.open(path, _NEW_FILE, 0o644)
    except OSError as error:
        raise StorageError.refused(path, "create", error) from None
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError as error:
        raise StorageError.refused(path, "write", error) from None
    finally:
        os.close(fd)


def _swap_in(out: Path, staging: Path) -> None:
    cards = out / CARDS
    old: Path | None = None
    if cards.is_symlink() or (cards.exists() and not cards.is_dir()):
        raise StorageError(
            f"{cards}: is not a folder (a link or a file); ipass keeps the card pages here",
            hint="remove it, then run ipass preview again",
        )
    try:
        if cards.exists():
            old = Path(tempfile.mkdtemp(prefix=_OLD, dir=out))
            os.replace(cards, old / CARDS)
        os.replace(staging, cards)
    except OSError as error:
        raise StorageError.refused(cards, "replace the folder", error) from None
    if old is not None:
        _remove_folder(old)


def _remove_folder(folder: Path) -> None:
    """Delete one of our own folders; shutil.rmtree never follows a link inside it."""
    with contextlib.suppress(FileNotFoundError):
        if folder.is_symlink() or not folder.is_dir():
            raise StorageError(
                f"{folder}: is not a folder; ipass will not remove it",
                hint="remove it by hand",
            )
        try:
            shutil.rmtree(folder)
        except OSError as error:
            raise StorageError.refused(folder, "remove the old folder", error) from None
