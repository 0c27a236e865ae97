"""`ipass state ...`: read the recorded state and change it explicitly, under the lock.

Every change is one event (domain/events.py) with the operator, the time and a reason; outside
the embedded sandbox a reason is required, because the state is what keeps a template from being
created twice and people must be able to tell later who changed it and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from reconciler.adapters.lock import LockInfo, force_unlock
from reconciler.adapters.statefile import StateStore, ensure_writable
from reconciler.domain.config import Target
from reconciler.domain.contract.identifiers import template_code_problem
from reconciler.domain.events import (
    Forgotten,
    Imported,
    Resolved,
    StateEvent,
    Unlocked,
    apply_event,
)
from reconciler.domain.state import EventNote, State, StateEntry, TemplateRecord, utc_now
from reconciler.errors import ConflictError, InvalidInput
from reconciler.usecases.plan import load_desired, state_store
from reconciler.usecases.ports import lock_for

REASON_MAX = 500


@dataclass(frozen=True)
class Actor:
    """Who asks for a change and why."""

    operator: str
    reason: str | None


def require_reason(reason: str | None, what: str, *, required: bool) -> str | None:
    """A reason is one printable line of text; `required` refuses its absence."""
    if reason is not None:
        reason = reason.strip()
        if not reason:
            reason = None
        elif len(reason) > REASON_MAX or not reason.isprintable():
            raise InvalidInput(
                f"--reason must be one line of printable text, at most {REASON_MAX} characters"
            )
    if reason is None and required:
        raise InvalidInput(
            f"{what} needs --reason TEXT",
            hint="say why (a ticket, an incident); it is recorded with your name in the "
            "state's history (`ipass state history KEY`)",
        )
    return reason


def state_change_reason(target: Target, reason: str | None, what: str) -> str | None:
    """State changes outside the embedded sandbox need a reason."""
    where = f"{what} in environment {target.name!r}"
    return require_reason(reason, where, required=not target.embedded)


def read_state(target: Target) -> tuple[StateStore, State]:
    store = state_store(target)
    return store, store.load()


def entry_of(state: State, key: str) -> StateEntry:
    entry = state.entries.get(key)
    if entry is None:
        import difflib

        guesses = difflib.get_close_matches(key, sorted(state.entries), n=1)
        hint = f"did you mean {guesses[0]!r}?" if guesses else "`ipass state list` shows the keys"
        raise InvalidInput(f"no state entry {key!r}", hint=hint)
    return entry


def history(target: Target, key: str) -> tuple[EventNote, ...]:
    """One key's events, newest first."""
    _, state = read_state(target)
    return tuple(reversed(entry_of(state, key).events))


MakeEvent = Callable[[State], StateEvent]


def _change(target: Target, make: MakeEvent) -> State:
    """Apply one event to the state, atomically, holding the lock."""
    store = state_store(target)
    ensure_writable(target.state_file.parent)
    with lock_for(target, "state"):
        snapshot, state = store.load_with_snapshot()
        return store.checkpoint(apply_event(state, make(state)), loaded=snapshot)


def _base(state: State, key: str, actor: Actor) -> dict[str, str | int | None]:
    return {
        "lineage": state.lineage,
        "base_serial": state.serial,
        "key": key,
        "at": utc_now(),
        "operator": actor.operator,
        "reason": actor.reason,
    }


def checked_template_code(code: str) -> str:
    problem = template_code_problem(code)
    if problem is not None:
        raise InvalidInput(
            f"--template-code {problem}",
            hint="copy the templateCode exactly as AlipayHK shows it",
        )
    return code


def resolve_created(target: Target, key: str, template_code: str, actor: Actor) -> State:
    """An unknown outcome turned out to have created `template_code` at AlipayHK.

    A resolve that was wrong is corrected the same way: the new event is recorded on top, and
    the history keeps both.
    """
    checked_template_code(template_code)

    def make(state: State) -> StateEvent:
        _resolvable(state, key)
        return Resolved.model_validate({**_base(state, key, actor), "template_code": template_code})

    return _change(target, make)


def resolve_not_created(target: Target, key: str, actor: Actor) -> State:
    """An unknown outcome turned out to have created nothing: clear it for a new attempt."""

    def make(state: State) -> StateEvent:
        _resolvable(state, key)
        return Resolved.model_validate({**_base(state, key, actor), "template_code": None})

    return _change(target, make)


def _resolvable(state: State, key: str) -> TemplateRecord:
    """Unknown outcomes, and templates whose code a person gave (to correct a wrong resolve)."""
    entry = entry_of(state, key)
    record = entry.current
    by_hand = bool(entry.events) and entry.events[-1].op == "resolved"
    if record is None or not (record.status in ("pending", "unknown") or by_hand):
        status = record.status if record is not None else "none"
        raise InvalidInput(
            f"{key!r} has no unknown outcome to resolve (status: {status})",
            hint="resolve is for entries that `ipass plan` shows as unknown, or to correct "
            "the previous resolve of the same entry",
        )
    return record


def import_template(target: Target, key: str, template_code: str, actor: Actor) -> State:
    """Adopt a template made by hand: the catalog entry's payload is recorded as its content."""
    checked_template_code(template_code)

    def make(state: State) -> StateEvent:
        current = state.current(key)
        if current is not None:
            raise ConflictError(
                f"{key!r} is already recorded (status {current.status}, "
                f"template {current.template_code or '-'})",
                hint=f"`ipass state forget {key}{target.env_args}` it first if the record is wrong",
            )
        desired = load_desired(target, state)[1].get(key)
        if desired is None:
            raise InvalidInput(
                f"no catalog entry {key!r} to import", hint="add the entry to the catalog first"
            )
        at = utc_now()
        record = TemplateRecord(
            status="created",
            template_code=template_code,
            request_id="imported",
            payload_hash=desired.payload_hash,
            payload=desired.payload,
            source=desired.source,
            recorded_at=at,
            updated_at=at,
            note="imported: created outside ipass",
        )
        return Imported.model_validate({**_base(state, key, actor), "record": record})

    return _change(target, make)


def forget(target: Target, key: str, actor: Actor) -> State:
    """Stop tracking a key; its record stays in the entry's history."""

    def make(state: State) -> StateEvent:
        if entry_of(state, key).current is None:
            raise InvalidInput(f"{key!r} is already forgotten")
        return Forgotten.model_validate(_base(state, key, actor))

    return _change(target, make)


def unlock(target: Target, lock_id: str, actor: Actor) -> LockInfo:
    """Clear a stale lock record, and record who did it and why."""
    holder = force_unlock(target.locks_dir, target.name, lock_id)

    def make(state: State) -> StateEvent:
        return Unlocked.model_validate({**_base(state, "", actor), "lock_id": lock_id})

    _change(target, make)
    return holder
