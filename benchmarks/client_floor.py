"""The floor of apply: createTemplate bodies sent one after another through `AlipayClient` alone.

    python benchmarks/client_floor.py PROJECT URL BODIES.json

Each body gets a fresh requestId (so every call is a real create), is signed, sent, and its
signed response verified. Prints JSON: the loop's wall and CPU seconds and the number of calls
(the harness measures the whole process around it: start-up and imports included).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

from reconcile_setup import CLIENT_ID

from reconciler.adapters.alipayhk.client import AlipayClient, ClientConfig
from reconciler.adapters.alipayhk.keys import (
    KeySource,
    load_private_key,
    load_public_key,
    make_signer,
)
from reconciler.domain.canonical import canonical_json


def main() -> None:
    root, url, bodies_file = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    bodies: list[dict[str, object]] = json.loads(bodies_file.read_bytes())
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
        wall, cpu = time.perf_counter(), time.process_time()
        for body in bodies:
            request_id = uuid.uuid4().hex
            raw = canonical_json({**body, "requestId": request_id})
            codes.add(client.create_template(raw, request_id=request_id).template_code)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if len(codes) != len(bodies):
        sys.exit("the floor's creates were not all new templates")
    print(json.dumps({"wall": wall, "cpu": cpu, "calls": len(bodies)}))


if __name__ == "__main__":
    main()
