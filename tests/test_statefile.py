"""The state file at scale: the bytes it is written as, and the mark that spares a full check.

The snapshot is encoded by orjson and must stay byte for byte what the standard library wrote
(every state committed to git before the change reads and diffs as it did). A read checks the
file whole (strict JSON, every payload against its hash) unless its exact bytes were checked
before; a hand edit still fails, naming the entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import JsonValue

from reconciler.adapters.statefile import StateStore
from reconciler.adapters.statemark import mark_path_for, vouches
from reconciler.domain.events import Pending, apply_event
from reconciler.domain.payload import payload_digest
from reconciler.domain.state import (
    EventNote,
    State,
    StateEntry,
    TemplateRecord,
    new_state,
    parse_state,
    state_bytes,
)
from reconciler.errors import ConflictError

NOW = "2030-01-02T03:04:05Z"
ENV = "production"


def _record(key: str, body: dict[str, JsonValue], **extra: object) -> TemplateRecord:
    return TemplateRecord.model_validate(
        {
            "status": "created",
            "template_code": f"T-{key}",
            "request_id": f"rid-{key}",
            "payload_hash": payload_digest(body),
            "payload": body,
            "source": f"catalog/{key}.yaml:1",
            "recorded_at": NOW,
            "updated_at": NOW,
            **extra,
        }
    )


# Text a state holds in practice and at its edges: CJK, emoji (beyond the BMP), the two line
# separators JavaScript fears, DEL and C0 controls (escaped), quotes and backslashes, HTML.
AWKWARD = '珍珠河券 ☕ 😀 \u2028\u2029 \x7f \x00\x01\x1f \b\f\n\r\t " \\ / </script> é'


def _awkward_state() -> State:
    body: dict[str, JsonValue] = {
        "merchantId": "2160120000000001",
        "requestId": "ignored-by-the-hash",
        "localeInfo": {"zh_HK": {"name": AWKWARD, "description": "第 1 號"}, "en_US": {}},
        "startDate": 1893463200000,
        "stock": 0,
        "bigNumbers": [9223372036854775807, -9223372036854775807],
        "empty": [],
        "nested": [[], {}, [{}], {"ｚ": 1, "z": 2, "é": 3, "\U0001f600": 4, "": 5}],
        "flag": True,
    }
    earlier = _record(
        "coffee", {**body, "stock": 5}, history_reason="replaced", generation=2**64 - 1
    )
    note = EventNote(op="created", at=NOW, operator="ops@example.com", reason=AWKWARD)
    entry = StateEntry(
        current=_record("coffee", body, generation=1, note=AWKWARD), history=(earlier,)
    )
    entries = {"coffee": entry, "tea-é": StateEntry(events=(note,)), "": StateEntry()}
    return new_state(ENV).model_copy(update={"entries": entries, "log": (note,)})


def _stdlib_text(state: State) -> bytes:
    """The state as every earlier ipass wrote it."""
    data = state.model_dump(mode="json", exclude_none=True)
    data["format_version"] = 2
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()


def test_state_bytes_are_byte_for_byte_what_the_standard_library_wrote() -> None:
    state = _awkward_state()
    written = state_bytes(state)
    assert written == _stdlib_text(state)
    assert "😀".encode() in written
    assert b"\\u0000" in written
    assert "\u2028".encode() in written
    parsed = parse_state(written, where="state/production.json", environment=ENV)
    assert parsed == state
    assert state_bytes(parsed) == written


def test_a_number_orjson_cannot_write_falls_back_to_the_same_bytes() -> None:
    """Only a hand-edited serial can exceed 64 bits (the reader allows 20 digits)."""
    state = _awkward_state().model_copy(update={"serial": 99_999_999_999_999_999_999})
    assert state_bytes(state) == _stdlib_text(state)


def _store(tmp_path: Path) -> StateStore:
    state_file = tmp_path / "state" / f"{ENV}.json"
    return StateStore(state_file, ENV, verified_mark=mark_path_for(tmp_path / ".ipass", state_file))


def _written(tmp_path: Path) -> tuple[StateStore, State]:
    store = _store(tmp_path)
    return store, store.checkpoint(_awkward_state(), loaded=None)


def test_a_written_snapshot_is_marked_and_read_back_without_a_full_check(tmp_path: Path) -> None:
    store, written = _written(tmp_path)
    data = store.path.read_bytes()
    assert store.verified_mark == tmp_path / ".ipass" / "cache" / "state" / f"{ENV}.json.verified"
    assert vouches(store.verified_mark, hashlib.sha256(data).hexdigest())
    assert _store(tmp_path).read() == written


def test_a_read_marks_bytes_that_pass_the_full_check(tmp_path: Path) -> None:
    store, _ = _written(tmp_path)
    assert store.verified_mark is not None
    store.verified_mark.unlink()
    digest = hashlib.sha256(store.path.read_bytes()).hexdigest()
    assert not vouches(store.verified_mark, digest)
    _store(tmp_path).read()
    assert vouches(store.verified_mark, digest)


def _edit(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) >= 1
    path.write_bytes(data.replace(old, new, 1))


def test_a_hand_edited_payload_is_refused_although_the_file_was_marked(tmp_path: Path) -> None:
    store, _ = _written(tmp_path)
    _edit(store.path, b'"stock": 0', b'"stock": 9')  # same length, still valid JSON
    with pytest.raises(ConflictError, match="entry 'coffee': its payload does not match"):
        _store(tmp_path).read()


def test_a_key_twice_is_refused_although_the_file_was_marked(tmp_path: Path) -> None:
    store, _ = _written(tmp_path)
    _edit(store.path, b'"stock": 0', b'"stock": 0, "stock": 9')
    with pytest.raises(ConflictError, match='has the key "stock" twice'):
        _store(tmp_path).read()


def test_a_mark_for_other_bytes_vouches_for_nothing(tmp_path: Path) -> None:
    store, _ = _written(tmp_path)
    assert store.verified_mark is not None
    _edit(store.path, b'"stock": 0', b'"stock": 9')
    other = store.verified_mark.read_bytes().replace(b"sha256 ", b"sha256 0", 1)[:-2] + b"\n"
    store.verified_mark.write_bytes(other)
    with pytest.raises(ConflictError, match="its payload does not match"):
        _store(tmp_path).read()


def test_a_link_in_place_of_the_mark_is_never_followed(tmp_path: Path) -> None:
    store, _ = _written(tmp_path)
    assert store.verified_mark is not None
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(store.verified_mark.read_bytes())
    store.verified_mark.unlink()
    store.verified_mark.symlink_to(elsewhere)
    _edit(store.path, b'"stock": 0', b'"stock": 9')
    with pytest.raises(ConflictError, match="its payload does not match"):
        _store(tmp_path).read()
    assert elsewhere.read_bytes().startswith(b"ipass state checked")  # untouched


def test_a_hand_edited_journal_record_is_written_unmarked_then_refused(tmp_path: Path) -> None:
    """A `pending` line whose payload no longer matches its hash reaches the snapshot as it
    always did, but unmarked: the next read checks the file whole and names the entry."""
    store, written = _written(tmp_path)
    body: dict[str, JsonValue] = {"merchantId": "2160120000000001", "stock": 1}
    record = _record("juice", body, status="pending", template_code=None)
    pending = Pending(
        lineage=written.lineage, base_serial=written.serial, key="juice", record=record
    )
    store.append(pending, durable=True)
    store.close()
    _edit(store.journal_path, b'"stock":1', b'"stock":2')
    loaded = _store(tmp_path)
    snapshot, state = loaded.load_with_snapshot()
    assert state == apply_event(written, pending.model_copy(update={"record": _edited(record)}))
    loaded.checkpoint(state, loaded=snapshot)
    assert loaded.verified_mark is not None
    assert not vouches(loaded.verified_mark, hashlib.sha256(loaded.path.read_bytes()).hexdigest())
    with pytest.raises(ConflictError, match="entry 'juice': its payload does not match"):
        _store(tmp_path).read()


def _edited(record: TemplateRecord) -> TemplateRecord:
    return record.model_copy(update={"payload": {**record.payload, "stock": 2}})


def test_an_apply_after_a_marked_read_hashes_only_what_changed(tmp_path: Path) -> None:
    """The next snapshot is marked: the unchanged records were checked when read."""
    _, written = _written(tmp_path)
    reader = _store(tmp_path)
    snapshot, state = reader.load_with_snapshot()
    body: dict[str, JsonValue] = {"merchantId": "2160120000000001", "stock": 3}
    record = _record("juice", body, status="pending", template_code=None)
    pending = Pending(lineage=state.lineage, base_serial=state.serial, key="juice", record=record)
    after = reader.checkpoint(apply_event(state, pending), loaded=snapshot)
    assert after.serial == written.serial + 1
    assert reader.verified_mark is not None
    assert vouches(reader.verified_mark, hashlib.sha256(reader.path.read_bytes()).hexdigest())
    assert _store(tmp_path).read() == after


def _at(value: JsonValue, *path: str | int) -> JsonValue:
    """The value at `path` inside nested JSON data."""
    for step in path:
        if isinstance(value, dict):
            value = value[str(step)]
        elif isinstance(value, list):
            value = value[int(step)]
        else:
            raise TypeError(f"no {step!r} in {value!r}")
    return value


def test_a_read_keeps_one_copy_of_each_string_the_payloads_repeat() -> None:
    """30,000 payloads repeat the same keys, links and texts: a read holds each once, unchanged."""
    long_text = "Valid at every branch of Pearl River Coffee, " * 4  # never cached by the parser
    body: dict[str, JsonValue] = {
        "merchantId": "2160120000000001",
        "localeInfo": {"en_US": {"description": long_text}, "zh_HK": {"name": "珍珠河" * 30}},
        "links": [long_text, {"url": long_text}],
    }
    entries = {key: StateEntry(current=_record(key, json.loads(json.dumps(body)))) for key in "ab"}
    state = new_state(ENV).model_copy(update={"entries": entries})
    parsed = parse_state(state_bytes(state), where="state/production.json", environment=ENV)
    assert parsed == state
    assert state_bytes(parsed) == state_bytes(state)
    first, second = (parsed.entries[key].current for key in "ab")
    assert first is not None
    assert second is not None
    for path in (("localeInfo", "en_US", "description"), ("links", 0), ("links", 1, "url")):
        assert _at(first.payload, *path) is _at(second.payload, *path)
        assert _at(first.payload, *path) is _at(first.payload, "links", 0)
    assert _at(first.payload, "localeInfo", "zh_HK", "name") is _at(
        second.payload, "localeInfo", "zh_HK", "name"
    )
    keys = [next(iter(record.payload)) for record in (first, second)]
    assert keys[0] is keys[1]


def test_records_given_the_same_fields_share_their_set_and_copies_do_not_leak() -> None:
    """pydantic keeps, per model, the names of the fields it was given: records with the same
    fields share one set after a read; changing a copy never touches the others'."""
    body: dict[str, JsonValue] = {"merchantId": "2160120000000001"}
    entries = {key: StateEntry(current=_record(key, dict(body))) for key in "abc"}
    state = new_state(ENV).model_copy(update={"entries": entries})
    parsed = parse_state(state_bytes(state), where="state/production.json", environment=ENV)
    first, second, third = (parsed.entries[key].current for key in "abc")
    assert first is not None
    assert second is not None
    assert third is not None
    assert first.model_fields_set is second.model_fields_set is third.model_fields_set
    given = set(first.model_fields_set)
    assert "note" not in given
    noted = first.model_copy(update={"note": "checked by hand"})
    assert noted.model_fields_set == given | {"note"}
    assert first.model_fields_set == given
    assert second.model_fields_set == given
    assert state_bytes(parsed) == state_bytes(state)
    moved = parsed.with_record("b", noted, retire_current="replaced")
    assert state_bytes(moved) != state_bytes(parsed)
    assert first.model_fields_set == given
