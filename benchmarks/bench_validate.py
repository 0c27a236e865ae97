"""Benchmark `ipass validate`, `render`, `preview` and start-up against floors from the same run.

1. validate: `ipass validate` of a generated catalog of N entries (default 10,000; realistic, see
   catalogs.py; `--catalog plain` for the catalog used before issue 14), with its default process
   pool and in one process (IPASS_WORKERS=1), next to the floor: reading and YAML-parsing the same
   files with the C safe loader in a fresh interpreter, one process. Aim (issue 14): one-process
   validate within 2x of the floor in CPU time.
2. render and preview: `ipass render` of the same catalog next to `ipass preview --out DIR` (wall
   and peak memory; issue 12's aim: preview within 2x of render). Preview is reported as not yet
   available where this ipass has no `preview` command.
3. start-up: `ipass validate` of a copy of the example catalog next to
   `python -c "import pydantic, jinja2, yaml"` (aim 2x), and `ipass --help` next to
   `python -c "import click"` (aim 1.5x).

Runs are interleaved (every command once per round) so all see the same machine; every figure is
the median of `--repeat` rounds with its range. Any render cache (`.ipass/cache/`) is deleted
before each run: these are cold runs.

Start-up always runs `python -m reconciler` itself. `--render-budget SECONDS` runs the other
commands with the catalog's render_seconds budget (CPU time) raised, for catalogs far larger
than the default's.

Run: python benchmarks/bench_validate.py [--entries N] [--repeat R] [--catalog realistic|plain]
     [--only validate,preview,startup] [--render-budget SECONDS]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from catalogs import KINDS, REPO, Catalog, describe, generate
from harness import (
    IPASS,
    PARSE_FLOOR,
    PYTHON,
    Series,
    fresh,
    header,
    ipass,
    ipass_has,
    machine_load,
    row,
    run,
    use_render_budget,
    verdict,
)

ONE_PROCESS = {"IPASS_WORKERS": "1"}
SECTIONS = ("validate", "preview", "startup")


def cold(root: Path) -> Path:
    """Forget any render cache, so the next run pays for everything."""
    shutil.rmtree(root / ".ipass" / "cache", ignore_errors=True)
    return root


def bench_validate(catalog: Catalog, repeat: int) -> None:
    root = catalog.root
    floor = Series("floor: read + C-parse the files, 1 process")
    pool = Series("ipass validate (default: process pool)")
    single = Series("ipass validate, 1 process (IPASS_WORKERS=1)")
    for _ in range(repeat):
        floor.add(run([PYTHON, "-c", PARSE_FLOOR, str(catalog.catalog_dir)]).sample)
        pool.add(run(ipass(cold(root), "validate")).sample)
        single.add(run(ipass(cold(root), "validate"), env=ONE_PROCESS).sample)
    header(f"validate: {describe(catalog)}")
    row(floor)
    row(pool, floor)
    row(single, floor)
    verdict("validate, 1 process / floor, CPU", single.cpu, floor.cpu, 2.0)
    verdict("validate, process pool / floor, wall", pool.wall, floor.wall, 1.5)


def bench_preview(catalog: Catalog, repeat: int, work: Path) -> None:
    root = catalog.root
    has_preview = ipass_has(root, ["preview"])
    render = Series("ipass render (default: process pool)")
    preview = Series("ipass preview --out DIR")
    for _ in range(repeat):
        render.add(run(ipass(cold(root), "render")).sample)
        if has_preview:
            out = fresh(work / "preview")
            preview.add(run(ipass(cold(root), "preview", "--out", str(out))).sample)
    header(f"render and preview: {describe(catalog)}")
    row(render)
    if not has_preview:
        print("ipass preview: not yet available in this ipass (no `preview` command)")
        return
    row(preview, render)
    verdict("preview / render, wall", preview.wall, render.wall, 2.0)


def bench_startup(repeat: int, work: Path) -> None:
    example = fresh(work / "example")
    shutil.copytree(REPO / "catalog", example / "catalog")
    bare = Series('floor: python -c "import pydantic, jinja2, yaml"')
    validate = Series("ipass validate (example catalog)")
    click_floor = Series('floor: python -c "import click"')
    helped = Series("ipass --help")
    for _ in range(repeat):
        bare.add(run([PYTHON, "-c", "import pydantic, jinja2, yaml"]).sample)
        validate.add(run([*IPASS, "-C", str(cold(example)), "validate"]).sample)
        click_floor.add(run([PYTHON, "-c", "import click"]).sample)
        helped.add(run([*IPASS, "--help"]).sample)
    header(f"start-up ({repeat} runs each)")
    row(bare, scale=1000, unit="ms")
    row(validate, bare, scale=1000, unit="ms")
    row(click_floor, scale=1000, unit="ms")
    row(helped, click_floor, scale=1000, unit="ms")
    verdict("ipass validate (example) / import pydantic, jinja2, yaml", validate.wall, bare.wall, 2)
    verdict("ipass --help / import click", helped.wall, click_floor.wall, 1.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--catalog", choices=KINDS, default="realistic")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument(
        "--render-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="raise the catalog's render_seconds budget (CPU seconds)",
    )
    args = parser.parse_args()
    use_render_budget(args.render_budget)
    sections = set(args.only.split(","))
    if unknown := sections - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}; use {','.join(SECTIONS)}")
    started = time.perf_counter()
    print(f"{machine_load()} (before); best is a quiet machine: medians and ranges below")
    with tempfile.TemporaryDirectory(prefix="ipass-bench-validate-") as tmp:
        work = Path(tmp)
        if sections & {"validate", "preview"}:
            catalog = generate(work / "project", args.entries, args.catalog)
            if "validate" in sections:
                bench_validate(catalog, args.repeat)
            if "preview" in sections:
                bench_preview(catalog, args.repeat, work)
        if "startup" in sections:
            bench_startup(max(args.repeat * 3, 5), work)
    print()
    print(f"{machine_load()} (after); whole benchmark {time.perf_counter() - started:.0f} s")
    print("peak RSS: the largest single process (a pool of N workers may hold N times it)")


if __name__ == "__main__":
    main()
