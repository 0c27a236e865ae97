"""The real parts apply and the state commands work with: files, lock, client, clock."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.adapters.lock import EnvironmentLock
from reconciler.adapters.statefile import ensure_writable
from reconciler.domain.config import Target
from reconciler.domain.outcomes import TemplateOutcome
from reconciler.domain.plan import Desired, Retirement
from reconciler.domain.state import State, utc_now
from reconciler.usecases.apply import ApplyPorts, Publisher, TemplateSender
from reconciler.usecases.connect import open_client
from reconciler.usecases.plan import destination_of, load_desired, state_store

if TYPE_CHECKING:
    from reconciler.adapters.alipayhk.client import AlipayClient


@dataclass(frozen=True)
class _Sender:
    client: AlipayClient

    def send_create(self, body: bytes, *, request_id: str) -> TemplateOutcome:
        from reconciler.adapters.alipayhk.outcomes import create_template_outcome

        return create_template_outcome(self.client, body, request_id=request_id)


def lock_for(target: Target, operation: str) -> EnvironmentLock:
    # `.ipass/` and `.ipass/locks` are ipass's own folders: a link for either is refused.
    return EnvironmentLock(target.locks_dir, target.name, operation, root=target.root)


@dataclass(frozen=True)
class GitRemote:
    """Where `apply --git-push` records the state: a remote and a branch (None: the current)."""

    remote: str = "origin"
    branch: str | None = None


def apply_ports(
    target: Target, operator: str, *, git: GitRemote | None = None, workers: int | None = None
) -> ApplyPorts:
    """Apply against the environment's real state file, lock and AlipayHK endpoint; with `git`,
    the intent and the outcomes are also pushed to that remote. `workers`: processes loading
    the catalog, as in `load_catalog`."""
    publisher: Publisher | None = None
    if git is not None:
        from reconciler.usecases.push import GitPublisher, state_recorder

        recorder = state_recorder(target, author=operator, remote=git.remote, branch=git.branch)
        publisher = GitPublisher(recorder)

    @contextmanager
    def connect(workers: int) -> Iterator[TemplateSender]:
        with open_client(target, workers=workers) as client:
            yield _Sender(client)

    def desired(state: State) -> tuple[Mapping[str, Desired], Mapping[str, Retirement]]:
        catalog, wanted = load_desired(target, state, workers=workers)
        return wanted, catalog.retirements

    def lock() -> AbstractContextManager[object]:
        return lock_for(target, "apply")

    store = state_store(target)

    def ensure_writable_state() -> None:
        ensure_writable(target.state_file.parent, root=target.root)
        store.check_own_files()

    return ApplyPorts(
        store=store,
        lock=lock,
        connect=connect,
        load_desired=desired,
        clock=utc_now,
        operator=operator,
        destination=destination_of(target),
        ensure_writable=ensure_writable_state,
        ensure_space=lambda creates, body_bytes: store.ensure_space(
            creates=creates, body_bytes=body_bytes
        ),
        abandon=store.abandon,
        publisher=publisher,
    )
