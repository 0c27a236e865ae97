"""`SandboxServer`: the sandbox app on a real socket, in a background thread.

werkzeug's threaded server handles HTTP (one thread per connection; it answers
`Connection: close`). The server refuses non-loopback addresses unless told otherwise, keeps
track of open connections so `stop()` ends promptly even when a fault is holding a request, and
does not print a line per request: the request log is in the store.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Final, Self, cast

from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from reconciler.adapters.sandbox.app import SandboxApp
from reconciler.adapters.sandbox.datadir import DataDir
from reconciler.adapters.sandbox.errors import RemoteBindRefused, SandboxError
from reconciler.adapters.sandbox.faults import FaultInjector, FaultPlan, FaultRule
from reconciler.adapters.sandbox.gateway import DEFAULT_TIME_WINDOW, Gateway
from reconciler.adapters.sandbox.store import SandboxStore

LOOPBACK: Final = "127.0.0.1"
_STOP_GRACE: Final = 2.0
_STOP_TIMEOUT: Final = 5.0
_SOCKET_TIMEOUT: Final = 60.0


def check_bind_address(host: str, *, allow_remote: bool) -> None:
    """Refuse to listen where other machines can connect, unless `allow_remote`."""
    if allow_remote or host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise RemoteBindRefused(
            f"refusing to listen on {host}: the sandbox accepts any registered key and "
            "answers on behalf of AlipayHK, so it listens on loopback only",
            hint="use --host 127.0.0.1 (the default), or --allow-remote if you really mean it",
        )


class _Handler(WSGIRequestHandler):
    timeout = _SOCKET_TIMEOUT  # a silent client cannot hold a thread forever

    def setup(self) -> None:
        super().setup()
        _server(self).track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            _server(self).untrack(self.connection)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silent: every request is in the sandbox's request log instead."""


class _Server(ThreadedWSGIServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, app: SandboxApp) -> None:
        self._connections: set[socket.socket] = set()
        self._idle = threading.Condition()
        try:
            super().__init__(host, port, app, handler=_Handler)
        except SystemExit:  # werkzeug prints the reason (e.g. port in use) and exits
            raise SandboxError(
                f"cannot listen on {host}:{port}", hint="choose another --port, or 0 for any free"
            ) from None

    def track(self, connection: socket.socket) -> None:
        with self._idle:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._idle:
            self._connections.discard(connection)
            self._idle.notify_all()

    def close_connections(self, *, grace: float, timeout: float) -> None:
        """Let requests in flight finish for `grace` seconds, then shut what is still open."""
        with self._idle:
            if self._idle.wait_for(lambda: not self._connections, grace):
                return
            for connection in list(self._connections):
                with contextlib.suppress(OSError):  # already closed by the peer
                    connection.shutdown(socket.SHUT_RDWR)
            self._idle.wait_for(lambda: not self._connections, timeout)


def _server(handler: WSGIRequestHandler) -> _Server:
    return cast(_Server, handler.server)


class SandboxServer:
    """A running sandbox: `url`, `store`, `set_faults(...)`, `stop()`; a context manager too.

    It binds in the constructor (so `url` is known at once, even for port 0) and serves after
    `start()`. `stop()` closes the store when the server opened it (`SandboxServer.open`).
    """

    def __init__(
        self,
        store: SandboxStore,
        platform_key: rsa.RSAPrivateKey,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        allow_remote: bool = False,
        faults: FaultPlan | None = None,
        time_window: timedelta = DEFAULT_TIME_WINDOW,
        owns_store: bool = False,
    ) -> None:
        check_bind_address(host, allow_remote=allow_remote)
        self.store = store
        self.platform_public_key = platform_key.public_key()
        self._owns_store = owns_store
        self._stopping = threading.Event()
        self._injector = FaultInjector(faults)
        gateway = Gateway(store, platform_key, time_window=time_window)
        self.app = SandboxApp(store, gateway, self._injector, stopping=self._stopping)
        self._server = _Server(host, port, self.app)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        allow_remote: bool = False,
        faults: FaultPlan | None = None,
        time_window: timedelta = DEFAULT_TIME_WINDOW,
    ) -> SandboxServer:
        """A server over the data folder `data_dir` (database and platform key created if new)."""
        check_bind_address(host, allow_remote=allow_remote)
        folder = DataDir(data_dir)
        platform_key = folder.ensure_platform_key()
        store = SandboxStore.open(folder.database)
        try:
            return cls(
                store,
                platform_key,
                host=host,
                port=port,
                allow_remote=allow_remote,
                faults=faults,
                time_window=time_window,
                owns_store=True,
            )
        except BaseException:
            store.close()
            raise

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = self.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def start(self) -> Self:
        """Serve in a daemon thread; returns at once, ready for requests."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"ipass-sandbox-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    @property
    def faults(self) -> FaultPlan:
        return self._injector.plan

    def set_faults(
        self, faults: FaultPlan | Iterable[FaultRule] | None = None, *, seed: int = 0
    ) -> None:
        """Replace the fault plan (counts and PRNGs start afresh); None or () clears it."""
        if faults is None:
            plan = FaultPlan(seed=seed)
        elif isinstance(faults, FaultPlan):
            plan = faults
        else:
            plan = FaultPlan(seed=seed, faults=tuple(faults))
        self._injector.replace(plan)

    def stop(self) -> None:
        """Stop serving, end open connections, close the store if this server owns it."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(_STOP_TIMEOUT)
        self._server.server_close()
        self._server.close_connections(grace=_STOP_GRACE, timeout=_STOP_TIMEOUT)
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
