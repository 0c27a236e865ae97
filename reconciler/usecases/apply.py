"""`ipass apply`: publish what the plan creates, crash-safe, one writer at a time.

For each create: journal `pending` (fsynced) -> signed createTemplate -> journal the outcome.
`S` records the templateCode; `F` puts the key back as it was and stops; anything ambiguous is
recorded as `unknown` and stops. The snapshot is rewritten atomically when the run ends; a run
killed at any point is recovered from snapshot + journal by the next one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict

from reconciler.adapters.lock import EnvironmentLock
from reconciler.adapters.statefile import StateStore, ensure_writable
from reconciler.domain.canonical import canonical_json
from reconciler.domain.config import load_project
from reconciler.domain.journal import (
    Created,
    JournalEvent,
    Pending,
    Rejected,
    Retired,
    Unknown,
    apply_event,
)
from reconciler.domain.plan import CHANGES, Action, Plan, PlanOptions, PlanStep
from reconciler.domain.state import State, StateEntry, TemplateRecord, utc_now
from reconciler.errors import Interrupted, InvalidInput, IpassError, OutcomeUnknown, VendorRejected
from reconciler.usecases.connect import Paths, open_client, state_paths
from reconciler.usecases.plan import PlanInputs, load_inputs, plan_from
from reconciler.usecases.saved_plan import check_saved_plan, read_saved_plan

if TYPE_CHECKING:
    from reconciler.adapters.alipayhk.results import TemplateCreated


class TemplateCreator(Protocol):
    def create_template(self, body: bytes, *, request_id: str) -> TemplateCreated: ...


class ApplyProgress(Protocol):
    """How apply reports as it goes; the command line draws it, tests record it."""

    def begin(self, plan: Plan, total: int) -> None: ...
    def done(self, step: PlanStep, outcome: str) -> None: ...


DEFAULT_PARALLELISM = 1


@dataclass(frozen=True)
class ApplyRequest:
    project_dir: Path
    environment: str | None
    options: PlanOptions = field(default_factory=PlanOptions)
    plan_file: Path | None = None
    # Creates in flight at once; each is journaled before it is sent, whatever this is.
    parallelism: int = DEFAULT_PARALLELISM


@dataclass
class ApplyReport:
    plan: Plan
    created: list[tuple[str, str]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    state_file: Path | None = None


Confirm = Callable[[Plan], bool]
ShouldStop = Callable[[], bool]


def apply(
    request: ApplyRequest,
    *,
    confirm: Confirm,
    progress: ApplyProgress,
    should_stop: ShouldStop,
) -> ApplyReport:
    """Lock, plan, check, confirm, execute; raises the error that decides the exit code."""
    saved = read_saved_plan(request.plan_file) if request.plan_file is not None else None
    options = saved.options if saved is not None else request.options
    environment, paths = _locate(request)
    ensure_writable(paths.state_file.parent)  # before any API call: every create must be recorded
    with EnvironmentLock(paths.locks, environment, "apply"):
        inputs = load_inputs(request.project_dir, environment)  # read under the lock
        plan = plan_from(inputs, options)
        if saved is not None:
            check_saved_plan(saved, plan, inputs.desired)
        _refuse_blocked(plan)
        report = ApplyReport(plan, state_file=inputs.paths.state_file)
        if not plan.has_changes:
            # A run killed while writing the snapshot left its outcomes only in the journal.
            inputs.store.recover(inputs.state, loaded=inputs.snapshot)
            return report
        if not confirm(plan):
            raise InvalidInput("apply cancelled; nothing was changed")
        engine = _Engine(inputs, progress, should_stop, report, request.parallelism)
        with open_client(inputs.project, inputs.env, workers=request.parallelism) as client:
            engine.run(plan, client)
        return report


def _locate(request: ApplyRequest) -> tuple[str, Paths]:
    project = load_project(request.project_dir)
    name, env = project.environment(request.environment)
    return name, state_paths(project, name, env)


def _refuse_blocked(plan: Plan) -> None:
    blocked = plan.of(Action.BLOCKED)
    if blocked:
        keys = ", ".join(step.key for step in blocked)
        raise InvalidInput(
            f"the plan has {len(blocked)} blocked entr{'y' if len(blocked) == 1 else 'ies'} "
            f"({keys}): published templates cannot be changed, so nothing was applied",
            hint="publish the edit under a new key, or `ipass apply --replace KEY` to create a "
            "new template and keep the old one in history; or leave them out with --exclude",
        )
    unknown = plan.of(Action.UNKNOWN)
    if unknown:
        keys = ", ".join(step.key for step in unknown)
        raise OutcomeUnknown(
            f"earlier creates have an unknown outcome ({keys}); nothing was applied",
            hint="check at AlipayHK, then `ipass state resolve KEY --template-code CODE` or "
            "`--not-created`; or `ipass apply --retry-unknown` (same requestId: safe where "
            "AlipayHK deduplicates requestId, as the sandbox does); or --exclude them",
        )


class _EventBase(TypedDict):
    """Every journal event names the snapshot it builds on and its key."""

    lineage: str
    base_serial: int
    key: str


class _Engine:
    """Executes the steps that change something, journaling each one.

    Up to `parallelism` creates are in flight at once. Journal and state are updated under one
    lock, so each `pending` is on disk before its request leaves. After a rejection, an unknown
    outcome or a stop request no new create starts; those in flight finish and are recorded, and
    the failure earliest in plan order is the one raised.
    """

    def __init__(
        self,
        inputs: PlanInputs,
        progress: ApplyProgress,
        should_stop: ShouldStop,
        report: ApplyReport,
        parallelism: int,
    ) -> None:
        if parallelism < 1:
            raise InvalidInput(f"--parallelism must be at least 1, not {parallelism}")
        self.store: StateStore = inputs.store
        self.snapshot = inputs.snapshot
        self.state: State = inputs.state
        self.progress = progress
        self.should_stop = should_stop
        self.report = report
        self.parallelism = parallelism
        self.dirty = False
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._failures: list[tuple[int, IpassError]] = []

    def run(self, plan: Plan, client: TemplateCreator) -> None:
        steps = [step for step in plan.steps if step.action in CHANGES]
        self.progress.begin(plan, len(steps))
        try:
            for step in steps:
                if step.action is Action.RETIRE:  # local bookkeeping: no request involved
                    self._record(Retired(**self._base(step.key)), durable=True)
                    self.report.retired.append(step.key)
                    self.progress.done(step, "retired")
            creates = [step for step in steps if step.action is not Action.RETIRE]
            with ThreadPoolExecutor(self.parallelism, thread_name_prefix="ipass-apply") as pool:
                for _ in pool.map(self._attempt, range(len(creates)), creates, repeat(client)):
                    pass
        finally:
            self.close()
        if self._failures:
            raise min(self._failures, key=lambda failure: failure[0])[1]
        if self.should_stop() and len(self.report.created) < len(creates):
            raise Interrupted(
                "interrupted: the requests in flight were finished and recorded; "
                "the rest of the plan was not applied",
                hint="run `ipass apply` again to continue",
            )

    def _attempt(self, index: int, step: PlanStep, client: TemplateCreator) -> None:
        if self._halt.is_set() or self.should_stop():
            return
        try:
            self._create(step, client)
        except (OutcomeUnknown, VendorRejected) as error:
            with self._lock:
                self._failures.append((index, error))
            self._halt.set()

    def _base(self, key: str) -> _EventBase:
        return {"lineage": self.state.lineage, "base_serial": self.state.serial, "key": key}

    def _record(self, event: JournalEvent, *, durable: bool) -> None:
        with self._lock:
            self.store.append(event, durable=durable)
            self.state = apply_event(self.state, event)
            self.dirty = True

    def _create(self, step: PlanStep, client: TemplateCreator) -> None:
        if step.send is None:  # the plan gives every create, replace and retry a body
            raise ValueError(f"plan step {step.key!r} ({step.action}) has nothing to send")
        request_id = str(step.send["requestId"])
        with self._lock:
            previous = self.state.entries.get(step.key)
        now = utc_now()
        record = TemplateRecord(
            status="pending",
            request_id=request_id,
            payload_hash=step.desired.payload_hash
            if step.desired and step.action is not Action.RETRY
            else (step.recorded.payload_hash if step.recorded else ""),
            payload=step.send,
            generation=step.generation,
            source=step.source,
            recorded_at=now,
            updated_at=now,
        )
        pending = Pending(
            **self._base(step.key), record=record, replacing=step.action is Action.REPLACE
        )
        self._record(pending, durable=True)  # invariant 1: on disk before the request leaves
        try:
            created = client.create_template(canonical_json(step.send), request_id=request_id)
        except OutcomeUnknown as error:
            self._record(Unknown(**self._base(step.key), reason=error.message), durable=True)
            self._done(step, "unknown")
            raise OutcomeUnknown(
                f"{step.source}: {step.key}: {error.message}",
                hint=f"`ipass apply --retry-unknown --target {step.key}` re-sends requestId "
                f"{request_id}; or check at AlipayHK and `ipass state resolve {step.key}`",
            ) from error
        except VendorRejected as error:
            code = getattr(error, "code", None) or "NOT_SENT"
            restore = _restore_after_rejection(step, previous)
            self._record(
                Rejected(
                    **self._base(step.key), code=str(code), message=error.message, previous=restore
                ),
                durable=True,
            )
            self._done(step, f"rejected [{code}]")
            raise VendorRejected(
                f"{step.source}: {step.key}: createTemplate rejected: {error.message}",
                hint=error.hint or "fix the entry (`ipass validate` checks it), then apply again",
            ) from error
        self._record(
            Created(
                **self._base(step.key),
                template_code=created.template_code,
                template_status=created.status,
            ),
            durable=False,  # a lost outcome line leaves `pending`: unknown, never a duplicate
        )
        with self._lock:
            self.report.created.append((step.key, created.template_code))
        self._done(step, f"created {created.template_code}")

    def _done(self, step: PlanStep, outcome: str) -> None:
        with self._lock:
            self.progress.done(step, outcome)

    def close(self) -> None:
        """Absorb the journal into a new snapshot; if this fails the journal still holds it all."""
        if self.dirty:
            self.state = self.store.checkpoint(self.state, loaded=self.snapshot)
            self.dirty = False
        self.store.close()


def _restore_after_rejection(step: PlanStep, previous: StateEntry | None) -> StateEntry | None:
    """A rejected retry proves the earlier request created nothing: keep it only in history."""
    if step.action is not Action.RETRY or previous is None or previous.current is None:
        return previous
    failed = previous.current.model_copy(update={"history_reason": "rejected"})
    return StateEntry(current=None, history=(*previous.history, failed))
