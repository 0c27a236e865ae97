"""The plan as a JSON document: `ipass plan` output for machines, and the saved plan file.

This is an interface, versioned like the state file. Format `ipass-plan`, version 6 (the
models are in `plan_document_models`, one step's document is built in `plan_document_steps`):

    {
      "format": "ipass-plan",
      "format_version": 6,
      "digest": "<sha256 hex>",
      "binding": {"environment", "endpoint", "merchant_id", "lineage", "serial", "catalog_hash"},
      "options": {"targets", "excludes", "replace", "retry_unknown"},
      "summary": {"create", "no-op", "blocked", "replace", "retire", "unknown", "retry",
                  "move", "adopt"},
      "warnings": ["..."],
      "outside_selection": 0,
      "has_changes": true,
      "steps": [
        {
          "key", "action", "reason", "source",
          "type", "product", "names": {"zh_HK", "en_US"},
          "price": {"current_cent", "original_cent", "currency"} | null,
          "start": {"ms", "hong_kong"} | null, "end": {...} | null,
          "card": {
            "zh_HK": {"name", "sub_name", "brand_name", "description"} | null,
            "en_US": {...} | null,
            "image_url", "logo_url", "categories": [...], "stock", "code_type",
            "code_standard", "button": {"type", "url", "browser_open"} | null,
            "order_page_link", "detail_link", "exposure", "merchant_id",
            "biz_mids": [...], "ticket_details": {... passExtInfo ...} | null
          } | null,
          "template_code", "recorded_request_id", "request_id",
          "payload_hash", "recorded_payload_hash", "generation",
          "changes": [{"path", "old", "new", "added", "removed"}],
          "send": {... the exact createTemplate body ...} | null,
          "old_key": "..." | null
        }
      ]
    }

- `digest` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the document
  without `digest`. A file whose content does not hash to it was edited by hand and is refused.
  It is not a signature: anyone can recompute it. What makes a saved plan exactly what runs is
  apply's comparison of every step with a plan computed again, under the lock, from the same
  state, catalog and options (`plan_differences`): any difference refuses the file.
- `binding` is what the plan was computed from; a saved plan applies only to exactly this state
  (lineage and serial) and this rendered catalog (catalog_hash).
- `summary` always holds all nine actions, zeros included; it counts `steps`.
- `warnings` are what a reviewer should know that blocks nothing (a create whose content is
  exactly that of a key that left the catalog: probably a rename without `moved_from`).
- A `move` step names its `old_key`; it carries a `send` body only when the renamed entry's
  revision was raised (a new template is published after the move). An `adopt` step names the
  adopted `template_code` and sends nothing.
- `steps` are sorted by key, one per entry in scope. The descriptive fields (type, product,
  names, price, start, end, card) describe one payload, the step's *subject*: the recorded one for
  `retry`, `unknown` and `retire` (what was sent, or what stays live), else the catalog's.
- `card` holds every customer-facing field of that payload, named after the createTemplate
  field in each description (a field not set is null, a list not set is empty). It is null for
  an unchanged entry (`no-op`): nothing of it is published, its payload is named by its
  `payload_hash` (which apply's fresh plan compares), and a plan of 10,000 entries in which a
  few changed stays small. In the document made for people (`plan_document(slim=True)`) an
  unchanged entry has only its key, action and reason.
- `payload_hash` is the catalog entry's (null when the key is not in the catalog);
  `recorded_payload_hash`, `template_code` and `recorded_request_id` are the recorded
  template's (null when nothing is recorded). Both hashes cover the body without requestId.
- `send` is the exact body apply would send (create, replace, retry; else null) and
  `request_id` its requestId. A retry re-sends the recorded body, so its `send` hashes to
  `recorded_payload_hash`; a create or replace sends the catalog's, hashing to `payload_hash`.
- `changes` lists the differing leaves, published (`old`) against catalog (`new`), as dotted
  paths; `added`/`removed` mark a field present on one side only (the other side is null).

Keys are sorted, the indent is two spaces and the file ends with a newline, so the same plan
always gives the same bytes. Any new field or changed meaning is a new `format_version`
(3 added move, adopt, warnings and outside_selection; 4 added `digest`; 5 added `card`; 6 leaves
it null for an unchanged entry). A
plan of another version is refused on read with the advice to make it again (`ipass plan --out`):
a saved plan is short-lived, so there is no conversion between versions.

A saved plan is read by the strict JSON reader (`jsonsafe`): a key twice, `NaN`, a fraction, a
number of more than 20 digits or nesting deeper than 64 levels is refused before anything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import pairwise
from typing import Final

import orjson
from pydantic import JsonValue, ValidationError

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.jsonsafe import StrictJsonError, strict_loads
from reconciler.domain.plan import CHANGES, Action, Plan
from reconciler.domain.plan_document_models import (
    PLAN_FORMAT,
    PLAN_FORMAT_VERSION,
    BindingDocument,
    ButtonDocument,
    CardDocument,
    ChangeDocument,
    LocaleCardDocument,
    MomentDocument,
    NamesDocument,
    OptionsDocument,
    PlanDocument,
    PriceDocument,
    StepDocument,
    SummaryDocument,
)
from reconciler.domain.plan_document_steps import step_document
from reconciler.domain.schemas import SCHEMA_DIALECT
from reconciler.errors import ConflictError

__all__ = [
    "DIGEST",
    "PLAN_FORMAT",
    "PLAN_FORMAT_VERSION",
    "BindingDocument",
    "ButtonDocument",
    "CardDocument",
    "ChangeDocument",
    "LocaleCardDocument",
    "MomentDocument",
    "NamesDocument",
    "OptionsDocument",
    "PlanDocument",
    "PriceDocument",
    "StepDocument",
    "SummaryDocument",
    "document_json",
    "plan_differences",
    "plan_document",
    "plan_json",
    "plan_json_schema",
    "read_plan_document",
]

# Steps that carry the body apply would send.
_SENDING: Final = frozenset({Action.CREATE, Action.REPLACE, Action.RETRY})
DIGEST: Final = "digest"
# The canonical form (`canonical_json`) and the document's own layout, as orjson options;
# `STRICT_INTEGER` refuses numbers beyond 53 bits, which the standard library then encodes.
_ORJSON_CANONICAL: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_ORJSON_PLAN: Final = _ORJSON_CANONICAL | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
# Differences named in full when a saved plan does not match a fresh one; the rest are counted.
_SHOWN_DIFFERENCES: Final = 10


def plan_document(plan: Plan, *, slim: bool = False) -> PlanDocument:
    """The plan as data; `slim` leaves out the details of unchanged entries (for people)."""
    binding, options = plan.binding, plan.options
    return PlanDocument(
        format=PLAN_FORMAT,
        format_version=PLAN_FORMAT_VERSION,
        binding=BindingDocument(
            environment=binding.environment,
            endpoint=binding.endpoint,
            merchant_id=binding.merchant_id,
            lineage=binding.lineage,
            serial=binding.serial,
            catalog_hash=binding.catalog_hash,
        ),
        options=OptionsDocument(
            targets=options.targets,
            excludes=options.excludes,
            replace=options.replace,
            retry_unknown=options.retry_unknown,
        ),
        summary=_count(step.action for step in plan.steps),
        has_changes=plan.has_changes,
        warnings=plan.warnings,
        outside_selection=plan.outside,
        steps=tuple(step_document(step, slim=slim) for step in plan.steps),
    )


def plan_json(plan: Plan) -> str:
    return document_json(plan_document(plan))


def document_json(document: PlanDocument) -> str:
    """Deterministic: sorted keys, two-space indent, trailing newline; with its `digest`.

    `##[` can only occur inside strings; it is written as `#\\u0023[` (the same data) so that
    printing the plan in a GitHub Actions log cannot run a legacy workflow command.

    Encoded by orjson, whose output with these options is byte for byte the standard library's
    `json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2)` (and, compact, the
    `canonical_json` the digest covers) on whole numbers of up to 53 bits and text in any script.
    Anything else falls back to the standard library, so the bytes never depend on the encoder:
    a fraction (the two print some differently), which only a body's free-form parts can hold
    (`send`, `ticket_details`, `changes`), or what orjson refuses (a longer number, half a
    surrogate pair).
    """
    data: dict[str, JsonValue] = document.model_dump(mode="json", by_alias=True)
    encoded = None if _has_fraction(document) else _orjson_encoded(data)
    if encoded is None:
        data[DIGEST] = sha256_hex(canonical_json(data))
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    else:
        text = encoded.decode("utf-8")
    return text.replace("##[", "#\\u0023[")


def _orjson_encoded(data: dict[str, JsonValue]) -> bytes | None:
    try:
        data[DIGEST] = sha256_hex(orjson.dumps(data, option=_ORJSON_CANONICAL))
        return orjson.dumps(data, option=_ORJSON_PLAN)
    except TypeError:  # orjson.JSONEncodeError: a number beyond 53 bits, half a surrogate pair
        data.pop(DIGEST, None)
        return None


def _has_fraction(document: PlanDocument) -> bool:
    """Whether a free-form part of a step (what a body holds) has a fraction in it."""
    for step in document.steps:
        values: list[JsonValue] = [step.send]
        if step.card is not None:
            values.append(step.card.ticket_details)
        for change in step.changes:
            values += (change.old, change.new)
        while values:
            value = values.pop()
            if isinstance(value, float):
                return True
            if isinstance(value, dict):
                values += value.values()
            elif isinstance(value, list):
                values += value
    return False


def read_plan_document(text: str, *, where: str) -> PlanDocument:
    """Parse and check a saved plan; anything suspicious is refused, never guessed at.

    In order: strict JSON (`jsonsafe`), the format and its version, the digest (any edit is
    refused here as "edited by hand"), the model, then the counts and send bodies against
    their hashes. The digest only shows an edit by someone who did not recompute it: apply's
    comparison with a fresh plan (`plan_differences`) is what keeps an edited plan from running.
    """
    if not text.strip():
        raise _refuse(where, "is empty (truncated?)")
    try:
        raw = strict_loads(text)
    except StrictJsonError as error:
        raise _refuse(where, error.problem) from None
    if not isinstance(raw, dict) or raw.get("format") != PLAN_FORMAT:
        raise _refuse(where, f'is not an ipass plan (no "format": "{PLAN_FORMAT}")')
    version = raw.get("format_version")
    if version != PLAN_FORMAT_VERSION or isinstance(version, bool):
        raise _refuse(where, _other_version(version))
    digest = raw.pop(DIGEST, None)
    if digest is None:
        raise _refuse(where, "has no digest (edited by hand?)")
    # The bytes hashed are the bytes validated: what was checked is what is used.
    content = canonical_json(raw)
    if digest != sha256_hex(content):
        raise _refuse(where, "was edited by hand: its content does not match its digest")
    try:
        document = PlanDocument.model_validate_json(content)
    except ValidationError as error:
        first = error.errors()[0]
        path = ".".join(str(part) for part in first["loc"])
        raise _refuse(where, f"is malformed at {path}: {first['msg']}") from None
    _check_consistent(document, where)
    return document


def plan_differences(saved: PlanDocument, fresh: PlanDocument) -> list[str]:
    """What differs between a saved plan and the plan computed now from the same binding.

    Everything but the binding (checked on its own, as staleness) is compared as canonical JSON
    (so `1` is not `true`): the options, then step by step every field, send bodies and
    requestIds included. One item per differing key naming its fields, then the keys only one
    side has; at most ten items, then how many more. Fields derived from the steps (summary,
    has_changes, warnings, outside_selection) are named only when nothing else differs. Empty:
    the saved plan is exactly what would run.
    """
    before = saved.model_dump(mode="json", by_alias=True, exclude={"binding"})
    after = fresh.model_dump(mode="json", by_alias=True, exclude={"binding"})
    if canonical_json(before) == canonical_json(after):
        return []
    found = []
    if canonical_json(before["options"]) != canonical_json(after["options"]):
        found.append("its options")
    saved_steps = {step["key"]: step for step in before["steps"]}
    fresh_steps = {step["key"]: step for step in after["steps"]}
    for key in sorted(saved_steps.keys() & fresh_steps.keys()):
        fields = _differing_fields(saved_steps[key], fresh_steps[key])
        if fields:
            found.append(f"step {key!r}: " + ", ".join(fields))
    missing = sorted(fresh_steps.keys() - saved_steps.keys())
    if missing:
        found.append("steps a plan made now has and the file does not: " + ", ".join(missing))
    extra = sorted(saved_steps.keys() - fresh_steps.keys())
    if extra:
        found.append("steps in the file that a plan made now does not have: " + ", ".join(extra))
    if not found:  # steps and options agree: what differs is derived (counts, warnings, ...)
        found = [
            f"its {name}"
            for name in sorted(before.keys() - {"steps"})
            if canonical_json(before[name]) != canonical_json(after[name])
        ]
    if len(found) > _SHOWN_DIFFERENCES:
        more = len(found) - _SHOWN_DIFFERENCES
        found = [*found[:_SHOWN_DIFFERENCES], f"{more} more difference{'s' if more > 1 else ''}"]
    return found


def plan_json_schema() -> dict[str, object]:
    schema: dict[str, object] = PlanDocument.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = f"ipass plan ({PLAN_FORMAT} version {PLAN_FORMAT_VERSION})"
    properties = schema["properties"]
    required = schema["required"]
    if isinstance(properties, dict) and isinstance(required, list):
        properties[DIGEST] = {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "title": "Digest",
            "description": "SHA-256 of the canonical JSON of the document without this field "
            "(an integrity check, not a signature)",
        }
        required.append(DIGEST)
    return schema


def _differing_fields(saved: dict[str, JsonValue], fresh: dict[str, JsonValue]) -> list[str]:
    """The fields of one step (as dumped) that differ, in the document's order."""
    fields = []
    for name, value in saved.items():
        if canonical_json(value) == canonical_json(fresh.get(name)):
            continue
        if name == "action":
            fields.append(f"action ({value} in the file, {fresh.get(name)} now)")
        else:
            fields.append(name)
    return fields


def _count(actions: Iterable[Action]) -> SummaryDocument:
    counts = {action.value: 0 for action in Action}
    for action in actions:
        counts[action.value] += 1
    return SummaryDocument.model_validate(counts)


def _check_consistent(document: PlanDocument, where: str) -> None:
    """A hand-edited plan must not reach apply: one step per key in key order, counts, and
    what is sent against its hash."""
    keys = [step.key for step in document.steps]
    for earlier, later in pairwise(keys):
        if earlier >= later:
            problem = (
                f"has step {later!r} twice" if earlier == later else "has its steps out of order"
            )
            raise _refuse(where, f"{problem} (edited by hand?)")
    if document.summary != _count(step.action for step in document.steps):
        raise _refuse(where, "has a summary that does not count its steps (edited by hand?)")
    if document.has_changes != any(step.action in CHANGES for step in document.steps):
        raise _refuse(where, "has a has_changes flag that contradicts its steps (edited by hand?)")
    for step in document.steps:
        _check_send(step, where)


def _check_send(step: StepDocument, where: str) -> None:
    if step.action is not Action.MOVE and (step.send is not None) != (step.action in _SENDING):
        must = "must carry" if step.action in _SENDING else "cannot carry"
        raise _refuse(where, f"step {step.key!r}: a {step.action.value} step {must} a send body")
    if step.send is None:
        return
    body = {name: value for name, value in step.send.items() if name != "requestId"}
    # A retry re-sends the recorded body; create and replace send the catalog's.
    field, expected = (
        ("recorded_payload_hash", step.recorded_payload_hash)
        if step.action is Action.RETRY
        else ("payload_hash", step.payload_hash)
    )
    if sha256_hex(canonical_json(body)) != expected:
        raise _refuse(
            where, f"step {step.key!r}: its send body does not match its {field} (edited by hand?)"
        )
    if step.send.get("requestId") != step.request_id:
        raise _refuse(where, f"step {step.key!r}: its request_id is not the one in send")


def _other_version(version: JsonValue) -> str:
    made_by = ""
    if isinstance(version, int) and not isinstance(version, bool):
        made_by = (
            " (made by an older ipass)"
            if version < PLAN_FORMAT_VERSION
            else " (made by a newer ipass)"
        )
    return (
        f"has format_version {version!r}{made_by}; this ipass reads version {PLAN_FORMAT_VERSION}"
    )


def _refuse(where: str, problem: str) -> ConflictError:
    return ConflictError(
        f"saved plan {where} {problem}",
        hint="run `ipass plan --out FILE` again, review it, and apply the new file",
    )
