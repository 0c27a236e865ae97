"""The apply part of bench_reconcile.py: C creates onto an empty state and onto S published
entries, per create, next to the signed client alone and to the state's stdlib-json floor.

Per create is (apply - plan of the same inputs) / C, both measured with the render cache filled
by an unmeasured plan just before (where ipass has one), so the difference is the creates and
the state's write, not rendering."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from catalogs import describe, generate
from harness import PYTHON, Sample, Series, fresh, header, ipass, row, run, verdict
from reconcile_setup import (
    ENV,
    OFFLINE_URL,
    created_count,
    render,
    serve,
    state_file,
    stop,
    write_config,
    write_keys,
    write_state,
)

CLIENT_FLOOR: Final = Path(__file__).with_name("client_floor.py")
# The new entries' files are numbered from here, so they are the same files in both projects.
NEW_FILES_START: Final = 100_000
PARALLEL: Final = 4
# The state floor: what reading and writing the same state costs with the standard library.
STATE_FLOOR: Final = """\
import json, pathlib, sys
data = json.loads(pathlib.Path(sys.argv[1]).read_bytes())
text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\\n"
pathlib.Path(sys.argv[2]).write_text(text, encoding="utf-8")
"""


@dataclass
class Case:
    """One project: the creates, onto `published` entries already in the state."""

    label: str
    root: Path
    published: int
    creates: int
    state: bytes | None  # the prepared state file, put back before each round
    bodies_file: Path
    plan: Series
    apply: Series
    per_create: Series
    floor: Series
    env: dict[str, str] = field(default_factory=dict)  # e.g. IPASS_WORKERS=1

    def one_process(self) -> Case:
        """The same project, its catalog loaded in one process (IPASS_WORKERS=1)."""
        label = f"{self.label}, 1 process"
        return replace(
            self,
            label=label,
            plan=Series(f"ipass plan ({label})"),
            apply=Series(f"ipass apply ({label})"),
            per_create=Series(f"apply - plan ({label})"),
            floor=Series(f"client floor ({label})"),
            env={"IPASS_WORKERS": "1"},
        )


def prepare(work: Path, published: int, creates: int, kind: str) -> Case:
    root = fresh(work / f"apply-onto-{published}")
    old = generate(root, published, kind) if published else None
    new = generate(root, creates, kind, start=NEW_FILES_START)
    write_keys(root)
    write_config(root, OFFLINE_URL)
    bodies = render(root)
    state: bytes | None = None
    if old is not None:
        state = write_state(old, {key: bodies[key] for key in old.keys}).read_bytes()
    bodies_file = root / "creates.json"
    bodies_file.write_text(json.dumps([bodies[key] for key in new.keys]), encoding="utf-8")
    label = f"onto {published} published" if published else "onto an empty state"
    print(f"apply {label}: {describe(new)} to create")
    return Case(
        label,
        root,
        published,
        len(new.keys),
        state,
        bodies_file,
        Series(f"ipass plan ({label})"),
        Series(f"ipass apply ({label})"),
        Series(f"apply - plan ({label})"),
        Series(f"client floor ({label})"),
    )


def apply_round(case: Case, data: Path, floor_first: bool) -> None:
    shutil.rmtree(case.root / "state", ignore_errors=True)
    if case.state is not None:
        state_file(case.root).parent.mkdir(parents=True)
        state_file(case.root).write_bytes(case.state)
    sandbox = serve(case.root, fresh(data))
    try:
        if floor_first:
            client_floor(case, sandbox.url)
        plan, apply = (
            ipass(case.root, "plan", "--env", ENV),
            ipass(case.root, "apply", "--auto-approve"),
        )
        # Both measured runs find the render cache (if any) filled: the difference is the creates.
        run(plan, env=case.env)
        planned = case.plan.add(run(plan, env=case.env).sample)
        applied = case.apply.add(run(apply, env=case.env).sample)
        if not floor_first:
            client_floor(case, sandbox.url)
    finally:
        stop(sandbox)
    if (found := created_count(case.root)) != case.published + case.creates:
        raise SystemExit(f"{case.label}: {found} created, not {case.published + case.creates}")
    n = case.creates
    case.per_create.add(
        Sample((applied.wall - planned.wall) / n, (applied.cpu - planned.cpu) / n, applied.peak_mib)
    )


def client_floor(case: Case, url: str) -> None:
    done = run(
        [PYTHON, str(CLIENT_FLOOR), str(case.root), url, str(case.bodies_file)], keep_stdout=True
    )
    loop = json.loads(done.stdout)
    calls = loop["calls"]
    case.floor.add(Sample(loop["wall"] / calls, loop["cpu"] / calls, done.sample.peak_mib))


def parallel_round(case: Case, data: Path, series: Series) -> None:
    shutil.rmtree(case.root / "state", ignore_errors=True)
    sandbox = serve(case.root, fresh(data))
    try:
        argv = ipass(case.root, "apply", "--auto-approve", "--parallelism", str(PARALLEL))
        series.add(run(argv).sample)
    finally:
        stop(sandbox)


def bench_apply(work: Path, creates: int, published: int, kind: str, repeat: int) -> None:
    cases = [prepare(work, 0, creates, kind), prepare(work, published, creates, kind)]
    cases.append(cases[1].one_process())
    parallel = Series(f"ipass apply --parallelism {PARALLEL} (onto an empty state)")
    state_floor = Series(f"floor: json load + dump of the {published}-entry state")
    big = cases[1]
    for number in range(repeat):
        for case in cases:
            apply_round(case, work / "sandbox", number % 2 == 1)
        parallel_round(cases[0], work / "sandbox", parallel)
        assert big.state is not None
        source = big.root / "state-floor.json"
        source.write_bytes(big.state)
        argv = [PYTHON, "-c", STATE_FLOOR, str(source), str(big.root / "state-floor-out.json")]
        state_floor.add(run(argv).sample)
    header(f"apply: {creates} creates to `ipass sandbox serve` in its own process")
    for case in cases:
        row(case.plan)
        row(case.apply)
    row(parallel)
    row(state_floor)
    print()
    print(
        "per create (ms): (apply - plan of the same inputs) / creates; "
        "client floor: AlipayClient alone"
    )
    for case in cases:
        row(case.floor, scale=1000, unit="ms", digits=2)
        row(case.per_create, case.floor, scale=1000, unit="ms", digits=2)
    empty = cases[0]
    verdict(
        "apply CPU per create / client's (onto empty)", empty.per_create.cpu, empty.floor.cpu, 1.3
    )
    verdict(
        f"per create onto {published} / onto empty, wall",
        big.per_create.wall,
        empty.per_create.wall,
        1.0,
    )
    for case in cases[1:]:
        verdict(
            f"per create {case.label} / onto empty, CPU",
            case.per_create.cpu,
            empty.per_create.cpu,
            1.0,
        )
