"""Throughput and client CPU of signed, verified createPass calls over loopback.

    python benchmarks/bench_client.py [--requests N]

A minimal werkzeug server runs in a separate process (so `time.process_time` here measures the
client alone). It verifies nothing and signs every response with the platform key, so the
client's response verification is real. Next to the client figures, the same run measures the
floors: one RSA-2048 sign plus one verify, and a plain unsigned `requests` POST of the same body
to the same server. The ratio client CPU / (sign + verify + plain POST) should stay <= 1.2.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from multiprocessing.connection import Connection

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from harness import machine_load, spread

from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.signing import (
    RsaSha256Signer,
    content_to_sign,
    parse_signature_header,
    sign_content,
)
from reconciler.adapters.alipayhk.transport import make_session
from reconciler.domain.contract.endpoints import CREATE_PASS_PATH

CLIENT_ID = "4Q5Y8W0WSG45P907917"
WORKERS = (1, 8, 32)
BODY = (
    '{"merchantId":"2160120041113167","userId":"2160220037090534",'
    '"templateCode":"22024112800135606000000001424755","bizSerialId":"order-0001",'
    '"bizSerialType":"OUT_PLAT_FORM","startDate":1767225600000,"endDate":1798761599000,'
    '"bizCreate":1767225600000,"type":"TICKET","product":"PASS",'
    '"codeInfo":{"$codemsg$":"1","$codevalue$":"1"},'
    '"dataInfo":{"$address_zh_HK$":"香港中環皇后大道中1號",'
    '"$address_en_US$":"1 Queen\'s Road Central"}}'
).encode()
RESPONSE = (
    b'{"result":{"resultCode":"SUCCESS","resultMessage":"success","resultStatus":"S"},'
    b'"passId":"2026112319027102160530200000039"}'
)


# -- the server process --------------------------------------------------------------------


def serve(platform_pem: bytes, report: Connection) -> None:
    import logging

    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    key = serialization.load_pem_private_key(platform_pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signer = RsaSha256Signer(key)
    cache: dict[tuple[str, str, str], str] = {}  # one RSA operation per second per path

    @Request.application
    def app(request: Request) -> Response:
        request.get_data()
        client_id = request.headers.get("Client-Id", "")
        moment = datetime.now(UTC).isoformat(timespec="seconds")
        cache_key = (moment, request.path, client_id)
        signature = cache.get(cache_key)
        if signature is None:
            content = content_to_sign(request.path, client_id, moment, RESPONSE)
            signature = cache[cache_key] = sign_content(signer, 1, content)
        headers = {"Response-Time": moment, "Signature": signature, "Tracer-Id": "bench"}
        return Response(RESPONSE, headers=headers, content_type="application/json; charset=UTF-8")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    report.send(server.server_port)
    server.serve_forever()


# -- measurements --------------------------------------------------------------------------


def cpu_and_wall(work: Callable[[], None], count: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        work()
    return (time.process_time() - cpu) / count, time.perf_counter() - wall


def floor_sign_verify(merchant: rsa.RSAPrivateKey, platform: rsa.RSAPrivateKey, n: int) -> float:
    content = content_to_sign(CREATE_PASS_PATH, CLIENT_ID, "2026-11-23T10:00:00+08:00", BODY)
    response_content = content_to_sign(
        CREATE_PASS_PATH, CLIENT_ID, "2026-11-23T10:00:01+08:00", RESPONSE
    )
    response_sig = parse_signature_header(
        sign_content(RsaSha256Signer(platform), 1, response_content)
    ).signature
    public = platform.public_key()

    def once() -> None:
        merchant.sign(content, padding.PKCS1v15(), hashes.SHA256())
        public.verify(response_sig, response_content, padding.PKCS1v15(), hashes.SHA256())

    return cpu_and_wall(once, n)[0]


def floor_plain_post(url: str, n: int) -> float:
    with requests.Session() as session:
        session.trust_env = False

        def once() -> None:
            response = session.post(
                url, data=BODY, headers={"Content-Type": "application/json; charset=UTF-8"}
            )
            assert response.status_code == 200
            assert response.content == RESPONSE

        once()
        return cpu_and_wall(once, n)[0]


def run_client(client: AlipayClient, n: int, workers: int) -> tuple[float, float]:
    """Requests per second and client CPU seconds per request."""
    counter = iter(range(10**9))

    def once(_: int = 0) -> None:
        assert client.create_pass(BODY, biz_serial_id=f"order-{next(counter)}").pass_id

    once()
    cpu, wall = time.process_time(), time.perf_counter()
    if workers == 1:
        for _ in range(n):
            once()
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(once, range(n)))
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n


def report(
    n: int,
    rounds: int,
    *,
    sign_verify: list[float],
    plain: list[float],
    rates: dict[int, list[float]],
    cpus: dict[int, list[float]],
) -> None:
    floors = [s + p for s, p in zip(sign_verify, plain, strict=True)]
    floor = statistics.median(floors)
    print(machine_load())
    print(f"requests: {n} per concurrent run, {max(20, n // rounds)} per sequential block,")
    print(f"          {rounds} interleaved rounds: median (min-max)")
    print("server: werkzeug in a separate process; it closes every connection, so each call")
    print("        (client and plain floor alike) includes a TCP connect over loopback")
    print(f"floor  RSA-2048 sign + verify : {spread(sign_verify, 'us CPU', 1e6, 0)}")
    print(f"floor  plain requests POST    : {spread(plain, 'us CPU', 1e6, 0)}")
    print(f"floor  sum                    : {spread(floors, 'us CPU', 1e6, 0)}")
    for workers in WORKERS:
        label = "sequential" if workers == 1 else f"{workers} workers"
        cpu = statistics.median(cpus[workers])
        print(
            f"client {label:<12} {spread(rates[workers], 'req/s', 1, 0):>22}   "
            f"{spread(cpus[workers], 'us CPU/req', 1e6, 0):>28}   ratio {cpu / floor:5.2f}x"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (client, floors and {len(WORKERS)} pools): {peak:.0f} MiB")
    sequential_ratio = statistics.median(cpus[1]) / floor
    verdict = "ok" if sequential_ratio <= 1.2 else "ABOVE the 1.2x aim"
    print(f"client CPU per signed call / floor (sequential): {sequential_ratio:.2f}x ({verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=400, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds (>= 3)")
    args = parser.parse_args()
    n: int = args.requests

    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # once per process
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform_pem = platform.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    server = context.Process(target=serve, args=(platform_pem, send), daemon=True)
    server.start()
    try:
        port = receive.recv()
        base_url = f"http://127.0.0.1:{port}"
        config = ClientConfig(
            base_url=base_url,
            client_id=CLIENT_ID,
            key_version=1,
            signer=RsaSha256Signer(merchant),
            platform_public_key=platform.public_key(),
        )
        # Short interleaved blocks: interleaving exposes the client and its floors to the same
        # conditions; each figure is the median of the rounds, with its range.
        block = max(20, n // args.rounds)
        sign_verify: list[float] = []
        plain: list[float] = []
        rates: dict[int, list[float]] = {w: [] for w in WORKERS}
        cpus: dict[int, list[float]] = {w: [] for w in WORKERS}
        clients = {w: AlipayClient(config, make_session(workers=w)) for w in WORKERS}
        try:
            for _ in range(args.rounds):
                sign_verify.append(floor_sign_verify(merchant, platform, block))
                plain.append(floor_plain_post(base_url + CREATE_PASS_PATH, block))
                for workers, client in clients.items():
                    rps, cpu = run_client(client, block if workers == 1 else n, workers)
                    rates[workers].append(rps)
                    cpus[workers].append(cpu)
        finally:
            for client in clients.values():
                client.close()
    finally:
        server.terminate()
        server.join()

    report(n, args.rounds, sign_verify=sign_verify, plain=plain, rates=rates, cpus=cpus)


if __name__ == "__main__":
    main()
