"""The preview written by worker processes is the preview written by one process, byte for byte."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from helpers import copy_example

from reconciler.domain.config import load_project
from reconciler.domain.plan import PlanOptions
from reconciler.usecases.preview import build_preview, preview_ports


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_pages_written_by_two_workers_equal_those_written_by_one(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "project")
    target = replace(load_project(root).target(None), render_cache=False)
    ports = replace(preview_ports(target, fetch_images=False), clock=lambda: 1_700_000_000_000)
    built = {}
    for workers in (1, 2):
        out = tmp_path / f"out-{workers}"
        result = build_preview(target, PlanOptions(), out=out, ports=ports, workers=workers)
        assert result.entries > 2  # both processes get pages to write
        built[workers] = _files(out)
    assert len([name for name in built[1] if name.startswith("cards/")]) == result.entries
    assert built[2] == built[1]
