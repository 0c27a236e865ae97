"""Measuring commands for the benchmarks: wall time, CPU time and peak memory, with their spread.

Each command runs as a child of a small launcher process that reaps it with `os.wait4`, whose
resource usage covers the child and every descendant it waited for (a pool's workers included):
- wall: time from start to exit, seen from here;
- cpu: user + system time of that whole process tree;
- peak: the largest maximum resident set size of any one process in the tree (`ru_maxrss` is a
  maximum, not a sum: a pool of N workers may hold up to N times it at once).

A `Series` holds one `Sample` per run; reports show the median and the range (min-max).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PYTHON: Final = sys.executable
IPASS: Final = (PYTHON, "-m", "reconciler")
KIB_PER_MIB: Final = 1024

# Reads and YAML-parses every .yaml file under a folder with the C safe loader (the floor of
# validate, render and plan); with a second argument, also json.loads that file (a state file).
PARSE_FLOOR: Final = """\
import json, pathlib, sys, yaml
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
    yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
if len(sys.argv) > 2:
    json.loads(pathlib.Path(sys.argv[2]).read_bytes())
"""


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # seconds, user + system, whole process tree
    peak_mib: float  # largest single process


@dataclass(frozen=True)
class Finished:
    sample: Sample
    code: int
    stdout: bytes
    stderr: bytes


# Runs one command and reports its wall time and the rusage of its process tree. A small process
# of its own starts it: Linux carries a process's peak RSS over fork and exec, so a command
# started straight from this (large) benchmark process would report this one's size.
LAUNCHER: Final = """\
import json, os, subprocess, sys, time
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    started = time.perf_counter()
    process = subprocess.Popen(sys.argv[3:], stdout=out, stderr=err)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"wall": wall, "cpu": cpu, "maxrss_kib": usage.ru_maxrss, "code": code}))
"""


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    accepted: tuple[int, ...] = (0,),
    keep_stdout: bool = False,
) -> Finished:
    """Run `argv` to its end and measure it; exit the benchmark if it fails."""
    environ = {**os.environ, **(env or {})}
    with tempfile.TemporaryDirectory(prefix="ipass-bench-run-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        launched = subprocess.run(
            [PYTHON, "-c", LAUNCHER, str(out), str(err), *argv],
            env=environ,
            capture_output=True,
            check=False,
        )
        if launched.returncode:
            sys.exit(f"the launcher failed: {launched.stderr.decode('utf-8', 'replace')}")
        report = json.loads(launched.stdout)
        stdout, stderr = out.read_bytes(), err.read_bytes()
    code = int(report["code"])
    if code not in accepted:
        tail = (stdout[-3000:] + stderr[-3000:]).decode("utf-8", "replace")
        sys.exit(f"{' '.join(argv)} exited {code} (expected {accepted}):\n{tail}")
    sample = Sample(report["wall"], report["cpu"], report["maxrss_kib"] / KIB_PER_MIB)
    return Finished(sample, code, stdout if keep_stdout else b"", stderr)


# `ipass` with the catalog's render_seconds budget (CPU time) raised (`use_render_budget`), for
# catalogs far larger than the default budget is made for.
BUDGETED: Final = """\
import sys
from reconciler.domain.templating import CatalogBudget
import reconciler.usecases.catalog as catalog
catalog.CATALOG_BUDGET = CatalogBudget(render_seconds=float(sys.argv.pop(1)))
from reconciler.cli.main import main
sys.exit(main())
"""
_command: list[str] = list(IPASS)


def use_render_budget(seconds: float | None) -> None:
    """Run ipass with this render_seconds budget (None: its own default, `python -m reconciler`)."""
    _command[:] = IPASS if seconds is None else [PYTHON, "-c", BUDGETED, str(seconds)]


def ipass(root: Path, *args: str) -> list[str]:
    return [*_command, "-C", str(root), *args]


def ipass_has(root: Path, command: Sequence[str], option: str = "") -> bool:
    """Whether this ipass has `command` (and `option` in its --help): benchmarks of features
    still being built report them as not yet available instead of failing."""
    done = subprocess.run(
        ipass(root, *command, "--help"), capture_output=True, text=True, check=False
    )
    return done.returncode == 0 and option in done.stdout


@dataclass
class Series:
    label: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, sample: Sample) -> Sample:
        self.samples.append(sample)
        return sample

    def values(self, pick: Callable[[Sample], float]) -> list[float]:
        return [pick(sample) for sample in self.samples]

    def median(self, pick: Callable[[Sample], float]) -> float:
        return statistics.median(self.values(pick))

    @property
    def wall(self) -> float:
        return self.median(lambda s: s.wall)

    @property
    def cpu(self) -> float:
        return self.median(lambda s: s.cpu)

    @property
    def peak(self) -> float:
        return self.median(lambda s: s.peak_mib)


def spread(values: Sequence[float], unit: str, scale: float = 1.0, digits: int = 2) -> str:
    """Median and range: `3.41 s (3.30-3.90)`."""
    low, mid, high = min(values) * scale, statistics.median(values) * scale, max(values) * scale
    return f"{mid:.{digits}f} {unit} ({low:.{digits}f}-{high:.{digits}f})"


def header(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))
    print(f"{'':<58} {'wall':>24} {'CPU (all processes)':>24} {'peak RSS':>24}")


def row(
    series: Series,
    floor: Series | None = None,
    *,
    scale: float = 1.0,
    unit: str = "s",
    digits: int | None = None,
) -> None:
    """One line: median (range) of wall, CPU and peak; with a floor, the ratios of the medians.

    `scale` and `unit` rescale the times (e.g. 1000 and "ms")."""
    if digits is None:
        digits = 0 if unit in {"ms", "us"} else 2
    wall = spread(series.values(lambda s: s.wall), unit, scale, digits)
    cpu = spread(series.values(lambda s: s.cpu), unit, scale, digits)
    peak = spread(series.values(lambda s: s.peak_mib), "MiB", 1.0, 0)
    print(f"{series.label:<58} {wall:>24} {cpu:>24} {peak:>24}")
    if floor is not None:
        print(
            f"{'':<58} {ratio(series.wall, floor.wall):>24} {ratio(series.cpu, floor.cpu):>24} "
            f"{ratio(series.peak, floor.peak):>24}"
        )


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x floor" if floor > 0 else "-"


def verdict(label: str, value: float, floor: float, aim: float) -> None:
    """The ratio of two medians against its aim."""
    got = value / floor
    status = "ok" if got <= aim else f"ABOVE the {aim}x aim"
    print(f"{label:<62} {got:6.2f}x  (aim <= {aim}x): {status}")


def machine_load() -> str:
    """The load averages (the machine is shared: say how busy it was)."""
    one, five, fifteen = os.getloadavg()
    cores = len(os.sched_getaffinity(0))
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {cores} usable cores"


def fresh(folder: Path) -> Path:
    """An empty folder (removed first if it exists)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder
