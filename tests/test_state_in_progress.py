"""`StateInProgress` (apply's state, changed in place) gives exactly what `apply_event` gives,
event after event, over a state with other entries it must leave as they are."""

from __future__ import annotations

from pydantic import JsonValue

from reconciler.domain.events import (
    Adopted,
    Created,
    Forgotten,
    Imported,
    Moved,
    Pending,
    Rejected,
    Resolved,
    Retired,
    StateEvent,
    StateInProgress,
    Unknown,
    Unlocked,
    apply_event,
)
from reconciler.domain.payload import payload_digest
from reconciler.domain.state import State, StateEntry, TemplateRecord, new_state

NOW = "2030-01-02T03:04:05Z"


def _record(key: str, status: str = "created", code: str | None = "T1") -> TemplateRecord:
    body: dict[str, JsonValue] = {"merchantId": "2160120000000001", "name": key}
    return TemplateRecord.model_validate(
        {
            "status": status,
            "template_code": code,
            "request_id": f"rid-{key}",
            "payload_hash": payload_digest(body),
            "payload": body,
            "recorded_at": NOW,
            "updated_at": NOW,
        }
    )


def _events(state: State) -> list[StateEvent]:
    def base(key: str) -> dict[str, object]:
        return {"lineage": state.lineage, "base_serial": state.serial, "key": key, "at": NOW}

    pending_b = _record("b2", "pending", None)
    return [
        Pending.model_validate({**base("a"), "record": _record("a", "pending", None)}),
        Created.model_validate({**base("a"), "template_code": "C1"}),
        Pending.model_validate({**base("b"), "record": pending_b, "replacing": True}),
        Rejected.model_validate(
            {
                **base("b"),
                "code": "X",
                "message": "no",
                "previous": StateEntry(current=_record("b")),
            }
        ),
        Moved.model_validate({**base("c"), "old_key": "a"}),
        Retired.model_validate({**base("c"), "detail": "gone"}),
        Pending.model_validate({**base("d"), "record": _record("d", "pending", None)}),
        Unknown.model_validate({**base("d"), "detail": "timeout"}),
        Resolved.model_validate({**base("d"), "template_code": None}),
        Forgotten.model_validate(base("b")),
        Imported.model_validate({**base("e"), "record": _record("e", code="T5")}),
        Adopted.model_validate({**base("f"), "record": _record("f", code="T6")}),
        Unlocked.model_validate({**base(""), "lock_id": "L1"}),
    ]


def test_each_event_in_place_gives_what_apply_event_gives() -> None:
    others = {f"other-{i}": StateEntry(current=_record(f"other-{i}")) for i in range(5)}
    start = new_state("s").model_copy(
        update={"entries": {**others, "b": StateEntry(current=_record("b"))}}
    )
    expected = start
    in_progress = StateInProgress(start)
    for event in _events(start):
        expected = apply_event(expected, event)
        in_progress.apply(event)
        assert in_progress.state() == expected
        assert list(in_progress.state().entries) == list(expected.entries)
    assert in_progress.entry("a") is None  # moved to c
    assert [note.op for note in in_progress.state().log] == ["unlocked"]
    assert all(in_progress.state().entries[key] is entry for key, entry in others.items())
