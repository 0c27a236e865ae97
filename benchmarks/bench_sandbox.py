"""Sandbox throughput and CPU cost per request, next to the client's, in the same run.

Starts `ipass sandbox serve` in its own process, then 16 concurrent signing clients (threads, or
processes x threads) send createPass through the project's `AlipayClient` (sign, send, verify the
response signature, parse). Reports requests per second, latency, the server process's CPU time
per request (from /proc/<pid>/stat) and the clients' CPU time per request (getrusage in each
client process). Aim: sandbox CPU per request within 1.3x of the client's.

    python benchmarks/bench_sandbox.py [--requests 4000] [--clients 16] [--processes 1]
        [--repeat 3]

Each figure is the median of `--repeat` measured rounds against the same server, with its
range; the server's peak memory is its VmHWM.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import machine_load, spread

from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.keys import (
    KeySource,
    load_private_key,
    load_public_key,
    make_signer,
    write_new_key_pair,
)
from reconciler.adapters.alipayhk.transport import make_session
from reconciler.usecases.sandbox import register_client

CLIENT_ID = "BENCH-CLIENT-0001"
MERCHANT_ID = "2160120000000001"
DAY_MS = 86_400_000
IPASS = [sys.executable, "-c", "import sys; from reconciler.cli.main import main; sys.exit(main())"]


@dataclass(frozen=True)
class Setup:
    base_url: str
    private_key: Path
    platform_public_key: Path
    template_code: str


@dataclass(frozen=True)
class WorkerResult:
    requests: int
    failures: int
    cpu_s: float
    latencies_s: list[float]


def _client(setup: Setup, workers: int) -> AlipayClient:
    key = load_private_key(KeySource.file(setup.private_key)).key
    platform = load_public_key(KeySource.file(setup.platform_public_key)).key
    config = ClientConfig(
        base_url=setup.base_url,
        client_id=CLIENT_ID,
        key_version=1,
        signer=make_signer(key),
        platform_public_key=platform,
    )
    return AlipayClient(config, make_session(workers=workers))


def _pass_body(template_code: str, serial: str, user: int) -> bytes:
    now = int(time.time() * 1000)
    body = {
        "merchantId": MERCHANT_ID,
        "userId": f"2160220{user % 1000:09d}",
        "templateCode": template_code,
        "bizSerialId": serial,
        "bizSerialType": "OUT_PLAT_FORM",
        "startDate": now,
        "endDate": now + 30 * DAY_MS,
        "bizCreate": now,
        "type": "COUPON",
        "product": "GIFT_CARD",
        "codeInfo": {"$codevalue$": serial, "$codemsg$": serial},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_clients(setup: Setup, worker: int, threads: int, per_thread: int) -> WorkerResult:
    """One client process: `threads` threads sharing one AlipayClient, `per_thread` each."""
    client = _client(setup, threads)
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()

    def one_thread(thread: int) -> None:
        nonlocal failures
        for i in range(per_thread):
            serial = f"B{worker}-{thread}-{i}"
            body = _pass_body(setup.template_code, serial, i)
            started = time.perf_counter()
            try:
                client.create_pass(body, biz_serial_id=serial)
            except Exception:  # noqa: BLE001 -- counted and reported, the run goes on
                with lock:
                    failures += 1
            with lock:
                latencies.append(time.perf_counter() - started)

    cpu_before = _cpu_self()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one_thread, range(threads)))
    cpu = _cpu_self() - cpu_before
    client.close()
    return WorkerResult(threads * per_thread, failures, cpu, latencies)


def _server_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _start_server(data: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [*IPASS, "sandbox", "serve", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    found = re.search(r"http://\S+", first)
    if found is None:
        process.kill()
        raise SystemExit(f"sandbox did not start: {first!r}")
    return process, found.group(0)


def _template(setup: Setup) -> str:
    start = int(time.time() * 1000) + DAY_MS
    body = {
        "requestId": "BENCH-TEMPLATE",
        "merchantId": MERCHANT_ID,
        "startDate": start,
        "endDate": start + 30 * DAY_MS,
        "type": "COUPON",
        "product": "GIFT_CARD",
        "codeType": "barcode",
        "codeStandard": "CODE128",
        "imageUrl": "https://cdn.example.com/card.png",
        "button": {"btnType": "usage", "btnUrl": "alipayhk://platformapi/startapp?appId=1"},
        "localeInfo": {"en_US": {"name": "Bench", "description": "d", "brandName": "b"}},
        "merchantLogo": "https://cdn.example.com/logo.png",
        "stock": 1_000_000,
        "orderPageLink": "alipayhk://platformapi/startapp?appId=1&page=buy",
        "categories": ["Food"],
        "exposure": "exposed",
    }
    with _client(setup, 1) as client:
        raw = json.dumps(body, separators=(",", ":")).encode()
        return client.create_template(raw, request_id="BENCH-TEMPLATE").template_code


@dataclass(frozen=True)
class Round:
    requests: int
    failures: int
    elapsed_s: float
    server_cpu_s: float
    client_cpu_s: float
    latencies_s: list[float]


def measure_round(
    setup: Setup, process: subprocess.Popen[str], args: argparse.Namespace, number: int
) -> Round:
    threads = args.clients // args.processes
    per_thread = max(1, args.requests // (threads * args.processes))
    base = (number + 1) * 1000  # bizSerialIds stay unique across rounds
    server_before = _server_cpu_s(process.pid)
    started = time.perf_counter()
    if args.processes == 1:
        results = [run_clients(setup, base, threads, per_thread)]
    else:
        with ProcessPoolExecutor(args.processes) as pool:
            futures = [
                pool.submit(run_clients, setup, base + w, threads, per_thread)
                for w in range(args.processes)
            ]
            results = [f.result() for f in futures]
    elapsed = time.perf_counter() - started
    return Round(
        requests=sum(r.requests for r in results),
        failures=sum(r.failures for r in results),
        elapsed_s=elapsed,
        server_cpu_s=_server_cpu_s(process.pid) - server_before,
        client_cpu_s=sum(r.cpu_s for r in results),
        latencies_s=sorted(x for r in results for x in r.latencies_s),
    )


def _server_peak_mib(pid: int) -> float:
    """VmHWM: the server process's peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def report(rounds: list[Round], args: argparse.Namespace, server_peak: float) -> None:
    threads = args.clients // args.processes
    total = sum(r.requests for r in rounds)
    failures = sum(r.failures for r in rounds)
    rates = [r.requests / r.elapsed_s for r in rounds]
    server = [r.server_cpu_s / r.requests for r in rounds]
    client = [r.client_cpu_s / r.requests for r in rounds]
    p50 = [statistics.median(r.latencies_s) for r in rounds]
    p99 = [r.latencies_s[int(len(r.latencies_s) * 0.99) - 1] for r in rounds]
    print(machine_load())
    print(f"clients: {args.processes} process(es) x {threads} threads, createPass")
    print(f"requests: {total} in {len(rounds)} rounds ({failures} failed): median (min-max)")
    print(f"throughput: {spread(rates, 'req/s', 1, 0)}")
    print(f"latency: p50 {spread(p50, 'ms', 1000, 1)}, p99 {spread(p99, 'ms', 1000, 1)}")
    print(f"sandbox CPU per request: {spread(server, 'ms', 1000, 3)}")
    print(f"client  CPU per request: {spread(client, 'ms', 1000, 3)}")
    print(f"sandbox peak RSS: {server_peak:.0f} MiB")
    ratio = statistics.median(server) / statistics.median(client)
    print(f"sandbox / client: {ratio:.2f} (aim <= 1.30)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=4000, help="per round")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in all")
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="measured rounds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        keys = write_new_key_pair(folder / "merchant")
        register_client(
            folder / "data",
            client_id=CLIENT_ID,
            public_key_file=keys.public_key_path,
            key_version=1,
            merchant_id=MERCHANT_ID,
        )
        process, url = _start_server(folder / "data")
        try:
            setup = Setup(url, keys.private_key_path, folder / "data/platform_public_key.pem", "")
            setup = dataclasses.replace(setup, template_code=_template(setup))
            warm = max(1, args.warmup // args.clients)
            run_clients(setup, 99, args.clients, warm)
            rounds = [measure_round(setup, process, args, n) for n in range(args.repeat)]
            server_peak = _server_peak_mib(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=20)
    report(rounds, args, server_peak)


if __name__ == "__main__":
    main()
