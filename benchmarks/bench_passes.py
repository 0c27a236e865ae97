"""Benchmark `ipass passes issue` and `ipass passes plan` against a floor measured in the same run.

1. Issue: N rows (default 100,000) of the example campaign `coffee-welcome`, issued by
   `ipass passes issue --workers W` to `ipass sandbox serve` running in its own process (its
   database seeded with N users first). Reported: passes per second and CPU seconds per pass of
   the ipass process, next to the floor: the same number of createPass bodies, each with its own
   bizSerialId, sent through a plain `AlipayClient.create_pass` loop on W threads to the same
   sandbox (no rendering, no validation, no ledger).
2. Plan: the peak memory of `ipass passes plan` over N rows and over N/10 rows (memory should not
   grow with the number of rows: the input is streamed, duplicates are found on disk).

Run: python benchmarks/bench_passes.py [--rows N] [--workers W]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import ipass
from reconcile_setup import (
    CLIENT_ID,
    ENV,
    Sandbox,
    read_platform_key,
    start_sandbox,
    stop,
    write_config,
)

from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.keys import (
    KeySource,
    load_private_key,
    load_public_key,
    make_signer,
    write_new_key_pair,
)
from reconciler.adapters.sandbox.ids import seeded_user_id
from reconciler.adapters.sandbox.store import SandboxStore
from reconciler.domain.canonical import canonical_json
from reconciler.domain.config import SANDBOX_MERCHANT_ID

REPO = Path(__file__).resolve().parents[1]

# One command, output discarded: wall time, peak RSS and CPU time (user + system) of the child.
RUN = """\
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
elapsed = time.perf_counter() - started
if done.returncode:
    sys.exit(f"{sys.argv[1:]} exited {done.returncode}:\\n{done.stderr[-3000:]}")
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mib: float
    cpu_s: float


def measure(argv: list[str]) -> Measured:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *argv], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(done.stderr)
    elapsed, rss_kib, cpu = done.stdout.split()[-3:]
    return Measured(float(elapsed), int(rss_kib) / 1024, float(cpu))


def write_rows(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["member_no", "user_id", "channel"])
        for i in range(rows):
            writer.writerow([f"M{i:08d}", seeded_user_id(i), "app"])


def prepare(work: Path, rows: int) -> tuple[Path, Path]:
    """A project with the example catalog and its own keys; a sandbox data folder with `rows`
    seeded users (the sandbox seeds 1,000 by default)."""
    root = work / "project"
    shutil.copytree(REPO / "catalog", root / "catalog")
    keys = write_new_key_pair(root / "keys")
    keys.private_key_path.rename(root / "keys" / "merchant.pem")
    keys.public_key_path.rename(root / "keys" / "merchant_public.pem")
    data = work / "sandbox"
    data.mkdir()
    SandboxStore.open(data / "sandbox.sqlite3", seed_users=max(rows, 1000)).close()
    write_rows(root / "rows.csv", rows)
    write_rows(root / "tenth.csv", max(rows // 10, 1))
    return root, data


def template_code(root: Path) -> tuple[str, str, str]:
    import json

    state = json.loads((root / "state" / f"{ENV}.json").read_text(encoding="utf-8"))
    current = state["entries"]["coffee-voucher"]["current"]
    return current["template_code"], current["payload"]["type"], current["payload"]["product"]


def client_floor(root: Path, url: str, rows: int, workers: int) -> tuple[float, float]:
    """Seconds and CPU seconds of `rows` signed createPass calls on `workers` threads."""
    key = load_private_key(KeySource.file(root / "keys" / "merchant.pem")).key
    platform = load_public_key(KeySource.file(root / "keys" / "platform.pem")).key
    config = ClientConfig(
        base_url=url,
        client_id=CLIENT_ID,
        key_version=1,
        signer=make_signer(key),
        platform_public_key=platform,
    )
    code, kind, product = template_code(root)
    now = int(time.time() * 1000)

    def body(i: int) -> bytes:
        return canonical_json(
            {
                "merchantId": SANDBOX_MERCHANT_ID,
                "userId": seeded_user_id(i),
                "templateCode": code,
                "bizSerialId": f"floor-{i}",
                "bizSerialType": "OUT_PLAT_FORM",
                "startDate": 1798732800000,
                "endDate": 1806508799999,
                "bizCreate": now,
                "type": kind,
                "product": product,
                "codeInfo": {"$codevalue$": f"F{i}", "$codemsg$": f"F{i}"},
                "publishScene": "FREE_GIVE",
            }
        )

    with AlipayClient(config, workers=workers) as client:
        cpu, started = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            ids = set(
                pool.map(
                    lambda i: client.create_pass(body(i), biz_serial_id=f"floor-{i}").pass_id,
                    range(rows),
                )
            )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert len(ids) == rows, "the floor's passes were not all new"
    return elapsed, cpu


@dataclass(frozen=True)
class Figures:
    rows: int
    workers: int
    issue: Measured
    floor_s: float
    floor_cpu_s: float
    plan: Measured
    plan_tenth: Measured


def run(work: Path, rows: int, workers: int) -> Figures:
    root, data = prepare(work, rows)
    sandbox: Sandbox = start_sandbox(data, root / "keys" / "merchant_public.pem")
    try:
        (root / "keys" / "platform.pem").write_text(read_platform_key(sandbox), encoding="utf-8")
        write_config(root, sandbox.url)
        subprocess.run(
            ipass(root, "apply", "--auto-approve", "--env", ENV),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        plan = measure(
            ipass(root, "passes", "plan", "coffee-welcome", "--input", str(root / "rows.csv"))
        )
        tenth = measure(
            ipass(root, "passes", "plan", "coffee-welcome", "--input", str(root / "tenth.csv"))
        )
        issue = measure(
            ipass(
                root,
                *("passes", "issue", "coffee-welcome", "--input", str(root / "rows.csv")),
                *("--auto-approve", "--workers", str(workers)),
            )
        )
        floor_s, floor_cpu = client_floor(root, sandbox.url, rows, workers)
    finally:
        stop(sandbox)
    return Figures(rows, workers, issue, floor_s, floor_cpu, plan, tenth)


def report(f: Figures) -> None:
    issue_rate = f.rows / f.issue.seconds
    floor_rate = f.rows / f.floor_s
    print(f"issue: {f.rows} passes, {f.workers} workers, sandbox in its own process")
    print(
        f"  ipass passes issue : {f.issue.seconds:7.1f} s  {issue_rate:7.0f} passes/s  "
        f"{1000 * f.issue.cpu_s / f.rows:6.2f} ms CPU/pass  (peak {f.issue.peak_mib:.0f} MiB; "
        "includes checking every row first)"
    )
    print(
        f"  client floor       : {f.floor_s:7.1f} s  {floor_rate:7.0f} passes/s  "
        f"{1000 * f.floor_cpu_s / f.rows:6.2f} ms CPU/pass"
    )
    print(f"  ratio              : {floor_rate / issue_rate:.2f}x the floor's time per pass")
    print(
        f"plan: peak memory {f.plan.peak_mib:.0f} MiB for {f.rows} rows "
        f"({f.plan.seconds:.1f} s), {f.plan_tenth.peak_mib:.0f} MiB for {max(f.rows // 10, 1)} "
        f"rows ({f.plan_tenth.seconds:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-passes-"))
    try:
        report(run(work, args.rows, args.workers))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
