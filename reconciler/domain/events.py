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


class Unlocked(_Event):
    """A stale lock cleared by hand (the key is empty: it concerns the environment)."""

    op: Literal["unlocked"] = "unlocked"
    lock_id: str


StateEvent = (
    Pending | Created | Rejected | Unknown | Retired | Resolved | Imported | Forgotten | Unlocked
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
        case Imported():
            return state.with_record(event.key, event.record)
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
        case Pending() | Imported():
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
        case Retired() | Forgotten():
            extra = {}
        case _:
            assert_never(event)
    return EventNote.model_validate({**base, **extra})


def _replacing(event: Pending | Imported) -> bool:
    return isinstance(event, Pending) and event.replacing


def replay(state: State, events: list[StateEvent]) -> State:
    """Apply the events written on top of this snapshot; older ones are already in it."""
    for event in events:
        if event.lineage == state.lineage and event.base_serial == state.serial:
            state = apply_event(state, event)
    return state
