"""Sandbox use cases: serve it, register clients and users, list what it holds."""

from __future__ import annotations

import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Final

from reconciler.adapters.alipayhk.keys import KeySource, load_public_key
from reconciler.adapters.sandbox.datadir import DataDir, public_pem
from reconciler.adapters.sandbox.errors import SandboxDataError
from reconciler.adapters.sandbox.faults import FaultPlan, FaultRule
from reconciler.adapters.sandbox.records import (
    ClientRecord,
    PassRecord,
    RequestRecord,
    TemplateRecord,
)
from reconciler.adapters.sandbox.server import SandboxServer
from reconciler.adapters.sandbox.store import SandboxStore
from reconciler.domain.contract.codes import shown
from reconciler.domain.contract.identifiers import client_id_problem, merchant_id_problem
from reconciler.errors import InvalidInput

_USER_ID: Final = re.compile(r"[0-9A-Za-z]{1,32}")


def default_data_dir(project_dir: Path) -> Path:
    """Where the embedded sandbox of a project keeps its data (git-ignored)."""
    return project_dir / ".ipass" / "sandbox"


@dataclass(frozen=True)
class ServeOptions:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    allow_remote: bool = False
    faults: Sequence[str] = ()  # `KIND[:key=value,...]` each
    seed: int = 0
    time_window_s: float = 300.0


@dataclass(frozen=True)
class Serving:
    """What a started sandbox tells its user."""

    base_url: str
    data_dir: Path
    platform_public_key_path: Path
    platform_public_key_pem: str
    faults: FaultPlan


def serve(options: ServeOptions, *, on_ready: Callable[[Serving], None]) -> str:
    """Run the sandbox until SIGINT or SIGTERM; returns the name of the signal that stopped it."""
    if options.time_window_s <= 0:
        raise InvalidInput("--time-window must be a positive number of seconds")
    plan = FaultPlan(
        seed=options.seed, faults=tuple(FaultRule.parse(text) for text in options.faults)
    )
    server = SandboxServer.open(
        options.data_dir,
        host=options.host,
        port=options.port,
        allow_remote=options.allow_remote,
        faults=plan,
        time_window=timedelta(seconds=options.time_window_s),
    )
    with _stop_signals() as stopped, server:
        folder = DataDir(options.data_dir)
        on_ready(
            Serving(
                base_url=server.url,
                data_dir=options.data_dir.resolve(),
                platform_public_key_path=folder.platform_public_key.resolve(),
                platform_public_key_pem=public_pem(server.platform_public_key).decode("ascii"),
                faults=plan,
            )
        )
        stopped.wait()
        return stopped.name


class _StopEvent(threading.Event):
    name = ""


@contextmanager
def _stop_signals() -> Iterator[_StopEvent]:
    """SIGINT and SIGTERM set the event instead of raising, so shutdown runs in order."""
    stopped = _StopEvent()

    def handle(signum: int, _frame: FrameType | None) -> None:
        stopped.name = signal.Signals(signum).name
        stopped.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _existing_store(data_dir: Path) -> Iterator[SandboxStore]:
    database = DataDir(data_dir).database
    if not database.exists():
        raise SandboxDataError(
            f"no sandbox data in {data_dir}",
            hint="start one with `ipass sandbox serve`, or point --data at its folder",
        )
    with SandboxStore.open(database) as store:
        yield store


def list_templates(data_dir: Path) -> list[TemplateRecord]:
    with _existing_store(data_dir) as store:
        return store.templates()


def list_passes(data_dir: Path) -> list[PassRecord]:
    with _existing_store(data_dir) as store:
        return store.passes()


def list_requests(data_dir: Path, *, last: int | None = None) -> list[RequestRecord]:
    with _existing_store(data_dir) as store:
        return store.requests(last=last)


def list_clients(data_dir: Path) -> list[ClientRecord]:
    with _existing_store(data_dir) as store:
        return store.clients()


def register_client(
    data_dir: Path,
    *,
    client_id: str,
    public_key_file: Path,
    key_version: int,
    merchant_id: str | None,
) -> ClientRecord:
    """Register (or add a key version to) a client; a running sandbox picks it up at once."""
    _check_identifier("client id", client_id, client_id_problem(client_id))
    if key_version < 0:
        raise InvalidInput(f"--key-version must be 0 or more, not {key_version}")
    if merchant_id is not None:
        _check_identifier("merchant id", merchant_id, merchant_id_problem(merchant_id))
    key = load_public_key(KeySource.file(public_key_file), role="client public key").key
    folder = DataDir(data_dir)
    folder.create()
    with SandboxStore.open(folder.database) as store:
        store.register_client(
            client_id, public_pem(key), key_version=key_version, merchant_id=merchant_id
        )
        return next(c for c in store.clients() if c.client_id == client_id)


def _check_identifier(name: str, value: str, problem: str | None) -> None:
    if problem is not None:
        raise InvalidInput(f"{name} {shown(value)} {problem}")


def add_user(data_dir: Path, *, user_id: str, open_id: str | None) -> bool:
    """Add a user that createPass can issue to; False if it already existed."""
    for name, value in (("user id", user_id), ("open id", open_id)):
        if value is not None and not _USER_ID.fullmatch(value):
            raise InvalidInput(f"{name} {value!r} must be 1 to 32 letters or digits")
    folder = DataDir(data_dir)
    folder.create()
    with SandboxStore.open(folder.database) as store:
        return store.add_user(user_id, open_id=open_id)
