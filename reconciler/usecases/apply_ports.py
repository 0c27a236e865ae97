"""What apply works with: its ports (state store, lock, client, clock, catalog, operator), its
request and its report. Apply runs the same against the real adapters and in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reconciler.domain import outcomes
from reconciler.domain.events import StateEvent
from reconciler.domain.plan import Desired, Plan, PlanOptions, PlanStep, Retirement
from reconciler.domain.planner import Destination
from reconciler.domain.state import State
from reconciler.usecases.saved_plan import SavedPlan


class TemplateSender(Protocol):
    """Sends one createTemplate and says what became of it."""

    def send_create(self, body: bytes, *, request_id: str) -> outcomes.TemplateOutcome: ...


class StateStorePort(Protocol):
    """The snapshot and journal of one environment."""

    @property
    def path(self) -> Path: ...
    def load_with_snapshot(self) -> tuple[State | None, State]: ...
    def append(self, event: StateEvent, *, durable: bool) -> None: ...
    def checkpoint(self, state: State, *, loaded: State | None) -> State: ...
    def recover(self, state: State, *, loaded: State | None) -> None: ...
    def close(self) -> None: ...


class Publisher(Protocol):
    """Records the state where a dead runner cannot take it along (the git remote)."""

    def intent(self, environment: str, keys: list[str]) -> None: ...
    def outcome(self, environment: str, report: ApplyReport) -> None: ...


class ApplyProgress(Protocol):
    """How apply reports as it goes; the command line draws it, tests record it."""

    def begin(self, plan: Plan, total: int) -> None: ...
    def done(self, step: PlanStep, outcome: str) -> None: ...


@dataclass(frozen=True)
class ApplyPorts:
    """Everything apply touches outside memory."""

    store: StateStorePort
    lock: Callable[[], AbstractContextManager[object]]
    connect: Callable[[int], AbstractContextManager[TemplateSender]]
    # The rendered catalog, given the state read under the lock (published entries may have a
    # start date in the past). Raises on catalog problems.
    load_desired: Callable[[State], tuple[Mapping[str, Desired], Mapping[str, Retirement]]]
    clock: Callable[[], str]
    operator: str
    destination: Destination
    ensure_writable: Callable[[], None] = lambda: None
    # Refuses (StorageError) when the state folder lacks room to record this many creates
    # with bodies of this many bytes in all: checked before anything is journaled or sent.
    ensure_space: Callable[[int, int], None] = lambda creates, body_bytes: None
    # A second Ctrl-C: write nothing more to the journal; the process is about to end at once.
    abandon: Callable[[], None] = lambda: None
    # When set, the intent (every create of the run, as pending) is recorded outside this
    # machine before the first request is sent, and the outcomes after the run (git push).
    publisher: Publisher | None = None


DEFAULT_PARALLELISM = 1


@dataclass(frozen=True)
class ApplyRequest:
    options: PlanOptions = field(default_factory=PlanOptions)
    saved: SavedPlan | None = None
    # Creates in flight at once; each is journaled before it is sent, whatever this is.
    parallelism: int = DEFAULT_PARALLELISM
    reason: str | None = None


@dataclass
class ApplyReport:
    plan: Plan
    created: list[tuple[str, str]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    adopted: list[tuple[str, str]] = field(default_factory=list)
    state_file: Path | None = None


Confirm = Callable[[Plan], bool]
ShouldStop = Callable[[], bool]
