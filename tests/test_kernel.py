"""The reconcile kernel in small pieces: plan, apply and state events against in-memory fakes.

No files, no processes, no HTTP: a fake client that answers created / rejected / unknown or
raises, a store that can fail on write, a clock and a lock. End-to-end and crash tests stay in
test_reconcile.py and test_crash.py for what only real processes show.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import JsonValue, ValidationError

from reconciler.domain import outcomes
from reconciler.domain.events import (
    Created,
    Forgotten,
    Imported,
    Pending,
    Rejected,
    Resolved,
    Retired,
    StateEvent,
    Unknown,
    Unlocked,
    apply_event,
    replay,
)
from reconciler.domain.payload import payload_digest
from reconciler.domain.plan import (
    Action,
    Adopt,
    Blocked,
    Create,
    Desired,
    Move,
    NoOp,
    Plan,
    PlanOptions,
    PlanStep,
    Replace,
    Retire,
    Retirement,
    Retry,
    Vanished,
)
from reconciler.domain.plan import Unknown as UnknownStep
from reconciler.domain.planner import Destination, compute_plan
from reconciler.domain.state import State, StateEntry, TemplateRecord, new_state
from reconciler.errors import ConflictError, InvalidInput, OutcomeUnknown, VendorRejected
from reconciler.usecases.apply import ApplyPorts, ApplyRequest, TemplateSender, apply

MERCHANT = "2160120000000001"
NOW = "2026-11-30T05:00:00Z"
HERE = Destination(endpoint="api.example", merchant_id=MERCHANT, env_args=" --env staging")


def payload(name: str, **extra: JsonValue) -> dict[str, JsonValue]:
    return {"merchantId": MERCHANT, "type": "COUPON", "name": name, **extra}


def desired(
    key: str,
    body: dict[str, JsonValue],
    *,
    revision: int = 1,
    moved_from: tuple[str, ...] = (),
    adopt: str | None = None,
) -> Desired:
    return Desired(
        key=key,
        source=f"catalog/{key}.yaml:1",
        payload=body,
        payload_hash=payload_digest(body),
        revision=revision,
        moved_from=moved_from,
        adopt=adopt,
    )


def record(
    key: str, body: dict[str, JsonValue], status: str = "created", code: str | None = "T1"
) -> TemplateRecord:
    return TemplateRecord.model_validate(
        {
            "status": status,
            "template_code": code if status != "pending" else None,
            "request_id": f"rid-{key}",
            "payload_hash": payload_digest(body),
            "payload": body,
            "source": f"catalog/{key}.yaml:1",
            "recorded_at": NOW,
            "updated_at": NOW,
        }
    )


def state_with(**records: TemplateRecord) -> State:
    base = new_state("staging")
    return base.model_copy(
        update={"entries": {key: StateEntry(current=r) for key, r in records.items()}}
    )


NO_OPTIONS = PlanOptions()


def plan(wanted: Mapping[str, Desired], state: State, options: PlanOptions = NO_OPTIONS) -> Plan:
    return compute_plan(
        wanted, state, snapshot_lineage=state.lineage, destination=HERE, options=options
    )


def by_key(result: Plan) -> dict[str, PlanStep]:
    return {step.key: step for step in result.steps}


# --- the planner: one rule per test -------------------------------------------------------------


def test_a_new_key_is_created_with_a_stable_derived_request_id() -> None:
    body = payload("a")
    (step,) = plan({"a": desired("a", body)}, new_state("staging")).steps
    (again,) = plan({"a": desired("a", body)}, new_state("other")).steps
    assert isinstance(step, Create)
    assert isinstance(again, Create)
    assert step.generation == 0
    assert step.send["requestId"] == again.send["requestId"]


def test_published_and_unchanged_is_a_noop() -> None:
    body = payload("a")
    (step,) = plan({"a": desired("a", body)}, state_with(a=record("a", body))).steps
    assert isinstance(step, NoOp)


def test_an_edit_of_a_published_entry_is_blocked_with_its_field_changes() -> None:
    steps = plan({"a": desired("a", payload("new"))}, state_with(a=record("a", payload("old"))))
    (step,) = steps.steps
    assert isinstance(step, Blocked)
    assert [(c.path, c.old, c.new) for c in step.changes] == [("name", "old", "new")]


def test_replace_publishes_the_next_generation() -> None:
    options = PlanOptions(replace=("a",))
    (step,) = plan(
        {"a": desired("a", payload("new"))}, state_with(a=record("a", payload("old"))), options
    ).steps
    assert isinstance(step, Replace)
    assert step.generation == 1


def test_a_key_gone_from_the_catalog_blocks_unless_declared_retired() -> None:
    state = state_with(a=record("a", payload("a")))
    (step,) = plan({}, state).steps
    assert isinstance(step, Vanished)
    assert step.action is Action.BLOCKED
    assert "catalog/retired.yaml" in step.reason
    declared = {"a": Retirement("a", "catalog/retired.yaml:3", "promotion over")}
    (retire,) = compute_plan(
        {}, state, snapshot_lineage=None, destination=HERE, retirements=declared
    ).steps
    assert isinstance(retire, Retire)
    assert "(promotion over)" in retire.reason
    (again,) = plan({}, state_with(a=record("a", payload("a"), status="retired"))).steps
    assert isinstance(again, NoOp)


def test_a_retired_key_is_never_reused() -> None:
    state = state_with(a=record("a", payload("a"), status="retired"))
    (step,) = plan({"a": desired("a", payload("a2"))}, state).steps
    assert isinstance(step, Blocked)
    assert "never used for a new template" in step.reason


def test_raising_the_revision_replaces_with_its_own_request_id() -> None:
    state = state_with(a=record("a", payload("old")))
    (blocked,) = plan({"a": desired("a", payload("new"))}, state).steps
    assert isinstance(blocked, Blocked)
    assert "raise `revision:` to 2" in blocked.reason
    raised = desired("a", payload("new"), revision=2)
    (step,) = plan({"a": raised}, state).steps
    assert isinstance(step, Replace)
    assert step.generation == 1
    same_content = desired("a", payload("old"), revision=2)
    (alone,) = plan({"a": same_content}, state).steps
    assert isinstance(alone, Replace)  # a raised revision alone publishes a new template
    assert alone.send["requestId"] != step.send["requestId"]


def test_lowering_a_revision_is_refused() -> None:
    state = state_with(a=record("a", payload("a")).model_copy(update={"revision": 3}))
    (step,) = plan({"a": desired("a", payload("a"), revision=2)}, state).steps
    assert isinstance(step, Blocked)
    assert "never lowered" in step.reason


def test_moved_from_renames_without_a_request() -> None:
    state = state_with(old=record("old", payload("x")))
    wanted = desired("new", payload("x"), moved_from=("old",))
    (step,) = plan({"new": wanted}, state).steps
    assert isinstance(step, Move)
    assert (step.old_key, step.send) == ("old", None)
    edited = desired("new", payload("y"), moved_from=("old",))
    (blocked,) = plan({"new": edited}, state).steps
    assert isinstance(blocked, Blocked)
    (both,) = plan(
        {"new": desired("new", payload("y"), moved_from=("old",), revision=2)}, state
    ).steps
    assert isinstance(both, Move)
    assert both.send is not None


def test_moved_from_an_old_key_not_recorded_is_a_plain_entry() -> None:
    (step,) = plan({"new": desired("new", payload("x"), moved_from=("old",))}, new_state("s")).steps
    assert isinstance(step, Create)


def test_a_rename_without_moved_from_warns() -> None:
    state = state_with(old=record("old", payload("x")))
    result = plan({"new": desired("new", payload("x"))}, state)
    assert [s.action for s in result.steps] == [Action.CREATE, Action.BLOCKED]
    (warning,) = result.warnings
    assert "looks like a rename; add `moved_from: old`" in warning


def test_adopt_records_a_template_made_by_hand_and_disagreeing_codes_block() -> None:
    wanted = desired("a", payload("a"), adopt="20261130000000000000000000000099")
    (step,) = plan({"a": wanted}, new_state("s")).steps
    assert isinstance(step, Adopt)
    state = state_with(a=record("a", payload("a"), code="20261130000000000000000000000099"))
    (noop,) = plan({"a": wanted}, state).steps
    assert isinstance(noop, NoOp)
    other = state_with(a=record("a", payload("a"), code="OTHER"))
    (blocked,) = plan({"a": wanted}, other).steps
    assert isinstance(blocked, Blocked)
    assert "disagrees" in blocked.reason


def test_apply_moves_and_adopts_without_sending() -> None:
    r = rig([], keys=())
    r.store.snapshot = state_with(old=record("old", payload("x")))
    r.wanted = {
        "new": desired("new", payload("x"), moved_from=("old",)),
        "made": desired("made", payload("m"), adopt="T77"),
    }
    assert r.run() == ["begin 2", "made: adopted T77", "new: moved from old"]
    assert r.client.sent == []
    state = current(r.store)
    assert "old" not in state.entries
    moved = state.entries["new"]
    assert moved.current is not None
    assert moved.current.template_code == "T1"
    assert moved.events[-1].op == "moved"
    adopted = state.entries["made"].current
    assert adopted is not None
    assert adopted.adopted
    assert r.run() == []  # both are no-ops now


def test_an_unknown_outcome_names_the_environment_in_its_advice() -> None:
    (step,) = plan(
        {"a": desired("a", payload("a"))}, state_with(a=record("a", payload("a"), status="unknown"))
    ).steps
    assert isinstance(step, UnknownStep)
    assert "`ipass state resolve a --env staging --template-code CODE`" in step.reason
    assert "`ipass apply --retry-unknown --target a --env staging`" in step.reason


def test_retry_resends_the_recorded_body_even_when_the_catalog_moved() -> None:
    old = record("a", payload("a"), status="unknown")
    options = PlanOptions(retry_unknown=True)
    (step,) = plan({"a": desired("a", payload("edited"))}, state_with(a=old), options).steps
    assert isinstance(step, Retry)
    assert step.send == old.payload
    assert [c.path for c in step.changes] == ["name"]


def test_the_binding_names_where_the_plan_publishes() -> None:
    result = plan({}, new_state("staging"))
    assert (result.binding.endpoint, result.binding.merchant_id) == ("api.example", MERCHANT)


@pytest.mark.parametrize("flag", ["targets", "excludes", "replace"])
def test_a_named_key_that_does_not_exist_is_refused_with_a_guess(flag: str) -> None:
    options = PlanOptions(**{flag: ("cofee",)})  # type: ignore[arg-type]  # one field by name
    with pytest.raises(InvalidInput) as caught:
        plan({"coffee": desired("coffee", payload("x"))}, new_state("s"), options)
    assert caught.value.hint == "did you mean 'coffee'?"


# --- fakes for apply ----------------------------------------------------------------------------


@dataclass
class FakeStore:
    """Snapshot + journal in memory; `fail_checkpoint` makes the snapshot write fail."""

    snapshot: State | None = None
    journal: list[tuple[StateEvent, bool]] = field(default_factory=list)
    initial: State = field(default_factory=lambda: new_state("staging"))
    fail_checkpoint: bool = False
    checkpoints: int = 0
    path: Path = Path("state/staging.json")

    def load_with_snapshot(self) -> tuple[State | None, State]:
        start = self.snapshot if self.snapshot is not None else self.initial
        return self.snapshot, replay(start, [event for event, _ in self.journal])

    def append(self, event: StateEvent, *, durable: bool) -> None:
        self.journal.append((event, durable))

    def checkpoint(self, state: State, *, loaded: State | None) -> State:
        if self.fail_checkpoint:
            raise ConflictError("disk full while writing state/staging.json")
        written = state.model_copy(update={"serial": state.serial + 1})
        self.snapshot = written
        self.journal = []
        self.checkpoints += 1
        return written

    def recover(self, state: State, *, loaded: State | None) -> None:
        if self.journal:
            self.checkpoint(state, loaded=loaded)

    def close(self) -> None:
        return None


Answer = outcomes.TemplateOutcome | Exception


@dataclass
class FakeClient:
    """Answers in order; checks invariant 1 (a durable pending line before each send)."""

    store: FakeStore
    answers: list[Answer]
    sent: list[str] = field(default_factory=list)

    def send_create(self, body: bytes, *, request_id: str) -> outcomes.TemplateOutcome:
        journaled = any(
            isinstance(event, Pending) and event.record.request_id == request_id and durable
            for event, durable in self.store.journal
        )
        snapshot = self.store.snapshot
        in_snapshot = snapshot is not None and any(
            e.current is not None
            and e.current.status == "pending"
            and e.current.request_id == request_id
            for e in snapshot.entries.values()
        )
        assert journaled or in_snapshot, f"{request_id} sent before its pending was on disk"
        self.sent.append(request_id)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class Rig:
    store: FakeStore
    client: FakeClient
    wanted: dict[str, Desired]
    locked: list[str] = field(default_factory=list)
    retired: dict[str, Retirement] = field(default_factory=dict)

    def ports(self) -> ApplyPorts:
        @contextmanager
        def lock() -> Iterator[None]:
            self.locked.append("in")
            yield
            self.locked.append("out")

        @contextmanager
        def connect(workers: int) -> Iterator[TemplateSender]:
            yield self.client

        return ApplyPorts(
            store=self.store,
            lock=lock,
            connect=connect,
            load_desired=lambda state: (self.wanted, self.retired),
            clock=lambda: NOW,
            operator="ops@example.com",
            destination=HERE,
        )

    def run(self, request: ApplyRequest | None = None) -> list[str]:
        done: list[str] = []

        class Progress:
            def begin(self, plan: Plan, total: int) -> None:
                done.append(f"begin {total}")

            def done(self, step: PlanStep, outcome: str) -> None:
                done.append(f"{step.key}: {outcome}")

        apply(
            request or ApplyRequest(reason="test"),
            self.ports(),
            confirm=lambda plan: True,
            progress=Progress(),
            should_stop=lambda: False,
        )
        return done


def rig(answers: list[Answer], keys: tuple[str, ...] = ("a", "b")) -> Rig:
    store = FakeStore()
    return Rig(store, FakeClient(store, answers), {k: desired(k, payload(k)) for k in keys})


def current(store: FakeStore) -> State:
    return store.load_with_snapshot()[1]


# --- apply --------------------------------------------------------------------------------------


def test_apply_creates_each_entry_and_records_who_and_why() -> None:
    r = rig([outcomes.Created("C1", None), outcomes.Created("C2", "ACTIVE")])
    assert r.run() == ["begin 2", "a: created C1", "b: created C2"]
    state = current(r.store)
    assert state.serial == 1
    assert r.store.checkpoints == 1
    entry = state.entries["b"]
    assert entry.current is not None
    assert entry.current.template_code == "C2"
    assert [(e.op, e.operator, e.reason) for e in entry.events] == [
        ("pending", "ops@example.com", "test"),
        ("created", "ops@example.com", "test"),
    ]
    assert r.locked == ["in", "out"]


def test_a_second_apply_has_nothing_to_send() -> None:
    r = rig([outcomes.Created("C1", None), outcomes.Created("C2", None)])
    r.run()
    assert r.run() == []  # no begin: the plan has no changes
    assert len(r.client.sent) == 2


def test_a_rejection_restores_the_key_records_the_vendor_code_and_stops() -> None:
    r = rig([outcomes.Rejected("ACCESS_DENIED", "merchant not allowed", None, sent=True)])
    with pytest.raises(VendorRejected) as caught:
        r.run()
    assert "ACCESS_DENIED: merchant not allowed" in caught.value.message
    assert len(r.client.sent) == 1  # b was never sent
    entry = current(r.store).entries["a"]
    assert entry.current is None
    assert [(e.op, e.result_code) for e in entry.events] == [
        ("pending", None),
        ("rejected", "ACCESS_DENIED"),
    ]


def test_a_request_never_sent_is_recorded_as_not_sent() -> None:
    r = rig([outcomes.Rejected("NOT_SENT", "connection refused", None, sent=False)])
    with pytest.raises(VendorRejected) as caught:
        r.run()
    assert "createTemplate not sent: NOT_SENT" in caught.value.message
    assert current(r.store).entries["a"].events[-1].result_code == "NOT_SENT"


def test_an_unknown_outcome_is_recorded_and_the_hint_names_the_environment() -> None:
    r = rig([outcomes.Unknown("read timed out after the request was sent")])
    with pytest.raises(OutcomeUnknown) as caught:
        r.run()
    assert caught.value.hint is not None
    assert "--retry-unknown --target a --env staging" in caught.value.hint
    assert "ipass state resolve a --env staging" in caught.value.hint
    record = current(r.store).entries["a"].current
    assert record is not None
    assert record.status == "unknown"
    # The next plan refuses to go on until a person resolves it.
    again = rig([], keys=("a", "b"))
    again.store = r.store
    again.client = FakeClient(r.store, [])
    with pytest.raises(OutcomeUnknown):
        again.run()
    assert again.client.sent == []


def test_an_exception_from_the_client_leaves_the_create_pending_never_failed() -> None:
    r = rig([RuntimeError("client bug")])
    with pytest.raises(RuntimeError):
        r.run()
    record = current(r.store).entries["a"].current
    assert record is not None
    assert record.status == "pending"


def test_a_failed_snapshot_write_keeps_everything_in_the_journal() -> None:
    r = rig([outcomes.Created("C1", None), outcomes.Created("C2", None)])
    r.store.fail_checkpoint = True
    with pytest.raises(ConflictError):
        r.run()
    r.store.fail_checkpoint = False
    state = current(r.store)  # snapshot + journal
    assert {k: e.current.template_code for k, e in state.entries.items() if e.current} == {
        "a": "C1",
        "b": "C2",
    }


def test_retry_after_unknown_sends_the_same_request_id() -> None:
    r = rig([outcomes.Unknown("reset")], keys=("a",))
    with pytest.raises(OutcomeUnknown):
        r.run()
    first = r.client.sent[0]
    r.client.answers = [outcomes.Created("C1", None)]
    r.run(ApplyRequest(options=PlanOptions(retry_unknown=True), reason="retry"))
    assert r.client.sent == [first, first]


def test_blocked_entries_stop_the_whole_run_before_any_send() -> None:
    r = rig([outcomes.Created("C1", None)], keys=("a",))
    r.run()
    r.wanted = {"a": desired("a", payload("edited")), "b": desired("b", payload("b"))}
    with pytest.raises(InvalidInput) as caught:
        r.run()
    assert caught.value.hint is not None
    assert "--env staging" in caught.value.hint
    assert len(r.client.sent) == 1


def test_a_cancelled_confirmation_changes_nothing() -> None:
    r = rig([])
    with pytest.raises(InvalidInput, match="cancelled"):
        apply(
            ApplyRequest(),
            r.ports(),
            confirm=lambda plan: False,
            progress=_Silent(),
            should_stop=lambda: False,
        )
    assert r.store.journal == []
    assert r.client.sent == []


class _Silent:
    def begin(self, plan: Plan, total: int) -> None:
        return None

    def done(self, step: PlanStep, outcome: str) -> None:
        return None


# --- state events -------------------------------------------------------------------------------


def base(state: State, key: str = "a", **extra: object) -> dict[str, object]:
    return {
        "lineage": state.lineage,
        "base_serial": state.serial,
        "key": key,
        "at": NOW,
        "operator": "ops",
        "reason": "why",
        **extra,
    }


def test_resolve_created_then_a_correction_keeps_both_in_history() -> None:
    state = state_with(a=record("a", payload("a"), status="unknown"))
    state = apply_event(state, Resolved.model_validate(base(state, template_code="WRONG1")))
    state = apply_event(state, Resolved.model_validate(base(state, template_code="RIGHT2")))
    entry = state.entries["a"]
    assert entry.current is not None
    assert entry.current.template_code == "RIGHT2"
    assert [e.template_code for e in entry.events] == ["WRONG1", "RIGHT2"]


def test_resolve_not_created_puts_back_the_template_a_replace_was_replacing() -> None:
    state = state_with(a=record("a", payload("old"), code="OLD1"))
    pending = record("a", payload("new"), status="pending")
    state = apply_event(state, Pending.model_validate(base(state, record=pending, replacing=True)))
    state = apply_event(state, Resolved.model_validate(base(state, template_code=None)))
    entry = state.entries["a"]
    assert entry.current is not None
    assert entry.current.template_code == "OLD1"
    assert [e.op for e in entry.events] == ["pending", "resolved"]


def test_forget_import_retire_and_unlock_are_events() -> None:
    state = state_with(a=record("a", payload("a")))
    state = apply_event(state, Forgotten.model_validate(base(state)))
    assert state.entries["a"].current is None
    assert state.entries["a"].history[-1].history_reason == "forgotten"
    state = apply_event(
        state, Imported.model_validate(base(state, record=record("a", payload("a"), code="T9")))
    )
    state = apply_event(state, Retired.model_validate(base(state)))
    current_record = state.entries["a"].current
    assert current_record is not None
    assert current_record.status == "retired"
    state = apply_event(state, Unlocked.model_validate(base(state, key="", lock_id="L1")))
    assert [e.op for e in state.entries["a"].events] == ["forgotten", "imported", "retired"]
    assert [e.op for e in state.log] == ["unlocked"]


def test_created_and_unknown_update_the_pending_record() -> None:
    state = new_state("s")
    state = apply_event(
        state,
        Pending.model_validate(base(state, record=record("a", payload("a"), status="pending"))),
    )
    state = apply_event(state, Unknown.model_validate(base(state, detail="timeout")))
    record_now = state.entries["a"].current
    assert record_now is not None
    assert record_now.status == "unknown"
    state = apply_event(state, Created.model_validate(base(state, template_code="C1")))
    assert state.entries["a"].current is not None
    assert state.entries["a"].current.template_code == "C1"


def test_a_rejected_first_create_leaves_no_current_record_but_keeps_the_log() -> None:
    state = new_state("s")
    state = apply_event(
        state,
        Pending.model_validate(base(state, record=record("a", payload("a"), status="pending"))),
    )
    state = apply_event(
        state, Rejected.model_validate(base(state, code="PARAM_ILLEGAL", message="bad"))
    )
    assert state.entries["a"].current is None
    assert state.entries["a"].events[-1].result_code == "PARAM_ILLEGAL"


@pytest.mark.parametrize("code", ["", "12 345", "line\nbreak", "x" * 65, "\x1b[31m"])
def test_template_codes_are_checked_for_form(code: str) -> None:
    state = state_with(a=record("a", payload("a"), status="unknown"))
    with pytest.raises(ValidationError):
        Resolved.model_validate(base(state, template_code=code))


def test_events_replay_only_over_their_own_snapshot() -> None:
    state = new_state("s")
    event = Retired.model_validate(base(state, base_serial=state.serial + 1))
    assert replay(state, [event]) == state


# --- publishing the intent (the pipeline's git push) --------------------------------------------


@dataclass
class FakePublisher:
    """Records what was published; `refuse` makes the intent push lose the race."""

    store: FakeStore
    refuse: bool = False
    published: list[str] = field(default_factory=list)

    def intent(self, environment: str, keys: list[str]) -> None:
        # The snapshot already holds every create as pending, and nothing was sent yet.
        snapshot = self.store.snapshot
        assert snapshot is not None
        pending = {k for k, e in snapshot.entries.items() if e.current is not None}
        assert pending == set(keys)
        if self.refuse:
            raise ConflictError("state changed upstream")
        self.published.append(f"intent {','.join(keys)}")

    def outcome(self, environment: str, report: object) -> None:
        self.published.append("outcome")


def publishing(r: Rig, publisher: FakePublisher) -> ApplyPorts:
    from dataclasses import replace

    return replace(r.ports(), publisher=publisher)


def test_the_intent_is_published_before_the_first_send_and_outcomes_after() -> None:
    r = rig([outcomes.Created("C1", None), outcomes.Created("C2", None)])
    publisher = FakePublisher(r.store)
    apply(ApplyRequest(), publishing(r, publisher), confirm=lambda p: True,
          progress=_Silent(), should_stop=lambda: False)  # fmt: skip
    assert publisher.published == ["intent a,b", "outcome"]
    assert len(r.client.sent) == 2


def test_a_refused_intent_sends_nothing_and_takes_the_pending_records_back() -> None:
    r = rig([])
    publisher = FakePublisher(r.store, refuse=True)
    with pytest.raises(ConflictError):
        apply(ApplyRequest(), publishing(r, publisher), confirm=lambda p: True,
              progress=_Silent(), should_stop=lambda: False)  # fmt: skip
    assert r.client.sent == []
    state = current(r.store)
    assert all(entry.current is None for entry in state.entries.values())
    assert {e.events[-1].result_code for e in state.entries.values()} == {"NOT_SENT"}


def test_creates_declared_but_never_sent_are_withdrawn_when_the_run_stops() -> None:
    r = rig([outcomes.Unknown("reset")], keys=("a", "b", "c"))
    publisher = FakePublisher(r.store)
    with pytest.raises(OutcomeUnknown):
        apply(ApplyRequest(), publishing(r, publisher), confirm=lambda p: True,
              progress=_Silent(), should_stop=lambda: False)  # fmt: skip
    state = current(r.store)
    assert state.entries["a"].current is not None
    assert state.entries["a"].current.status == "unknown"
    for key in ("b", "c"):  # never sent: back as they were, the withdrawal in their log
        assert state.entries[key].current is None
        assert state.entries[key].events[-1].detail == "the run stopped before this create was sent"
    assert publisher.published == ["intent a,b,c", "outcome"]
