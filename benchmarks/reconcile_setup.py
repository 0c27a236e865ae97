"""What the plan, apply and passes benchmarks set up: a project, a state, a sandbox in its own
process, keys.

The state is written directly, not published: the catalog is rendered (`ipass render`) and every
body becomes a `created` record in the format of `reconciler.domain.state`.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from catalogs import Catalog
from harness import IPASS, ipass, run

from reconciler.adapters.alipayhk.keys import write_new_key_pair
from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.config import SANDBOX_MERCHANT_ID
from reconciler.domain.state import State, StateEntry, TemplateRecord, state_text, utc_now

ENV: Final = "rehearsal"
CLIENT_ID: Final = "BENCH-RECONCILE-0001"
# Plan needs no network; nothing listens on the discard port, should anything try.
OFFLINE_URL: Final = "http://127.0.0.1:9"

TOML: Final = """\
default_environment = "{env}"

[environments.{env}]
endpoint = "{url}"
merchant_id = "{merchant}"
client_id = "{client}"
key_version = 1
private_key_file = "keys/merchant.pem"
platform_public_key_file = "keys/platform.pem"
"""

Body = dict[str, object]


def write_config(root: Path, url: str) -> None:
    text = TOML.format(env=ENV, url=url, merchant=SANDBOX_MERCHANT_ID, client=CLIENT_ID)
    (root / "ipass.toml").write_text(text, encoding="utf-8")


def write_keys(root: Path) -> None:
    """keys/merchant.pem and keys/merchant_public.pem (platform.pem comes from the sandbox)."""
    keys = write_new_key_pair(root / "keys")
    keys.private_key_path.rename(root / "keys" / "merchant.pem")
    keys.public_key_path.rename(root / "keys" / "merchant_public.pem")


def render(root: Path) -> dict[str, Body]:
    """The exact createTemplate bodies (requestId included) keyed by catalog key."""
    done = run(ipass(root, "render", "--env", ENV), keep_stdout=True)
    bodies: dict[str, Body] = json.loads(done.stdout)
    return bodies


def published_record(source: str, body: Body, serial: int) -> TemplateRecord:
    """What apply records for a created template, as `reconciler.domain.state` defines it."""
    content = {name: value for name, value in body.items() if name != "requestId"}
    now = utc_now()
    return TemplateRecord.model_validate(
        {
            "status": "created",
            "template_code": f"22030101{serial:024d}",
            "template_status": "valid",
            "request_id": body["requestId"],
            "payload_hash": sha256_hex(canonical_json(content)),
            "payload": body,
            "source": f"{source}:1",
            "recorded_at": now,
            "updated_at": now,
        }
    )


def write_state(catalog: Catalog, bodies: Mapping[str, Body]) -> Path:
    """state/<ENV>.json recording every body as published."""
    entries = {
        key: StateEntry(current=published_record(catalog.source(key), body, serial))
        for serial, (key, body) in enumerate(sorted(bodies.items()), start=1)
    }
    state = State(lineage=str(uuid.uuid4()), serial=1, environment=ENV, entries=entries)
    path = state_file(catalog.root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(state_text(state), encoding="utf-8")
    return path


def state_file(root: Path) -> Path:
    return root / "state" / f"{ENV}.json"


def created_count(root: Path) -> int:
    """How many entries the state records as created."""
    state = json.loads(state_file(root).read_text(encoding="utf-8"))
    return sum(1 for e in state["entries"].values() if e["current"]["status"] == "created")


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


def serve(root: Path, data: Path) -> Sandbox:
    """A fresh sandbox for `root`'s client; ipass.toml and keys/platform.pem point at it."""
    sandbox = start_sandbox(data, root / "keys" / "merchant_public.pem")
    (root / "keys" / "platform.pem").write_text(read_platform_key(sandbox), encoding="utf-8")
    write_config(root, sandbox.url)
    return sandbox


def stop(sandbox: Sandbox) -> None:
    sandbox.process.terminate()
    try:
        sandbox.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        sandbox.process.kill()
        sandbox.process.wait()
