"""Recorded state: what has been published for one environment, one JSON file per environment.

Deterministic (sorted keys, two-space indent, trailing newline) so its git diff reads well;
versioned; carrying a `lineage` fixed at creation and a `serial` that grows with every write.
A file that is truncated, conflict-marked, of an unknown version or inconsistent (a payload that
no longer matches its recorded hash) is refused, never repaired silently.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, ValidationError

from reconciler.domain.contract.identifiers import TemplateCode
from reconciler.domain.jsonsafe import JsonSyntaxError, StrictJsonError, check_strict, gc_paused
from reconciler.domain.payload import payload_digest
from reconciler.errors import ConflictError

# Version 2 adds each key's event log (who changed what, when and why). Version 1 files are
# read as they are (with no events) and written back as version 2.
STATE_FORMAT_VERSION: Final = 2
READABLE_VERSIONS: Final = (1, 2)
Status = Literal["created", "pending", "unknown", "retired"]
# A record stays in an entry's history with why it left `current`.
HistoryReason = Literal["replaced", "forgotten", "resolved-not-created", "rejected"]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

_ORJSON_STATE: Final = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
_CONFLICT_MARKERS: Final = ("<<<<<<< ", "=======\n", ">>>>>>> ")
# Looked for when a file does not read, so a newer format is named as such, not as "malformed".
_VERSION: Final = re.compile(r'"format_version"\s*:\s*(-?\d+)')


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class TemplateRecord(BaseModel):
    """One createTemplate intent and, once known, its outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    status: Status
    template_code: TemplateCode | None = None
    template_status: str | None = None
    request_id: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    payload_hash: Sha256
    payload: dict[str, JsonValue]
    generation: int = Field(default=0, ge=0)
    # The catalog's `revision:` this template was published for (1 unless raised).
    revision: int = Field(default=1, ge=1)
    # Recorded from `adopt: CODE`: made outside ipass, content taken from the catalog and not
    # verified (AlipayHK offers no read API).
    adopted: bool = False
    source: str | None = None
    recorded_at: str
    updated_at: str
    note: str | None = None
    history_reason: HistoryReason | None = None

    def payload_matches(self) -> bool:
        """The payload (everything sent but requestId) still hashes to `payload_hash`."""
        return payload_digest(self.payload) == self.payload_hash

    @property
    def live(self) -> bool:
        """A template that exists (or may exist) at AlipayHK for this record."""
        return self.status != "retired" or self.template_code is not None


EventOp = Literal[
    "pending",
    "created",
    "rejected",
    "unknown",
    "retired",
    "resolved",
    "imported",
    "forgotten",
    "unlocked",
    "moved",
    "adopted",
]


class EventNote(BaseModel):
    """One change, as `ipass state history` shows it: what, when, by whom and why."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    op: EventOp
    at: str
    operator: str
    reason: str | None = None
    template_code: str | None = None
    request_id: str | None = None
    result_code: str | None = None
    detail: str | None = None


class StateEntry(BaseModel):
    """A catalog key: its current template (if any), every earlier one, and its event log."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    current: TemplateRecord | None = None
    history: tuple[TemplateRecord, ...] = ()
    events: tuple[EventNote, ...] = ()


class State(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    format_version: Literal[1, 2] = STATE_FORMAT_VERSION
    lineage: Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}$")]
    serial: int = Field(ge=0)
    environment: str
    entries: dict[str, StateEntry] = Field(default_factory=dict)
    # Changes that belong to the environment rather than a key (a lock cleared by hand).
    log: tuple[EventNote, ...] = ()

    def current(self, key: str) -> TemplateRecord | None:
        entry = self.entries.get(key)
        return entry.current if entry is not None else None

    def with_record(
        self,
        key: str,
        record: TemplateRecord | None,
        *,
        retire_current: HistoryReason | None = None,
    ) -> State:
        """A copy with `key`'s current record replaced (the old one moved to history if asked)."""
        old = self.entries.get(key, StateEntry())
        history = old.history
        if retire_current is not None and old.current is not None:
            history = (*history, old.current.model_copy(update={"history_reason": retire_current}))
        entries = dict(self.entries)
        entries[key] = StateEntry(current=record, history=history, events=old.events)
        return self.model_copy(update={"entries": entries})

    def restored(self, key: str, previous: StateEntry | None) -> State:
        """A copy with `key`'s records put back as they were; its event log is kept."""
        entries = dict(self.entries)
        events = entries[key].events if key in entries else ()
        back = previous if previous is not None else StateEntry()
        entries[key] = back.model_copy(update={"events": events})
        return self.model_copy(update={"entries": entries})

    def moved(self, old: str, new: str) -> State:
        """A copy with `old`'s entry (records and log) under `new`; `old` is gone."""
        entries = dict(self.entries)
        entry = entries.pop(old, StateEntry())
        entries[new] = entry
        return self.model_copy(update={"entries": entries})

    def noted(self, key: str | None, note: EventNote) -> State:
        """A copy with `note` appended to `key`'s event log (or the environment's)."""
        if key is None:
            return self.model_copy(update={"log": (*self.log, note)})
        entries = dict(self.entries)
        old = entries.get(key, StateEntry())
        entries[key] = old.model_copy(update={"events": (*old.events, note)})
        return self.model_copy(update={"entries": entries})


def new_state(environment: str) -> State:
    return State(lineage=str(uuid.uuid4()), serial=0, environment=environment)


def state_bytes(state: State) -> bytes:
    """Deterministic JSON as UTF-8: sorted keys, two-space indent, trailing newline.

    Encoded by orjson, whose output for these options is byte for byte the standard library's
    `json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\\n"` (the format since
    version 1) on everything a state holds: text in any script (unescaped), control characters
    (escaped the same way), keys sorted by code point, whole numbers. The two differ only on
    fractions written with an exponent, which no state holds (payloads have no fractional
    fields and the strict reader refuses them), and on what orjson refuses (a whole number
    beyond 64 bits, as only a hand-edited `serial` could be): that falls back to the standard
    library's encoder, so the bytes never depend on which encoder wrote them.
    """
    with gc_paused():  # a dump of 30,000 records is millions of short-lived containers
        data = state.model_dump(mode="python", exclude_none=True)
        data["format_version"] = STATE_FORMAT_VERSION
        try:
            return orjson.dumps(data, option=_ORJSON_STATE)
        except TypeError:
            text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
            return text.encode("utf-8")


def state_text(state: State) -> str:
    """`state_bytes` as text."""
    return state_bytes(state).decode("utf-8")


def parse_state(
    data: bytes | str, *, where: str, environment: str, verified: bool = False
) -> State:
    """Parse and check a state file; anything suspicious is a conflict to resolve by a person.

    The strict JSON reader checks the text first (a key twice, `NaN`, a fraction, a number of
    more than 20 digits, deep nesting: edited by hand or damaged); pydantic then validates it,
    strictly, with its own fast parser (see `check_strict` for why both read the same data);
    then every record's payload must still hash to its `payload_hash`.

    `verified` says these exact bytes passed all of that before (the caller holds their digest,
    recorded when they were written or last checked): checking them again could only give the
    same answer, so only pydantic's validation runs. See `reconciler.adapters.statefile`.
    """
    if not data or data.isspace():
        raise _refuse(where, "is empty (truncated?)")
    try:
        with gc_paused():  # a 25 MB state is millions of objects: see gc_paused
            if not verified:
                check_strict(data if isinstance(data, str) else data.decode("utf-8"))
            state = State.model_validate_json(data)
    except UnicodeDecodeError as error:
        raise _refuse(where, f"is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except JsonSyntaxError as error:
        text = _text(data)
        # The marker lines of a merge conflict are never JSON, so they are looked for only here.
        if any(marker in text for marker in _CONFLICT_MARKERS):
            raise _refuse(
                where, "contains git conflict markers; resolve the merge by hand first"
            ) from None
        _refuse_unreadable_version(text, where)
        raise _refuse(where, f"{error.problem}; truncated?") from None
    except StrictJsonError as error:
        raise _refuse(where, error.problem) from None
    except ValidationError as error:
        _refuse_unreadable_version(_text(data), where)
        first = error.errors()[0]
        if first["type"] == "json_invalid":  # a text pydantic's parser reads more strictly
            raise _refuse(where, f"is not valid JSON ({first['msg']}); truncated?") from None
        path = ".".join(str(p) for p in first["loc"])
        raise _refuse(where, f"is malformed at {path}: {first['msg']}") from None
    if state.environment != environment:
        raise _refuse(where, f"belongs to environment {state.environment!r}, not {environment!r}")
    if not verified:
        check_payloads(state, where=where)
    share_repeats(state)
    return state


def share_repeats(state: State) -> None:
    """Make what every record repeats one object: the same data, about a third less memory.

    pydantic's parser gives every key and value its own string, so 30,000 payloads hold a
    million strings of which about a fifth are distinct (`description`, `en_US`, the same links
    and merchant ids in every record); the payload dicts and lists are refilled in place with
    the first copy of each string, keeping every key's order. Each model also holds its own
    set of the field names it was given (about 700 bytes for a record); records given the same
    fields share one (pydantic reads it, and copies it before a `model_copy` changes it; the
    models are frozen, so nothing else changes it). Run on a freshly parsed state, before use.
    """
    seen: dict[str, str] = {}
    names: dict[frozenset[str], set[str]] = {}
    with gc_paused():
        for entry in state.entries.values():
            _share_fields_set(entry, names)
            for note in entry.events:
                _share_fields_set(note, names)
            for record in (entry.current, *entry.history):
                if record is not None:
                    _share_fields_set(record, names)
                    _share_in(record.payload, seen)


def _share_fields_set(model: BaseModel, names: dict[frozenset[str], set[str]]) -> None:
    given = model.model_fields_set
    shared = names.setdefault(frozenset(given), given)
    if shared is not given:
        object.__setattr__(model, "__pydantic_fields_set__", shared)


def _share_in(value: JsonValue, seen: dict[str, str]) -> None:
    """Replace each string inside the dict or list `value` by the copy in `seen` (in place)."""
    if isinstance(value, dict):
        items = [(seen.setdefault(k, k), _shared(v, seen)) for k, v in value.items()]
        value.clear()
        value.update(items)
    elif isinstance(value, list):
        value[:] = [_shared(v, seen) for v in value]


def _shared(value: JsonValue, seen: dict[str, str]) -> JsonValue:
    if isinstance(value, str):
        return seen.setdefault(value, value)
    _share_in(value, seen)
    return value


def check_payloads(state: State, *, where: str, since: State | None = None) -> None:
    """Refuse a record whose payload no longer hashes to its `payload_hash` (edited by hand?).

    With `since` (a state whose records were checked), an entry that is the very same object
    there is skipped: only what changed since is hashed.
    """
    before = since.entries if since is not None else {}
    for key, entry in state.entries.items():
        if before.get(key) is entry:
            continue
        for record in (entry.current, *entry.history):
            if record is not None and not record.payload_matches():
                raise _refuse(
                    where,
                    f"entry {key!r}: its payload does not match its payload_hash "
                    "(edited by hand?); restore it from git or the .backup file",
                )


def _text(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _refuse_unreadable_version(text: str, where: str) -> None:
    """A file that does not read as a state may be of a newer format: say so, if it is."""
    version = _VERSION.search(text)
    if version is not None and int(version.group(1)) not in READABLE_VERSIONS:
        raise _refuse(
            where,
            f"has format_version {version.group(1)}; "
            f"this ipass reads versions {', '.join(map(str, READABLE_VERSIONS))}",
        )


def _refuse(where: str, problem: str) -> ConflictError:
    return ConflictError(
        f"state file {where} {problem}",
        hint="ipass never overwrites a state it cannot trust; fix or restore the file "
        "(the previous snapshot is kept beside it as .backup)",
    )
