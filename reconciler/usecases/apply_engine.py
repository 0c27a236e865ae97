"""Apply's engine: executes the steps of a plan that change something, recording each as events.

For each create: journal `pending` (fsynced) -> signed createTemplate -> journal the outcome.
The state being built is a `StateInProgress`, so recording an event costs the same whatever the
size of the state; the snapshot is written (once) when the run ends.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from typing import TypedDict, assert_never

from pydantic import JsonValue

from reconciler.domain import outcomes
from reconciler.domain.canonical import canonical_json
from reconciler.domain.events import (
    Adopted,
    Created,
    Moved,
    Pending,
    Rejected,
    Retired,
    StateEvent,
    StateInProgress,
    Unknown,
)
from reconciler.domain.plan import (
    Action,
    Adopt,
    Blocked,
    Create,
    Move,
    NoOp,
    Plan,
    PlanStep,
    Replace,
    Retire,
    Retry,
    Vanished,
    step_source,
)
from reconciler.domain.plan import Unknown as UnknownStep
from reconciler.domain.state import State, StateEntry, TemplateRecord
from reconciler.errors import (
    Interrupted,
    IpassError,
    OutcomeUnknown,
    StorageError,
    VendorRejected,
)
from reconciler.usecases.apply_ports import (
    ApplyPorts,
    ApplyProgress,
    ApplyReport,
    ApplyRequest,
    Publisher,
    ShouldStop,
    TemplateSender,
)


class Engine:
    """Executes the steps that change something, recording each as events.

    Up to `parallelism` creates are in flight at once. Journal and state are updated under one
    lock, so each `pending` is on disk before its request leaves. After a rejection, an unknown
    outcome or a stop request no new create starts; those in flight finish and are recorded, and
    the failure earliest in plan order is the one raised.
    """

    def __init__(
        self,
        *,
        ports: ApplyPorts,
        snapshot: State | None,
        state: State,
        progress: ApplyProgress,
        should_stop: ShouldStop,
        report: ApplyReport,
        request: ApplyRequest,
    ) -> None:
        self.ports = ports
        self.store = ports.store
        self.snapshot = snapshot
        self.state = StateInProgress(state)
        self.progress = progress
        self.should_stop = should_stop
        self.report = report
        self.parallelism = request.parallelism
        self.reason = request.reason
        self.dirty = False
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._failures: list[tuple[int, IpassError]] = []
        # Creates already journaled as pending (all of them up front, when an intent is
        # published), with the key's entry as it was before.
        self._declared: dict[str, StateEntry | None] = {}
        self._sent: set[str] = set()

    def run(self, plan: Plan, client: TemplateSender) -> None:
        changes = [step for step in plan.steps if step.action in _CHANGING]
        # A move whose revision was raised is two things done: the move, then a create.
        publishing_moves = sum(1 for s in changes if isinstance(s, Move) and s.send is not None)
        self.progress.begin(plan, len(changes) + publishing_moves)
        sends: list[Create | Replace | Retry] = []
        try:
            for step in changes:
                self._bookkeep(step, sends)
            if self.ports.publisher is not None and sends:
                self._declare_intent(self.ports.publisher, plan, sends)
            with ThreadPoolExecutor(self.parallelism, thread_name_prefix="ipass-apply") as pool:
                for _ in pool.map(self._attempt, range(len(sends)), sends, repeat(client)):
                    pass
            self._withdraw_unsent(sends)
        finally:
            self.close()
        if self.ports.publisher is not None and (
            self.report.created
            or self.report.retired
            or self.report.moved
            or self.report.adopted
            or self._failures
        ):
            self.ports.publisher.outcome(plan.binding.environment, self.report)
        if self._failures:
            raise min(self._failures, key=lambda failure: failure[0])[1]
        if self.should_stop() and len(self.report.created) < len(sends):
            raise Interrupted(
                "interrupted: the requests in flight were finished and recorded; "
                "the rest of the plan was not applied",
                hint=f"run `ipass apply{self.ports.destination.env_args}` again to continue",
            )

    def _attempt(self, index: int, step: Create | Replace | Retry, client: TemplateSender) -> None:
        if self._halt.is_set() or self.should_stop():
            return
        try:
            self._send(step, client)
        except IpassError as error:  # rejected, unknown, or its pending line was not written
            with self._lock:
                self._failures.append((index, error))
            self._halt.set()
        except BaseException:
            self._halt.set()  # a bug: no new create starts while it travels up
            raise

    def _base(self, key: str) -> _EventBase:
        return _EventBase(
            lineage=self.state.lineage,
            base_serial=self.state.serial,
            key=key,
            at=self.ports.clock(),
            operator=self.ports.operator,
            reason=self.reason,
        )

    def _record(self, event: StateEvent, *, durable: bool) -> None:
        with self._lock:
            self.store.append(event, durable=durable)
            self.state.apply(event)
            self.dirty = True

    def _declare_intent(
        self, publisher: Publisher, plan: Plan, sends: list[Create | Replace | Retry]
    ) -> None:
        """Journal every create as pending, write the snapshot and publish it; only then send.

        If publishing fails nothing was sent: the pending records are taken back (recorded as
        not sent) and the run stops.
        """
        for step in sends:
            self._declare(step)
        self.snapshot = self.store.checkpoint(self.state.state(), loaded=self.snapshot)
        self.state = StateInProgress(self.snapshot)
        self.dirty = False
        try:
            publisher.intent(plan.binding.environment, [step.key for step in sends])
        except IpassError:
            for step in sends:
                restore = _restore_after_rejection(step, self._declared[step.key])
                message = "the intent could not be recorded in git; nothing was sent"
                event = Rejected(
                    **self._base(step.key), code="NOT_SENT", message=message, previous=restore
                )
                self._record(event, durable=True)
            raise

    def _withdraw_unsent(self, sends: list[Create | Replace | Retry]) -> None:
        """Declared creates the run stopped before sending are taken back: nothing was sent."""
        for step in sends:
            if step.key in self._declared and step.key not in self._sent:
                restore = _restore_after_rejection(step, self._declared[step.key])
                message = "the run stopped before this create was sent"
                event = Rejected(
                    **self._base(step.key), code="NOT_SENT", message=message, previous=restore
                )
                self._record(event, durable=True)

    def _bookkeep(self, step: PlanStep, sends: list[Create | Replace | Retry]) -> None:
        """Record what needs no request now; queue what does."""
        match step:
            case Retire():  # local bookkeeping: no request involved
                self._record(Retired(**self._base(step.key), detail=step.reason), durable=True)
                self.report.retired.append(step.key)
                self._done(step, "retired")
            case Move():  # the state entry is renamed; a raised revision also sends
                self._record(Moved(**self._base(step.key), old_key=step.old_key), durable=True)
                self.report.moved.append((step.old_key, step.key))
                self._done(step, f"moved from {step.old_key}")
                if step.send is not None:
                    sends.append(_replacement(step, step.send))
            case Adopt():  # recorded from the catalog; AlipayHK is not called
                self._record(self._adopted(step), durable=True)
                self.report.adopted.append((step.key, step.template_code))
                self._done(step, f"adopted {step.template_code}")
            case Create() | Replace() | Retry():
                sends.append(step)
            case NoOp() | Blocked() | UnknownStep() | Vanished():  # filtered out by the caller
                raise ValueError(f"{step.key}: {step.action} is not a change")
            case _:
                assert_never(step)

    def _adopted(self, step: Adopt) -> Adopted:
        base = self._base(step.key)
        record = TemplateRecord(
            status="created",
            template_code=step.template_code,
            request_id="adopted",
            payload_hash=step.desired.payload_hash,
            payload=step.desired.payload,
            revision=step.desired.revision,
            adopted=True,
            source=step.desired.source,
            recorded_at=base["at"],
            updated_at=base["at"],
            note="adopted: made outside ipass; content from the catalog, not verified",
        )
        return Adopted(**base, record=record)

    def _declare(self, step: Create | Replace | Retry) -> None:
        with self._lock:
            previous = self.state.entry(step.key)
        base = self._base(step.key)
        record = TemplateRecord(
            status="pending",
            request_id=str(step.send["requestId"]),
            payload_hash=_sent_hash(step),
            payload=step.send,
            generation=step.generation,
            revision=step.desired.revision if step.desired is not None else 1,
            source=step_source(step),
            recorded_at=base["at"],
            updated_at=base["at"],
        )
        pending = Pending(**base, record=record, replacing=isinstance(step, Replace))
        try:
            self._record(pending, durable=True)  # invariant 1: on disk before the request leaves
        except StorageError as error:
            raise _not_sent(step, error) from None
        with self._lock:
            self._declared[step.key] = previous

    def _send(self, step: Create | Replace | Retry, client: TemplateSender) -> None:
        request_id = str(step.send["requestId"])
        if step.key not in self._declared:
            self._declare(step)
        previous = self._declared[step.key]
        with self._lock:
            self._sent.add(step.key)
        outcome = client.send_create(canonical_json(step.send), request_id=request_id)
        match outcome:
            case outcomes.Created():
                self._created(step, outcome)
            case outcomes.Rejected():
                self._rejected(step, outcome, previous)
            case outcomes.Unknown():
                self._unknown(step, outcome, request_id)
            case _:
                assert_never(outcome)

    def _created(self, step: PlanStep, outcome: outcomes.Created) -> None:
        event = Created(
            **self._base(step.key),
            template_code=outcome.template_code,
            template_status=outcome.template_status,
        )
        # A lost outcome line leaves `pending`: unknown, never a duplicate.
        self._record(event, durable=False)
        with self._lock:
            self.report.created.append((step.key, outcome.template_code))
        self._done(step, f"created {outcome.template_code}")

    def _rejected(
        self,
        step: Create | Replace | Retry,
        outcome: outcomes.Rejected,
        previous: StateEntry | None,
    ) -> None:
        restore = _restore_after_rejection(step, previous)
        event = Rejected(
            **self._base(step.key), code=outcome.code, message=outcome.message, previous=restore
        )
        self._record(event, durable=True)
        self._done(step, f"rejected [{outcome.code}]")
        what = "createTemplate rejected" if outcome.sent else "createTemplate not sent"
        raise VendorRejected(
            f"{step_source(step)}: {step.key}: {what}: {outcome.code}: {outcome.message}",
            hint=outcome.hint or "fix the entry (`ipass validate` checks it), then apply again",
        )

    def _unknown(self, step: PlanStep, outcome: outcomes.Unknown, request_id: str) -> None:
        self._record(Unknown(**self._base(step.key), detail=outcome.reason), durable=True)
        self._done(step, "unknown")
        env = self.ports.destination.env_args
        raise OutcomeUnknown(
            f"{step_source(step)}: {step.key}: {outcome.reason}",
            hint=f"`ipass apply --retry-unknown --target {step.key}{env}` re-sends requestId "
            f"{request_id}; or check at AlipayHK and `ipass state resolve {step.key}{env} "
            "--template-code CODE` (or `--not-created`)",
        )

    def _done(self, step: PlanStep, outcome: str) -> None:
        with self._lock:
            self.progress.done(step, outcome)

    def close(self) -> None:
        """Absorb the journal into a new snapshot; if this fails the journal still holds it all."""
        if self.dirty:
            self.snapshot = self.store.checkpoint(self.state.state(), loaded=self.snapshot)
            self.state = StateInProgress(self.snapshot)
            self.dirty = False
        self.store.close()


def _not_sent(step: Create | Replace | Retry, error: StorageError) -> StorageError:
    """Its `pending` line could not be written, so the request was not sent; nor is any after."""
    return StorageError(
        f"{step_source(step)}: {step.key}: not sent: {error.message}",
        hint=f"{error.hint or 'fix the state folder'}; creates before it are recorded, and "
        "nothing was sent for it or after it",
    )


_CHANGING = frozenset(
    {Action.CREATE, Action.REPLACE, Action.RETRY, Action.RETIRE, Action.MOVE, Action.ADOPT}
)


class _EventBase(TypedDict):
    """The fields every event of this run shares."""

    lineage: str
    base_serial: int
    key: str
    at: str
    operator: str
    reason: str | None


def _replacement(step: Move, send: dict[str, JsonValue]) -> Replace:
    """After a move, a raised revision publishes a new template for the new key."""
    return Replace(
        key=step.key,
        reason=step.reason,
        desired=step.desired,
        recorded=step.recorded,
        changes=step.changes,
        send=send,
        generation=step.generation,
    )


def _sent_hash(step: Create | Replace | Retry) -> str:
    """The hash of what is sent: a retry re-sends the recorded body."""
    match step:
        case Retry():
            return step.recorded.payload_hash
        case Create() | Replace():
            return step.desired.payload_hash
        case _:
            assert_never(step)


def _restore_after_rejection(
    step: Create | Replace | Retry, previous: StateEntry | None
) -> StateEntry | None:
    """A rejected retry proves the earlier request created nothing: keep it only in history."""
    if not isinstance(step, Retry) or previous is None or previous.current is None:
        return previous
    failed = previous.current.model_copy(update={"history_reason": "rejected"})
    return StateEntry(current=None, history=(*previous.history, failed))
