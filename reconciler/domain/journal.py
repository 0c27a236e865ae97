"""Journal events: every create intent is recorded before it is sent, every outcome after.

The state file is a snapshot; the journal holds what happened since. Replaying the journal over
the snapshot it was based on gives the current state, so a crash at any point loses nothing:
a `pending` with no outcome becomes `unknown`, never "failed".
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.domain.state import HistoryReason, State, StateEntry, TemplateRecord, utc_now


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    lineage: str
    base_serial: int
    key: str
    at: str = Field(default_factory=utc_now)


class Pending(_Event):
    """Written and fsynced before the request leaves the process."""

    op: Literal["pending"] = "pending"
    record: TemplateRecord
    replacing: bool = False


class Created(_Event):
    op: Literal["created"] = "created"
    template_code: str
    template_status: str | None = None


class Rejected(_Event):
    """AlipayHK said no (status F): nothing was created; the key goes back to how it was."""

    op: Literal["rejected"] = "rejected"
    code: str
    message: str
    previous: StateEntry | None = None


class Unknown(_Event):
    op: Literal["unknown"] = "unknown"
    reason: str


class Retired(_Event):
    op: Literal["retired"] = "retired"


JournalEvent = Pending | Created | Rejected | Unknown | Retired
Event = Annotated[JournalEvent, Field(discriminator="op")]


class EventLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Event


def apply_event(state: State, event: JournalEvent) -> State:
    """The state after one event (pure)."""
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
                state, event, status="unknown", note=f"outcome unknown: {event.reason}"
            )
        case Retired():
            return _update_current(state, event, status="retired")


def _update_current(state: State, event: JournalEvent, **update: object) -> State:
    current = state.current(event.key)
    if current is None:  # nothing to update: the event's intent was already undone
        return state
    updated = current.model_copy(update={**update, "updated_at": event.at})
    return state.with_record(event.key, updated)


def replay(state: State, events: list[JournalEvent]) -> State:
    """Apply the events written on top of this snapshot; older ones are already in it."""
    for event in events:
        if event.lineage == state.lineage and event.base_serial == state.serial:
            state = apply_event(state, event)
    return state
