"""`ipass state ...`: read the recorded state and change it explicitly, under the lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reconciler.adapters.lock import EnvironmentLock, LockInfo, force_unlock
from reconciler.adapters.statefile import StateStore, ensure_writable
from reconciler.domain.config import load_project
from reconciler.domain.state import State, StateEntry, TemplateRecord, utc_now
from reconciler.errors import ConflictError, InvalidInput
from reconciler.usecases.connect import Paths, state_paths


@dataclass(frozen=True)
class Located:
    environment: str
    paths: Paths
    store: StateStore


def locate(project_dir: Path, environment: str | None) -> Located:
    project = load_project(project_dir)
    name, env = project.environment(environment)
    paths = state_paths(project, name, env)
    return Located(name, paths, StateStore(paths.state_file, name))


def read_state(project_dir: Path, environment: str | None) -> tuple[Located, State]:
    located = locate(project_dir, environment)
    return located, located.store.load()


def entry_of(state: State, key: str) -> StateEntry:
    entry = state.entries.get(key)
    if entry is None:
        raise InvalidInput(f"no state entry {key!r}", hint="`ipass state list` shows the keys")
    return entry


Change = Callable[[State], State]


def _change(project_dir: Path, environment: str | None, change: Change) -> State:
    """Apply one explicit change to the state, atomically, holding the lock."""
    located = locate(project_dir, environment)
    ensure_writable(located.paths.state_file.parent)
    with EnvironmentLock(located.paths.locks, located.environment, "state"):
        snapshot, state = located.store.load_with_snapshot()
        return located.store.checkpoint(change(state), loaded=snapshot)


def resolve_created(
    project_dir: Path, environment: str | None, key: str, template_code: str
) -> State:
    """An unknown outcome turned out to have created `template_code` at AlipayHK."""

    def change(state: State) -> State:
        record = _unresolved(state, key)
        now = utc_now()
        done = record.model_copy(
            update={
                "status": "created",
                "template_code": template_code,
                "updated_at": now,
                "note": "resolved by hand: found at AlipayHK",
            }
        )
        return state.with_record(key, done)

    return _change(project_dir, environment, change)


def resolve_not_created(project_dir: Path, environment: str | None, key: str) -> State:
    """An unknown outcome turned out to have created nothing: clear it for a new attempt."""

    def change(state: State) -> State:
        _unresolved(state, key)  # raises unless the current record is pending or unknown
        cleared = state.with_record(key, None, retire_current="resolved-not-created")
        # A replace that never happened: the template it was replacing is current again.
        history = cleared.entries[key].history
        earlier = [i for i, r in enumerate(history) if r.history_reason == "replaced"]
        if earlier and earlier[-1] == len(history) - 2:
            back = history[earlier[-1]].model_copy(update={"history_reason": None})
            rest = history[: earlier[-1]] + history[earlier[-1] + 1 :]
            return cleared.restored(key, StateEntry(current=back, history=rest))
        return cleared

    return _change(project_dir, environment, change)


def _unresolved(state: State, key: str) -> TemplateRecord:
    record = entry_of(state, key).current
    if record is None or record.status not in ("pending", "unknown"):
        status = record.status if record is not None else "none"
        raise InvalidInput(
            f"{key!r} has no unknown outcome to resolve (status: {status})",
            hint="resolve is for entries that `ipass plan` shows as unknown",
        )
    return record


def import_template(
    project_dir: Path, environment: str | None, key: str, template_code: str
) -> State:
    """Adopt a template made by hand: the catalog entry's payload is recorded as its content."""
    from reconciler.usecases.plan import load_inputs

    desired = load_inputs(project_dir, environment).desired.get(key)
    if desired is None:
        raise InvalidInput(
            f"no catalog entry {key!r} to import", hint="add the entry to the catalog first"
        )

    def change(state: State) -> State:
        current = state.current(key)
        if current is not None:
            raise ConflictError(
                f"{key!r} is already recorded (status {current.status}, "
                f"template {current.template_code or '-'})",
                hint="`ipass state forget` it first if the record is wrong",
            )
        now = utc_now()
        record = TemplateRecord.model_validate(
            {
                "status": "created",
                "template_code": template_code,
                "request_id": "imported",
                "payload_hash": desired.payload_hash,
                "payload": desired.payload,
                "source": desired.source,
                "recorded_at": now,
                "updated_at": now,
                "note": "imported: created outside ipass",
            },
            strict=False,
        )
        return state.with_record(key, record)

    return _change(project_dir, environment, change)


def forget(project_dir: Path, environment: str | None, key: str) -> State:
    """Stop tracking a key; its record stays in the entry's history."""

    def change(state: State) -> State:
        if entry_of(state, key).current is None:
            raise InvalidInput(f"{key!r} is already forgotten")
        return state.with_record(key, None, retire_current="forgotten")

    return _change(project_dir, environment, change)


def unlock(project_dir: Path, environment: str | None, lock_id: str) -> LockInfo:
    located = locate(project_dir, environment)
    return force_unlock(located.paths.locks, located.environment, lock_id)
