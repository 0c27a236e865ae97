"""The JSON plan is encoded by orjson: byte for byte what the standard library wrote before.

The reference below is the encoder plan documents had until orjson took over: the canonical JSON
of the document for its digest, then `json.dumps(..., ensure_ascii=False, sort_keys=True,
indent=2)` with a newline, `##[` written as `#\\u0023[`. Every document here is encoded both
ways, and read back as apply reads a saved plan.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import REPO, copy_example, run_cli
from pydantic import JsonValue
from test_plan_render import (
    blocked,
    body,
    create,
    make_plan,
    mixed_plan,
    noop,
    replaced,
    retry,
)

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.plan import Action, Plan
from reconciler.domain.plan_document import (
    PlanDocument,
    document_json,
    plan_differences,
    plan_document,
    plan_json,
    read_plan_document,
)
from reconciler.errors import InvalidInput


def stdlib_json(document: PlanDocument) -> str:
    """The plan document as the standard library encodes it (the encoder before orjson)."""
    data: dict[str, JsonValue] = document.model_dump(mode="json", by_alias=True)
    data["digest"] = sha256_hex(canonical_json(data))
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    return text.replace("##[", "#\\u0023[")


HOSTILE = (
    '咖啡 ☕ 😀 "quoted" back\\slash\ttab\nline\r\x00\x1b[31m\x7f\x85\x9b'
    "\u2028\u2029\u202e\u200b\ufeff ##[error]::warning:: é"
)


def hostile_plan() -> Plan:
    payload = body("hostile", zh=HOSTILE, en=HOSTILE[::-1])
    payload["passExtInfo"] = {"note": HOSTILE, "seats": [1, 2, {"row": "A"}], "empty": {}}
    old = body("edited", en="Old ##[name]")
    return make_plan(
        [
            create("hostile", payload),
            blocked("edited", old, {**old, "stock": 1, "imageUrl": HOSTILE}),
            noop("kept", body("kept", zh=HOSTILE)),
            retry("again", body("again", en=HOSTILE)),
        ]
    )


def with_ticket(value: JsonValue) -> Plan:
    payload = body("odd")
    payload["passExtInfo"] = {"value": value}
    old = body("odd-old")
    return make_plan(
        [create("odd", payload), replaced("odd-old", {**old, "passExtInfo": {"v": value}}, old)]
    )


PLANS: dict[str, Callable[[], Plan]] = {
    "every action": mixed_plan,
    "hostile text": hostile_plan,
    # what orjson prints otherwise than the standard library, or refuses: encoded by the latter
    "fractions": lambda: with_ticket([0.5, 1e-05, 1e16, 1.5e-7, -0.0, 3.0]),
    "a number of 60 bits": lambda: with_ticket(2**60 + 1),
    "no steps": lambda: make_plan([]),
}


@pytest.mark.parametrize("name", list(PLANS))
def test_the_document_is_byte_for_byte_the_standard_librarys(name: str) -> None:
    document = plan_document(PLANS[name]())
    text = document_json(document)
    assert text == stdlib_json(document)
    if name == "fractions":
        return  # a saved plan holding a fraction is refused when read, as it always was
    saved = read_plan_document(text, where="plan.json")
    assert plan_differences(saved, document) == []
    assert saved.model_dump(mode="json") == document.model_dump(mode="json")


def test_a_number_beyond_a_java_long_is_still_refused() -> None:
    with pytest.raises(
        InvalidInput, match=r"^passExtInfo\.value: the integer 9223372036854775808 is beyond"
    ):
        plan_json(with_ticket(2**63))


def test_an_unchanged_entry_has_no_card_but_its_hashes(tmp_path: Path) -> None:
    data = json.loads(plan_json(hostile_plan()))
    steps = {step["key"]: step for step in data["steps"]}
    kept = steps["kept"]
    assert kept["action"] == Action.NOOP.value
    assert kept["card"] is None
    assert kept["payload_hash"] == kept["recorded_payload_hash"]
    assert kept["names"]["zh_HK"] == HOSTILE
    assert all(step["card"] is not None for key, step in steps.items() if key != "kept")


def test_the_example_plan_is_byte_for_byte_the_standard_librarys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_example(tmp_path)
    shutil.copy(REPO / "ipass.toml", tmp_path / "ipass.toml")
    printed = run_cli(capsys, "-C", str(tmp_path), "plan", "--format", "json")
    assert printed.code == 0, printed.err
    saved = read_plan_document(printed.out, where="plan.json")
    assert printed.out == stdlib_json(saved)
    assert len(saved.steps) == 10
