"""Benchmark `ipass passes issue` and `ipass passes plan` against a floor measured in the same run.

1. Issue: N rows (default 100,000) of the example campaign `coffee-welcome`, issued by
   `ipass passes issue --workers W` to `ipass sandbox serve` running in its own process (its
   database seeded with N users first). Reported: passes per second and CPU seconds per pass of
   the ipass process, next to the floor: the same number of createPass bodies, each with its own
   bizSerialId, sent through a plain `AlipayClient.create_pass` loop on W threads to the same
   sandbox (no rendering, no validation, no ledger).
2. Plan: the peak memory of `ipass passes plan` over N rows and over N/10 rows (memory should not
   grow with the number of rows: the input is streamed, duplicates are found on disk).

Every figure is the median of `--repeat` rounds (each with a fresh sandbox) with its range.

Run: python benchmarks/bench_passes.py [--rows N] [--workers W] [--repeat R]
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from harness import Sample, Series, header, ipass, machine_load, row
from harness import run as run_measured
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


@dataclass
class Figures:
    rows: int
    workers: int
    issue: Series = field(default_factory=lambda: Series("ipass passes issue, per pass"))
    floor: Series = field(default_factory=lambda: Series("floor: create_pass on threads, per pass"))
    plan: Series = field(default_factory=lambda: Series("ipass passes plan, all rows"))
    tenth: Series = field(default_factory=lambda: Series("ipass passes plan, a tenth of the rows"))


def one_round(work: Path, figures: Figures) -> None:
    """A fresh project and sandbox: every pass issued is a new one."""
    rows, workers = figures.rows, figures.workers
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
        plan = [*ipass(root, "passes", "plan", "coffee-welcome"), "--input"]
        figures.plan.add(run_measured([*plan, str(root / "rows.csv")]).sample)
        figures.tenth.add(run_measured([*plan, str(root / "tenth.csv")]).sample)
        issue = run_measured(
            ipass(
                root,
                *("passes", "issue", "coffee-welcome", "--input", str(root / "rows.csv")),
                *("--auto-approve", "--workers", str(workers)),
            )
        ).sample
        figures.issue.add(Sample(issue.wall / rows, issue.cpu / rows, issue.peak_mib))
        floor_s, floor_cpu = client_floor(root, sandbox.url, rows, workers)
        figures.floor.add(Sample(floor_s / rows, floor_cpu / rows, 0.0))
    finally:
        stop(sandbox)


def report(f: Figures) -> None:
    header(f"passes issue: {f.rows} rows, {f.workers} workers, sandbox in its own process")
    print("(issue includes checking every row first; the floor runs in this process: no peak)")
    row(f.floor, scale=1000, unit="ms", digits=2)
    row(f.issue, f.floor, scale=1000, unit="ms", digits=2)
    print(f"passes/s: issue {1 / f.issue.wall:.0f}, floor {1 / f.floor.wall:.0f}")
    header(
        f"passes plan: memory should not grow with the rows ({f.rows} and {max(f.rows // 10, 1)})"
    )
    row(f.tenth)
    row(f.plan, f.tenth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{machine_load()} (before)")
    figures = Figures(args.rows, args.workers)
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="bench-passes-"))
        try:
            one_round(work, figures)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report(figures)
    print(f"{machine_load()} (after)")


if __name__ == "__main__":
    main()
