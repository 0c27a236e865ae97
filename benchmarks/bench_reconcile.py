"""Benchmark `ipass plan` and `ipass apply` against floors measured in the same run.

1. plan: a generated catalog of N entries (default 10,000; realistic, see catalogs.py) against a
   state recording all N as published, 1% of the files edited since (planned as `blocked`).
   - cold: the render cache (`.ipass/cache/`) deleted first; with the default process pool, and
     in one process (IPASS_WORKERS=1);
   - warm: the cache filled by a plan of the catalog before the edit, then 1% of the files
     edited (a pull request); its output is compared with the cold run's.
   Floor: reading + C-parsing the same catalog files and `json.loads` of the state, one process.
   Aim (issue 14): warm plan <= 0.5x the floor's wall time.
2. memory: the same at M entries (default 30,000; `--memory-entries 0` skips it): peak RSS of a
   cold plan. Aim: under 250 MiB.
3. apply: `ipass apply --auto-approve` of C creates (default 1,000) to `ipass sandbox serve` in its
   own process, onto an empty state and onto a state of S published entries (default 10,000):
   per create, (apply - plan of the same inputs) / C in wall and CPU time (both with the render
   cache filled by a plan just before), next to the floor:
   the same bodies sent one after another through `AlipayClient` alone (client_floor.py). Also
   the state floor: `json` load + sorted, indented dump of the S-entry state, one process.
   Aims: apply CPU per create <= 1.3x the client's; per create onto S entries <= onto empty.

Every figure is the median of `--repeat` interleaved rounds with its range.

Run: python benchmarks/bench_reconcile.py [--entries N] [--memory-entries M]
     [--apply-entries C] [--state-entries S] [--repeat R] [--catalog realistic|plain]
     [--only plan,memory,apply] [--render-budget SECONDS]

`--render-budget` raises the catalog's render_seconds budget (CPU time: see bench_validate.py).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from catalogs import KINDS, Catalog, Edits, describe, edit_prices, generate
from harness import (
    PARSE_FLOOR,
    PYTHON,
    Series,
    header,
    ipass,
    ipass_has,
    machine_load,
    row,
    run,
    use_render_budget,
    verdict,
)
from reconcile_apply import bench_apply
from reconcile_setup import ENV, OFFLINE_URL, render, write_config, write_state

ONE_PROCESS = {"IPASS_WORKERS": "1"}
SECTIONS = ("plan", "memory", "apply")
BLOCKED = 1  # ipass plan's exit code when entries are blocked, as the edited ones are


def forget_cache(root: Path) -> None:
    shutil.rmtree(root / ".ipass" / "cache", ignore_errors=True)


def prepare(root: Path, entries: int, kind: str) -> tuple[Catalog, Path]:
    """A catalog of `entries`, all recorded as published in the state."""
    catalog = generate(root, entries, kind)
    write_config(root, OFFLINE_URL)
    return catalog, write_state(catalog, render(root))


def check_plan(root: Path, expected: dict[str, int]) -> None:
    """The plan must be exactly the intended actions."""
    done = subprocess.run(
        ipass(root, "plan", "--env", ENV, "--format", "json"),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, BLOCKED):
        raise SystemExit(f"ipass plan failed ({done.returncode}):\n{done.stderr}")
    summary = {k: v for k, v in json.loads(done.stdout)["summary"].items() if v}
    if summary != expected:
        raise SystemExit(f"the state does not plan as intended: {summary} != {expected}")


def edited_keys(catalog: Catalog, edits: Edits) -> int:
    return sum(1 for path in catalog.keys.values() if path in edits.before)


def bench_plan(work: Path, entries: int, kind: str, repeat: int) -> None:
    root = work / "plan"
    catalog, state = prepare(root, entries, kind)
    edits = edit_prices(catalog)
    edited = edited_keys(catalog, edits)
    check_plan(root, {"blocked": edited, "no-op": len(catalog.keys) - edited})
    cached = ipass_has(root, ["plan"], "--no-cache")
    command = ipass(root, "plan", "--env", ENV)
    floor = Series("floor: C-parse catalog + json.loads state")
    pool = Series("ipass plan, cold (default: process pool)")
    single = Series("ipass plan, cold, 1 process (IPASS_WORKERS=1)")
    warm = Series("ipass plan, warm (1% of files edited)")
    outputs: set[bytes] = set()
    for _ in range(repeat):
        floor.add(run([PYTHON, "-c", PARSE_FLOOR, str(catalog.catalog_dir), str(state)]).sample)
        forget_cache(root)
        done = run(command, accepted=(BLOCKED,), keep_stdout=True)
        outputs.add(done.stdout)
        pool.add(done.sample)
        forget_cache(root)
        single.add(run(command, accepted=(BLOCKED,), env=ONE_PROCESS).sample)
        if cached:
            edits.restore()
            forget_cache(root)
            run(command)  # fills the cache before the pull request's edit
            edits.redo()
            done = run(command, accepted=(BLOCKED,), keep_stdout=True)
            outputs.add(done.stdout)
            warm.add(done.sample)
    header(f"plan: {describe(catalog)}; {edited} entries edited since published")
    print(f"state file {state.stat().st_size / 2**20:.1f} MiB")
    row(floor)
    row(pool, floor)
    row(single, floor)
    verdict("plan cold, 1 process / floor, CPU", single.cpu, floor.cpu, 2.0)
    if not cached:
        print("warm plan: not yet available (this ipass plan has no --no-cache, no render cache)")
        return
    row(warm, floor)
    verdict("plan warm / floor, wall", warm.wall, floor.wall, 0.5)
    same = "identical" if len(outputs) == 1 else f"DIFFERENT ({len(outputs)} distinct outputs)"
    print(f"warm and cold plan output: {same}")


def bench_memory(work: Path, entries: int, kind: str, repeat: int) -> None:
    root = work / "memory"
    catalog, state = prepare(root, entries, kind)
    command = ipass(root, "plan", "--env", ENV)
    floor = Series("floor: C-parse catalog + json.loads state")
    pool = Series("ipass plan, cold (default: process pool)")
    single = Series("ipass plan, cold, 1 process (IPASS_WORKERS=1)")
    for _ in range(repeat):
        floor.add(run([PYTHON, "-c", PARSE_FLOOR, str(catalog.catalog_dir), str(state)]).sample)
        forget_cache(root)
        pool.add(run(command).sample)
        forget_cache(root)
        single.add(run(command, env=ONE_PROCESS).sample)
    header(f"plan memory: {describe(catalog)}, all published, none edited")
    print(f"state file {state.stat().st_size / 2**20:.1f} MiB")
    row(floor)
    row(pool, floor)
    row(single, floor)
    print(f"{'plan peak RSS, 1 process (aim < 250 MiB)':<62} {single.peak:6.0f} MiB: ", end="")
    print("ok" if single.peak < 250 else "ABOVE the aim")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=10_000, help="plan: catalog entries")
    parser.add_argument("--memory-entries", type=int, default=30_000, help="memory: entries")
    parser.add_argument("--apply-entries", type=int, default=1_000, help="apply: creates")
    parser.add_argument("--state-entries", type=int, default=10_000, help="apply: state entries")
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
    print(f"{machine_load()} (before)")
    with tempfile.TemporaryDirectory(prefix="ipass-bench-reconcile-") as tmp:
        work = Path(tmp)
        if "plan" in sections:
            bench_plan(work, args.entries, args.catalog, args.repeat)
        if "memory" in sections and args.memory_entries:
            bench_memory(work, args.memory_entries, args.catalog, args.repeat)
        if "apply" in sections:
            bench_apply(work, args.apply_entries, args.state_entries, args.catalog, args.repeat)
    print()
    print(f"{machine_load()} (after); whole benchmark {time.perf_counter() - started:.0f} s")
    print("peak RSS: the largest single process (a pool of N workers may hold N times it)")


if __name__ == "__main__":
    main()
