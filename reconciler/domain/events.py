"""State events: the only way the recorded state changes.

Every change (a create's intent and outcome, a retirement, a person's resolve, import, forget or
force-unlock) is one event carrying who made it, when and why. `apply_event` is the one function
that turns a state and an event into the next state; it also appends the event to the key's log,
which `ipass state history` shows. Apply writes its events to the journal (a `pending` line is
fsynced before its request is sent) and replaying the journal over the snapshot it was based on
gives the current state, so a crash at any point loses nothing: a `pending` with no outcome
becomes `unknown`, never "failed".
"""

from __future__ import annotations

from typing import Annotated, Literal, assert_never

from pydantic import BaseModel, ConfigDict, Field

from reconciler.domain.contract.identifiers import TemplateCode
from reconciler.domain.state import (
    EventNote,
    HistoryReason,
    State,
    StateEntry,
    TemplateRecord,
    utc_now,
)

# Journals written before events carried an operator name no one.
UNKNOWN_OPERATOR = "unknown"


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    lineage: str
    base_serial: int
    key: str
    at: str = Field(default_factory=utc_now)
    operator: str = UNKNOWN_OPERATOR
    reason: str | None = None


class Pending(_Event):
    """Written and fsynced before the request leaves the process."""

    op: Literal["pending"] = "pending"
    record: TemplateRecord
    replacing: bool = False


class Created(_Event):
    op: Literal["created"] = "created"
    template_code: TemplateCode
    template_status: str | None = None


class Rejected(_Event):
    """AlipayHK said no (status F), or the request never left: nothing was created."""

    op: Literal["rejected"] = "rejected"
    code: str  # the vendor's resultCode, or NOT_SENT
    message: str
    previous: StateEntry | None = None


class Unknown(_Event):
    op: Literal["unknown"] = "unknown"
    detail: str


class Retired(_Event):
    op: Literal["retired"] = "retired"
    detail: str | None = None  # why (the catalog's declaration)


class Resolved(_Event):
    """A person settled an unknown outcome (or corrected an earlier resolve)."""

    op: Literal["resolved"] = "resolved"
    template_code: TemplateCode | None  # None: it was not created


class Imported(_Event):
    """A template created outside ipass, recorded with the catalog's rendering."""

    op: Literal["imported"] = "imported"
    record: TemplateRecord


class Forgotten(_Event):
    op: Literal["forgotten"] = "forgotten"


class Moved(_Event):
    """A catalog rename (`moved_from:`): the old key's records and log move to this key."""

    op: Literal["moved"] = "moved"
    old_key: str


class Adopted(_Event):
    """A template made outside ipass (`adopt:`), recorded with the catalog's content."""

    op: Literal["adopted"] = "adopted"
    record: TemplateRecord


class Unlocked(_Event):
    """A stale lock cleared by hand (the key is empty: it concerns the environment)."""

    op: Literal["unlocked"] = "unlocked"
    lock_id: str


StateEvent = (
    Pending
    | Created
    | Rejected
    | Unknown
    | Retired
    | Resolved
    | Imported
    | Forgotten
    | Unlocked
    | Moved
    | Adopted
)
Event = Annotated[StateEvent, Field(discriminator="op")]


class EventLine(BaseModel):
    """One journal line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Event


def apply_event(state: State, event: StateEvent) -> State:
    """The state after one event (pure), with the event in the key's log."""
    return _changed(state, event).noted(
        None if isinstance(event, Unlocked) else event.key, note(event)
    )


def _changed(state: State, event: StateEvent) -> State:  # noqa: PLR0911 - one arm per event
    match event:
        case Pending():
            reason: HistoryReason | None = "replaced" if event.replacing else None
            return state.with_record(event.key, event.record, retire_current=reason)
        case Created():
            return _update_current(
                state,
                event,
                status="created",
                template_code=event.template_code,
                template_status=event.template_status,
            )
        case Rejected():
            return state.restored(event.key, event.previous)
        case Unknown():
            return _update_current(
                state, event, status="unknown", note=f"outcome unknown: {event.detail}"
            )
        case Retired():
            return _update_current(state, event, status="retired")
        case Resolved():
            return _resolved(state, event)
        case Imported() | Adopted():
            return state.with_record(event.key, event.record)
        case Moved():
            return state.moved(event.old_key, event.key)
        case Forgotten():
            return state.with_record(event.key, None, retire_current="forgotten")
        case Unlocked():
            return state
        case _:
            assert_never(event)


def _resolved(state: State, event: Resolved) -> State:
    if event.template_code is not None:
        return _update_current(
            state,
            event,
            status="created",
            template_code=event.template_code,
            note="resolved by hand: found at AlipayHK",
        )
    cleared = state.with_record(event.key, None, retire_current="resolved-not-created")
    # A replace that never happened: the template it was replacing is current again.
    entry = cleared.entries[event.key]
    history = entry.history
    earlier = [i for i, r in enumerate(history) if r.history_reason == "replaced"]
    if earlier and earlier[-1] == len(history) - 2:
        back = history[earlier[-1]].model_copy(update={"history_reason": None})
        rest = history[: earlier[-1]] + history[earlier[-1] + 1 :]
        return cleared.restored(event.key, StateEntry(current=back, history=rest))
    return cleared


def _update_current(state: State, event: StateEvent, **update: object) -> State:
    current = state.current(event.key)
    if current is None:  # nothing to update: the event's intent was already undone
        return state
    updated = current.model_copy(update={**update, "updated_at": event.at})
    return state.with_record(event.key, updated)


def note(event: StateEvent) -> EventNote:
    """How the event reads in the key's history."""
    base = {"op": event.op, "at": event.at, "operator": event.operator, "reason": event.reason}
    match event:
        case Pending() | Imported() | Adopted():
            extra: dict[str, str | None] = {
                "request_id": event.record.request_id,
                "template_code": event.record.template_code,
                "detail": "replacing the current template" if _replacing(event) else None,
            }
        case Created():
            extra = {"template_code": event.template_code, "detail": event.template_status}
        case Rejected():
            extra = {"result_code": event.code, "detail": event.message}
        case Unknown():
            extra = {"detail": event.detail}
        case Resolved():
            extra = {
                "template_code": event.template_code,
                "detail": "created" if event.template_code is not None else "not created",
            }
        case Unlocked():
            extra = {"detail": f"lock {event.lock_id}"}
        case Moved():
            extra = {"detail": f"renamed from {event.old_key}"}
        case Retired():
            extra = {"detail": event.detail}
        case Forgotten():
            extra = {}
        case _:
            assert_never(event)
    return EventNote.model_validate({**base, **extra})


def _replacing(event: Pending | Imported | Adopted) -> bool:
    return isinstance(event, Pending) and event.replacing


def replay(state: State, events: list[StateEvent]) -> State:
    """The state after the journal's events, over the snapshot `state`.

    Events written over this very snapshot (its lineage and serial) are applied. A journal
    written over another snapshot (the file was replaced since: `git checkout`, a `.backup`
    restored after a crash) is never dropped silently: its events already in this snapshot (in
    the key's event log) are skipped, and every `pending` create that is not is kept as
    `unknown`, with a note saying why and what the journal recorded after it, so that the plan
    refuses until a person resolves it, never creates it again. Its other events (a retirement)
    are not replayed: the plan works them out again from the catalog.
    """
    snapshot = state
    used: set[int] = set()
    for number, event in enumerate(events):
        if number in used:
            continue
        if _written_over(snapshot, event):
            state = apply_event(state, event)
        elif _recorded_in(snapshot, event):
            continue
        elif isinstance(event, Pending):
            after = _outcomes_after(snapshot, events, number)
            used.update(after)
            state = _kept_unknown(state, event, [events[n] for n in after])
        elif isinstance(event, Created | Rejected | Unknown):
            state = state.noted(event.key, note(event))  # its pending is in the snapshot
    return state


def _written_over(state: State, event: StateEvent) -> bool:
    return event.lineage == state.lineage and event.base_serial == state.serial


def _recorded_in(snapshot: State, event: StateEvent) -> bool:
    """The snapshot already holds this event: its note is in the key's log (a snapshot written
    after the journal, by a run killed before it removed the journal)."""
    if isinstance(event, Unlocked):
        return note(event) in snapshot.log
    entry = snapshot.entries.get(event.key)
    return entry is not None and note(event) in entry.events


def _outcomes_after(snapshot: State, events: list[StateEvent], number: int) -> list[int]:
    """Where the journal recorded what became of the pending create at `number`."""
    pending = events[number]
    found = []
    for later in range(number + 1, len(events)):
        event = events[later]
        if event.key != pending.key or _written_over(snapshot, event):
            continue
        if isinstance(event, Pending):
            break
        if isinstance(event, Created | Rejected | Unknown) and not _recorded_in(snapshot, event):
            found.append(later)
    return found


def _kept_unknown(state: State, pending: Pending, outcomes: list[StateEvent]) -> State:
    """A create from a journal that does not match the snapshot, kept as `unknown`."""
    current = state.current(pending.key)
    same_request = current is not None and current.request_id == pending.record.request_id
    if same_request and current is not None and current.template_code is not None:
        return state  # the snapshot already knows what this request created
    detail = f"{_mismatch(pending, state)}; the journal recorded {_said(outcomes)}"
    # Rebased onto this snapshot; a template the snapshot holds for the key goes to history.
    rebased = pending.model_copy(
        update={
            "lineage": state.lineage,
            "base_serial": state.serial,
            "replacing": current is not None and not same_request,
        }
    )
    state = apply_event(state, rebased)
    for outcome in outcomes:
        state = state.noted(outcome.key, note(outcome))
    unknown = Unknown(
        lineage=state.lineage,
        base_serial=state.serial,
        key=pending.key,
        at=(outcomes[-1] if outcomes else pending).at,
        operator=pending.operator,
        reason=pending.reason,
        detail=detail,
    )
    return apply_event(state, unknown)


def _mismatch(event: StateEvent, snapshot: State) -> str:
    if event.lineage == snapshot.lineage:
        return (
            f"journal from serial {event.base_serial} did not match the snapshot "
            f"(serial {snapshot.serial})"
        )
    return (
        f"journal from lineage {event.lineage} serial {event.base_serial} did not match the "
        f"snapshot (lineage {snapshot.lineage} serial {snapshot.serial})"
    )


def _said(outcomes: list[StateEvent]) -> str:
    """What the journal recorded after the pending line, in words."""
    said = []
    for outcome in outcomes:
        match outcome:
            case Created():
                said.append(f"created {outcome.template_code}")
            case Rejected():
                said.append(f"rejected [{outcome.code}]")
            case Unknown():
                said.append(f"outcome unknown ({outcome.detail})")
            case _:
                continue
    return ", then ".join(said) if said else "no outcome (the request may have been sent)"


class StateInProgress:
    """A state changed event by event in place, for a run that records many events.

    `apply_event` is pure and returns a whole new state, copying its table of entries: over a
    state of 30,000 entries each event would cost a copy of all of them. Here each event is
    applied by `apply_event` to a state holding only the entries it concerns (its key; a move's
    old key too), and the result is put back into one table, so an event costs the same whatever
    the size of the state. `state()` gives the result, the same as applying the events one by
    one to the whole state.
    """

    def __init__(self, state: State) -> None:
        self._base = state
        self._entries = dict(state.entries)
        self._log = state.log

    @property
    def lineage(self) -> str:
        return self._base.lineage

    @property
    def serial(self) -> int:
        return self._base.serial

    def entry(self, key: str) -> StateEntry | None:
        return self._entries.get(key)

    def apply(self, event: StateEvent) -> None:
        keys = (event.key, event.old_key) if isinstance(event, Moved) else (event.key,)
        part = {key: self._entries[key] for key in keys if key in self._entries}
        before = self._base.model_copy(update={"entries": part, "log": self._log})
        after = apply_event(before, event)
        for key in keys:
            if key in after.entries:
                self._entries[key] = after.entries[key]
            else:
                self._entries.pop(key, None)
        self._log = after.log

    def state(self) -> State:
        return self._base.model_copy(update={"entries": dict(self._entries), "log": self._log})
