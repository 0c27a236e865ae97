"""Benchmark `ipass plan` and `ipass apply` against floors measured in the same run.

1. Plan: a synthetic catalog of N entries (default 10,000; `bench_validate.generate`) against a
   state of N published entries, 1% of which were edited since (so they plan as `blocked`).
   The state is written directly, not published: the catalog is rendered (`ipass render`), and
   every body becomes a `created` record in the format of `reconciler.domain.state`. Reported:
   wall time and peak memory of `ipass plan` next to the floor: reading and parsing the same
   catalog files (C safe loader) and the state file (`json.loads`) in a fresh interpreter.
2. Apply: `ipass apply --auto-approve` of M new entries (default 1,000) to `ipass sandbox serve`
   running in its own process, templates per second, next to the floor: the same bodies, each
   with a fresh requestId, sent one after another through `AlipayClient` to the same sandbox.
   Every round gets a fresh sandbox and a fresh state, so every create is a real one.

Run: python benchmarks/bench_reconcile.py [--entries N] [--apply-entries M] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench_validate import generate

from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.keys import (
    KeySource,
    load_private_key,
    load_public_key,
    make_signer,
    write_new_key_pair,
)
from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.config import SANDBOX_MERCHANT_ID
from reconciler.domain.state import State, StateEntry, TemplateRecord, state_text, utc_now

ENV = "rehearsal"
CLIENT_ID = "BENCH-RECONCILE-0001"
IPASS = [sys.executable, "-m", "reconciler"]
EDIT_EVERY = 100  # one entry in a hundred is edited after it was "published"
# Plan needs no network; nothing listens on the discard port, should anything try.
OFFLINE_URL = "http://127.0.0.1:9"

TOML = """\
default_environment = "{env}"

[environments.{env}]
endpoint = "{url}"
merchant_id = "{merchant}"
client_id = "{client}"
key_version = 1
private_key_file = "keys/merchant.pem"
platform_public_key_file = "keys/platform.pem"
"""

PLAN_FLOOR = """\
import json, pathlib, sys, yaml
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.yaml")):
    yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
json.loads(pathlib.Path(sys.argv[2]).read_bytes())
"""

# Runs one command (output to /dev/null) and reports its wall time and peak RSS. RUSAGE_CHILDREN
# gives the largest single process among the waited-for descendants, not the sum of a tree.
RUN = """\
import resource, subprocess, sys, time
accepted = {int(code) for code in sys.argv[1].split(",")}
started = time.perf_counter()
done = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
elapsed = time.perf_counter() - started
if done.returncode not in accepted:
    sys.exit(f"{sys.argv[2:]} exited {done.returncode}:\\n{done.stderr[-3000:]}")
print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mib: float

    def best(self, other: Measured) -> Measured:
        """Best time of two runs, largest peak memory of two runs."""
        return Measured(min(self.seconds, other.seconds), max(self.peak_mib, other.peak_mib))


WORST = Measured(float("inf"), 0.0)


def measure(argv: list[str], *, accepted: tuple[int, ...] = (0,)) -> Measured:
    codes = ",".join(str(code) for code in accepted)
    done = subprocess.run(
        [sys.executable, "-c", RUN, codes, *argv], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(done.stderr)
    elapsed, rss_kib = done.stdout.split()[-2:]
    return Measured(float(elapsed), int(rss_kib) / 1024)


def ipass(root: Path, *args: str) -> list[str]:
    return [*IPASS, "-C", str(root), *args]


def write_config(root: Path, url: str) -> None:
    text = TOML.format(env=ENV, url=url, merchant=SANDBOX_MERCHANT_ID, client=CLIENT_ID)
    (root / "ipass.toml").write_text(text, encoding="utf-8")


def render(root: Path) -> dict[str, dict[str, object]]:
    """The exact createTemplate bodies (requestId included) keyed by catalog key."""
    done = subprocess.run(
        ipass(root, "render", "--env", ENV), capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"ipass render failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr}")
    bodies: dict[str, dict[str, object]] = json.loads(done.stdout)
    return bodies


# -- plan -------------------------------------------------------------------------------------


def published_record(key: str, body: dict[str, object], serial: int) -> TemplateRecord:
    """What apply records for a created template, as `reconciler.domain.state` defines it."""
    content = {name: value for name, value in body.items() if name != "requestId"}
    group = int(key.rsplit("-", 1)[1]) // 1000  # the folder `bench_validate.generate` chose
    now = utc_now()
    return TemplateRecord.model_validate(
        {
            "status": "created",
            "template_code": f"22030101{serial:024d}",
            "template_status": "valid",
            "request_id": body["requestId"],
            "payload_hash": sha256_hex(canonical_json(content)),
            "payload": body,
            "source": f"catalog/templates/group{group:02d}/{key}.yaml:1",
            "recorded_at": now,
            "updated_at": now,
        }
    )


def write_state(root: Path, bodies: dict[str, dict[str, object]]) -> Path:
    entries = {
        key: StateEntry(current=published_record(key, body, serial))
        for serial, (key, body) in enumerate(sorted(bodies.items()), start=1)
    }
    state = State(lineage=str(uuid.uuid4()), serial=1, environment=ENV, entries=entries)
    path = root / "state" / f"{ENV}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(state_text(state), encoding="utf-8")
    return path


def edit_prices(root: Path, entries: int) -> int:
    """Discount one entry in EDIT_EVERY by HK$1 (its price variable and its amount)."""
    edited = 0
    for i in range(0, entries, EDIT_EVERY):
        path = root / "catalog" / "templates" / f"group{i // 1000:02d}" / f"coupon-{i:05d}.yaml"
        text = path.read_text(encoding="utf-8")
        new, count = re.subn(
            r"^(  price|currentAmountCent): (\d+)$",
            lambda m: f"{m.group(1)}: {int(m.group(2)) - 100}",
            text,
            flags=re.MULTILINE,
        )
        assert count == 2, f"{path}: expected a price and an amount to edit"
        path.write_text(new, encoding="utf-8")
        edited += 1
    return edited


def check_plan(root: Path, entries: int, edited: int) -> None:
    """The plan must be exactly `edited` blocked entries and the rest unchanged."""
    done = subprocess.run(
        ipass(root, "plan", "--env", ENV, "--format", "json"),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        sys.exit(f"ipass plan failed ({done.returncode}):\n{done.stderr}")
    summary = {k: v for k, v in json.loads(done.stdout)["summary"].items() if v}
    expected = {"blocked": edited, "no-op": entries - edited}
    if summary != expected:
        sys.exit(f"the synthetic state does not plan as intended: {summary} != {expected}")


@dataclass(frozen=True)
class PlanFigures:
    entries: int
    edited: int
    state_mib: float
    floor: Measured
    plan: Measured


def bench_plan(work: Path, entries: int, repeat: int, profile: bool) -> PlanFigures:
    root = work / "plan"
    generate(root, entries)
    write_config(root, OFFLINE_URL)
    state_file = write_state(root, render(root))
    edited = edit_prices(root, entries)
    check_plan(root, entries, edited)  # also warms the file cache for both sides
    floor = plan = WORST
    command = ipass(root, "plan", "--env", ENV)
    for _ in range(repeat):  # interleaved, so both see the same conditions
        floor = floor.best(
            measure([sys.executable, "-c", PLAN_FLOOR, str(root / "catalog"), str(state_file)])
        )
        plan = plan.best(measure(command, accepted=(1,)))  # 1: blocked entries, as intended
    if profile:
        print_profile(root, work / "plan.prof")
    return PlanFigures(entries, edited, state_file.stat().st_size / 2**20, floor, plan)


def print_profile(root: Path, out: Path) -> None:
    """One `ipass plan` under cProfile (its main process only), top functions by cumtime."""
    import pstats

    argv = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "reconciler"]
    subprocess.run(
        [*argv, "-C", str(root), "plan", "--env", ENV], stdout=subprocess.DEVNULL, check=False
    )
    print("profile of one `ipass plan` (main process), top 25 by cumulative time:")
    pstats.Stats(str(out), stream=sys.stdout).sort_stats("cumulative").print_stats(25)


# -- apply ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sandbox:
    process: subprocess.Popen[str]
    url: str


def start_sandbox(data: Path, public_key: Path) -> Sandbox:
    """Register the client in a fresh data folder, then serve it in its own process."""
    register = [*IPASS, "sandbox", "register-client", "--data", str(data)]
    register += ["--client-id", CLIENT_ID, "--public-key", str(public_key)]
    register += ["--key-version", "1", "--merchant-id", SANDBOX_MERCHANT_ID]
    subprocess.run(register, check=True, stdout=subprocess.DEVNULL)
    process = subprocess.Popen(
        [*IPASS, "sandbox", "serve", "--data", str(data), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    found = re.search(r"listening on (http://\S+)", process.stdout.readline())
    if found is None:
        process.kill()
        process.wait()
        sys.exit(f"sandbox did not start (exit {process.returncode})")
    return Sandbox(process, found.group(1))


def read_platform_key(sandbox: Sandbox) -> str:
    """The PEM block `serve` prints after its URL."""
    assert sandbox.process.stdout is not None
    lines: list[str] = []
    for line in sandbox.process.stdout:
        if line.startswith("-----BEGIN") or lines:
            lines.append(line)
        if line.startswith("-----END"):
            return "".join(lines)
    sys.exit("sandbox serve printed no platform public key")


def stop(sandbox: Sandbox) -> None:
    sandbox.process.terminate()
    try:
        sandbox.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        sandbox.process.kill()
        sandbox.process.wait()


def client_floor(root: Path, url: str, bodies: list[dict[str, object]]) -> float:
    """Seconds for sequential signed createTemplate calls, each with a fresh requestId."""
    key = load_private_key(KeySource.file(root / "keys" / "merchant.pem")).key
    platform = load_public_key(KeySource.file(root / "keys" / "platform.pem")).key
    config = ClientConfig(
        base_url=url,
        client_id=CLIENT_ID,
        key_version=1,
        signer=make_signer(key),
        platform_public_key=platform,
    )
    codes: set[str] = set()
    with AlipayClient(config) as client:
        started = time.perf_counter()
        for body in bodies:
            request_id = uuid.uuid4().hex
            raw = canonical_json({**body, "requestId": request_id})
            codes.add(client.create_template(raw, request_id=request_id).template_code)
        elapsed = time.perf_counter() - started
    assert len(codes) == len(bodies), "the floor's creates were not all new templates"
    return elapsed


def check_applied(root: Path, entries: int) -> None:
    state = json.loads((root / "state" / f"{ENV}.json").read_text(encoding="utf-8"))
    created = [e for e in state["entries"].values() if e["current"]["status"] == "created"]
    if len(created) != entries:
        sys.exit(f"apply recorded {len(created)} created templates, not {entries}")


@dataclass(frozen=True)
class ApplyFigures:
    entries: int
    rounds: int
    floor_s: float
    apply: Measured
    plan_s: float  # `ipass plan` of the same inputs: what apply spends before its first create
    parallel: Measured  # `ipass apply --parallelism PARALLEL`, in its own fresh sandbox


PARALLEL = 4


def apply_round(
    root: Path, data: Path, bodies: list[dict[str, object]], floor_first: bool
) -> tuple[float, Measured, float]:
    shutil.rmtree(root / "state", ignore_errors=True)
    sandbox = start_sandbox(data, root / "keys" / "merchant_public.pem")
    try:
        (root / "keys" / "platform.pem").write_text(read_platform_key(sandbox), encoding="utf-8")
        write_config(root, sandbox.url)
        planned = measure(ipass(root, "plan", "--env", ENV)).seconds
        floor = client_floor(root, sandbox.url, bodies) if floor_first else 0.0
        applied = measure(ipass(root, "apply", "--auto-approve", "--env", ENV))
        check_applied(root, len(bodies))
        if not floor_first:
            floor = client_floor(root, sandbox.url, bodies)
    finally:
        stop(sandbox)
    return floor, applied, planned


def parallel_round(root: Path, data: Path, entries: int) -> Measured:
    """`ipass apply --parallelism PARALLEL` into a fresh sandbox and state."""
    shutil.rmtree(root / "state", ignore_errors=True)
    sandbox = start_sandbox(data, root / "keys" / "merchant_public.pem")
    try:
        (root / "keys" / "platform.pem").write_text(read_platform_key(sandbox), encoding="utf-8")
        write_config(root, sandbox.url)
        argv = ipass(root, "apply", "--auto-approve", "--env", ENV, "--parallelism", str(PARALLEL))
        applied = measure(argv)
        check_applied(root, entries)
    finally:
        stop(sandbox)
    return applied


def bench_apply(work: Path, entries: int, repeat: int) -> ApplyFigures:
    root = work / "apply"
    generate(root, entries)
    keys = write_new_key_pair(root / "keys")
    keys.private_key_path.rename(root / "keys" / "merchant.pem")
    keys.public_key_path.rename(root / "keys" / "merchant_public.pem")
    write_config(root, OFFLINE_URL)
    bodies = list(render(root).values())
    floor, applied, planned, parallel = float("inf"), WORST, float("inf"), WORST
    for number in range(repeat):
        data = work / f"sandbox-{number}"  # fresh sandbox and state: every create is real
        round_floor, round_apply, round_plan = apply_round(root, data, bodies, number % 2 == 1)
        floor, applied = min(floor, round_floor), applied.best(round_apply)
        planned = min(planned, round_plan)
        shutil.rmtree(data, ignore_errors=True)
        parallel = parallel.best(parallel_round(root, work / f"parallel-{number}", entries))
        shutil.rmtree(work / f"parallel-{number}", ignore_errors=True)
    return ApplyFigures(entries, repeat, floor, applied, planned, parallel)


# -- report -----------------------------------------------------------------------------------


def verdict(ratio: float, aim: float) -> str:
    return "ok" if ratio <= aim else f"ABOVE the {aim}x aim"


def report(plan: PlanFigures, apply: ApplyFigures, repeat: int) -> None:
    plan_ratio = plan.plan.seconds / plan.floor.seconds
    floor_rate = apply.entries / apply.floor_s
    apply_rate = apply.entries / apply.apply.seconds
    creates_rate = apply.entries / max(apply.apply.seconds - apply.plan_s, 1e-9)
    apply_ratio = floor_rate / apply_rate
    print(f"plan: {plan.entries} catalog entries vs a state of {plan.entries} published entries")
    print(f"      ({plan.state_mib:.1f} MiB); {plan.edited} edited since, planned as blocked")
    print(f"apply: {apply.entries} new entries to `ipass sandbox serve` in its own process;")
    print(f"       {apply.rounds} rounds, each with a fresh sandbox and state")
    print(f"best of {repeat} interleaved runs; peak = largest process RSS in the run")
    print()
    print(f"{'measurement':<44} {'time':>9} {'peak':>10} {'rate':>14}")
    rows = [
        ("plan floor (C safe-load + json.loads)", plan.floor.seconds, plan.floor.peak_mib, ""),
        ("ipass plan", plan.plan.seconds, plan.plan.peak_mib, ""),
        ("apply floor (sequential AlipayClient)", apply.floor_s, None, floor_rate),
        ("ipass apply --auto-approve", apply.apply.seconds, apply.apply.peak_mib, apply_rate),
        ("  of which load + plan (ipass plan, same)", apply.plan_s, None, ""),
        ("  creates alone (apply - plan)", apply.apply.seconds - apply.plan_s, None, creates_rate),
        (
            f"ipass apply --parallelism {PARALLEL}",
            apply.parallel.seconds,
            apply.parallel.peak_mib,
            apply.entries / apply.parallel.seconds,
        ),
    ]
    for label, seconds, peak, rate in rows:
        peak_text = f"{peak:6.1f} MiB" if peak is not None else ""
        rate_text = f"{rate:7.0f} tmpl/s" if isinstance(rate, float) else ""
        print(f"{label:<44} {seconds:7.2f} s {peak_text:>10} {rate_text:>14}")
    print()
    print(f"plan:  ipass plan / floor time        {plan_ratio:5.2f}x  (aim <= 1.5x): ", end="")
    print(verdict(plan_ratio, 1.5))
    print(f"apply: floor rate / apply rate        {apply_ratio:5.2f}x  (aim <= 1.5x): ", end="")
    print(verdict(apply_ratio, 1.5))
    parallel_ratio = floor_rate / (apply.entries / apply.parallel.seconds)
    print(
        f"apply --parallelism {PARALLEL}: floor / rate     {parallel_ratio:5.2f}x  (aim <= 1.5x): ",
        end="",
    )
    print(verdict(parallel_ratio, 1.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=10_000, help="plan: catalog entries")
    parser.add_argument("--apply-entries", type=int, default=1_000, help="apply: new entries")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="also profile one ipass plan")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ipass-bench-reconcile-") as tmp:
        work = Path(tmp)
        plan = bench_plan(work, args.entries, args.repeat, args.profile)
        apply = bench_apply(work, args.apply_entries, args.repeat)
    report(plan, apply, args.repeat)
    print(f"(whole benchmark: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
