"""The plan as a JSON document: `ipass plan` output for machines, and the saved plan file.

This is an interface, versioned like the state file. Format `ipass-plan`, version 4:

    {
      "format": "ipass-plan",
      "format_version": 4,
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
  names, price, start, end) describe one payload, the step's *subject*: the recorded one for
  `retry`, `unknown` and `retire` (what was sent, or what stays live), else the catalog's.
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
(3 added move, adopt, warnings and outside_selection; 4 added `digest`).

A saved plan is read by the strict JSON reader (`jsonsafe`): a key twice, `NaN`, a fraction, a
number of more than 20 digits or nesting deeper than 64 levels is refused before anything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Annotated, Final, Literal, assert_never

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, ValidationError

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.contract.dates import END_MS, MIN_MS, format_hk
from reconciler.domain.jsonsafe import StrictJsonError, strict_loads
from reconciler.domain.plan import (
    CHANGES,
    Action,
    Adopt,
    Blocked,
    Create,
    Desired,
    FieldChange,
    Move,
    NoOp,
    Plan,
    PlanStep,
    Replace,
    Retire,
    Retry,
    Unknown,
    Vanished,
    step_source,
)
from reconciler.domain.schemas import SCHEMA_DIALECT
from reconciler.domain.state import TemplateRecord
from reconciler.errors import ConflictError

PLAN_FORMAT: Final = "ipass-plan"
PLAN_FORMAT_VERSION: Final = 4
# Steps that carry the body apply would send.
_SENDING: Final = frozenset({Action.CREATE, Action.REPLACE, Action.RETRY})
DIGEST: Final = "digest"
# Differences named in full when a saved plan does not match a fresh one; the rest are counted.
_SHOWN_DIFFERENCES: Final = 10

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[int, Field(ge=0)]


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class BindingDocument(_Document):
    """What the plan was computed from."""

    environment: str
    endpoint: str = Field(description="where apply sends: a host, or the embedded sandbox")
    merchant_id: str = Field(description="the merchant the templates are published for")
    lineage: str | None = Field(description="the state's lineage; null before the first write")
    serial: Count = Field(description="the state's serial when the plan was made")
    catalog_hash: Sha256 = Field(description="keys and payload hashes of the rendered catalog")


class OptionsDocument(_Document):
    targets: tuple[str, ...] = Field(
        description="--select (or --target) selectors; empty means every entry"
    )
    excludes: tuple[str, ...] = Field(description="--exclude selectors")
    replace: tuple[str, ...] = Field(description="--replace keys")
    retry_unknown: bool = Field(description="--retry-unknown")


class SummaryDocument(_Document):
    """Steps per action; all nine keys are always present."""

    create: Count
    no_op: Count = Field(alias="no-op")
    blocked: Count
    replace: Count
    retire: Count
    unknown: Count
    retry: Count
    move: Count
    adopt: Count


class NamesDocument(_Document):
    zh_HK: str | None = Field(description="localeInfo.zh_HK.name")
    en_US: str | None = Field(description="localeInfo.en_US.name")


class PriceDocument(_Document):
    current_cent: int | None = Field(description="currentAmountCent")
    original_cent: int | None = Field(description="originalAmountCent")
    currency: str | None = Field(description="currencyCode (ISO 4217)")


class MomentDocument(_Document):
    ms: int = Field(description="epoch milliseconds, as sent")
    hong_kong: str = Field(description="the same moment in Hong Kong time, for people")


class ChangeDocument(_Document):
    path: str = Field(description="dotted path, e.g. localeInfo.en_US.name")
    old: JsonValue = Field(description="published value; null when added")
    new: JsonValue = Field(description="catalog value; null when removed")
    added: bool
    removed: bool


class StepDocument(_Document):
    key: str
    action: Action
    reason: str
    source: str | None = Field(description="catalog file of the entry, if known")
    type: str | None = Field(description="COUPON or TICKET")
    product: str | None = Field(description="GIFT_CARD, PASS, MOVIE, AIR_TICKET, ...")
    names: NamesDocument
    price: PriceDocument | None = Field(description="null when no amount is set")
    start: MomentDocument | None = Field(description="startDate")
    end: MomentDocument | None = Field(description="endDate")
    template_code: str | None = Field(description="the recorded template's code, if any")
    recorded_request_id: str | None = Field(description="requestId of the recorded template")
    request_id: str | None = Field(description="requestId of `send`, if anything is sent")
    payload_hash: Sha256 | None = Field(description="the catalog entry's payload hash")
    recorded_payload_hash: Sha256 | None = Field(description="the recorded payload's hash")
    generation: Count = Field(description="templates published for this key before this one")
    changes: tuple[ChangeDocument, ...] = Field(description="published -> catalog, per field")
    send: dict[str, JsonValue] | None = Field(description="the exact createTemplate body")
    old_key: str | None = Field(default=None, description="move: the key it was renamed from")


class PlanDocument(_Document):
    format: Literal["ipass-plan"]
    format_version: Literal[4]
    binding: BindingDocument
    options: OptionsDocument
    summary: SummaryDocument
    has_changes: bool = Field(description="apply would call AlipayHK or change the state")
    warnings: tuple[str, ...] = Field(default=(), description="things a reviewer should know")
    outside_selection: Count = Field(
        default=0, description="entries the selectors left out of this plan"
    )
    steps: tuple[StepDocument, ...]


_NO_NAMES: Final = NamesDocument(zh_HK=None, en_US=None)


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
        steps=tuple(_step(step, slim=slim) for step in plan.steps),
    )


def plan_json(plan: Plan) -> str:
    return document_json(plan_document(plan))


def document_json(document: PlanDocument) -> str:
    """Deterministic: sorted keys, two-space indent, trailing newline; with its `digest`.

    `##[` can only occur inside strings; it is written as `#\\u0023[` (the same data) so that
    printing the plan in a GitHub Actions log cannot run a legacy workflow command.
    """
    data: dict[str, JsonValue] = document.model_dump(mode="json", by_alias=True)
    data[DIGEST] = sha256_hex(canonical_json(data))
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
    return text.replace("##[", "#\\u0023[")


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
        raise _refuse(
            where, f"has format_version {version!r}; this ipass reads version {PLAN_FORMAT_VERSION}"
        )
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


@dataclass(frozen=True)
class _Parts:
    """What a step is about, whatever its kind."""

    subject: dict[str, JsonValue]
    desired: Desired | None
    recorded: TemplateRecord | None
    changes: tuple[FieldChange, ...]
    send: dict[str, JsonValue] | None
    generation: int


def _parts(step: PlanStep) -> _Parts:  # noqa: PLR0911 - one arm per step kind
    """The subject is the recorded payload for retry, unknown and retire (what was sent, or
    what stays live), else the catalog's."""
    match step:
        case Create():
            return _Parts(step.desired.payload, step.desired, None, (), step.send, step.generation)
        case NoOp():
            subject = step.desired.payload if step.desired is not None else step.recorded.payload
            return _Parts(subject, step.desired, step.recorded, (), None, step.recorded.generation)
        case Blocked():
            return _Parts(
                step.desired.payload,
                step.desired,
                step.recorded,
                step.changes,
                None,
                step.recorded.generation,
            )
        case Replace():
            return _Parts(
                step.desired.payload,
                step.desired,
                step.recorded,
                step.changes,
                step.send,
                step.generation,
            )
        case Retire():
            return _Parts(step.recorded.payload, None, step.recorded, (), None, 0)
        case Unknown():
            return _Parts(
                step.recorded.payload,
                step.desired,
                step.recorded,
                step.changes,
                None,
                step.recorded.generation,
            )
        case Retry():
            return _Parts(
                step.recorded.payload,
                step.desired,
                step.recorded,
                step.changes,
                step.send,
                step.generation,
            )
        case Move():
            return _Parts(
                step.desired.payload,
                step.desired,
                step.recorded,
                step.changes,
                step.send,
                step.generation,
            )
        case Adopt():
            return _Parts(step.desired.payload, step.desired, None, (), None, 0)
        case Vanished():
            return _Parts(step.recorded.payload, None, step.recorded, (), None, 0)
        case _:
            assert_never(step)


def _step(step: PlanStep, *, slim: bool) -> StepDocument:
    if slim and isinstance(step, NoOp):
        return _bare_step(step)
    parts = _parts(step)
    payload, recorded, desired = parts.subject, parts.recorded, parts.desired
    request_id = parts.send.get("requestId") if parts.send is not None else None
    return StepDocument(
        key=step.key,
        action=step.action,
        reason=step.reason,
        source=step_source(step),
        type=_text(payload, "type"),
        product=_text(payload, "product"),
        names=NamesDocument(zh_HK=_name(payload, "zh_HK"), en_US=_name(payload, "en_US")),
        price=_price(payload),
        start=_moment(payload.get("startDate")),
        end=_moment(payload.get("endDate")),
        template_code=_template_code(step, recorded),
        recorded_request_id=recorded.request_id if recorded is not None else None,
        request_id=request_id if isinstance(request_id, str) else None,
        payload_hash=desired.payload_hash if desired is not None else None,
        recorded_payload_hash=recorded.payload_hash if recorded is not None else None,
        generation=parts.generation,
        changes=tuple(_change(change) for change in parts.changes),
        send=parts.send,
        old_key=step.old_key if isinstance(step, Move) else None,
    )


def _template_code(step: PlanStep, recorded: TemplateRecord | None) -> str | None:
    if isinstance(step, Adopt):
        return step.template_code
    return recorded.template_code if recorded is not None else None


def _bare_step(step: NoOp) -> StepDocument:
    """An unchanged step with only its key and action (how people see unchanged entries).

    Built without re-validation: every field is a constant or already a checked string, and a
    plan of 10,000 unchanged entries would otherwise spend most of its rendering here.
    """
    return StepDocument.model_construct(
        key=step.key,
        action=step.action,
        reason=step.reason,
        source=None,
        type=None,
        product=None,
        names=_NO_NAMES,
        price=None,
        start=None,
        end=None,
        template_code=None,
        recorded_request_id=None,
        request_id=None,
        payload_hash=None,
        recorded_payload_hash=None,
        generation=0,
        changes=(),
        send=None,
    )


def _change(change: FieldChange) -> ChangeDocument:
    return ChangeDocument(
        path=change.path,
        old=change.old,
        new=change.new,
        added=change.added,
        removed=change.removed,
    )


def _text(payload: dict[str, JsonValue], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) else None


def _cents(payload: dict[str, JsonValue], name: str) -> int | None:
    value = payload.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _name(payload: dict[str, JsonValue], locale: str) -> str | None:
    locales = payload.get("localeInfo")
    texts = locales.get(locale) if isinstance(locales, dict) else None
    return _text(texts, "name") if isinstance(texts, dict) else None


def _price(payload: dict[str, JsonValue]) -> PriceDocument | None:
    current = _cents(payload, "currentAmountCent")
    original = _cents(payload, "originalAmountCent")
    if current is None and original is None:
        return None
    return PriceDocument(
        current_cent=current, original_cent=original, currency=_text(payload, "currencyCode")
    )


def _moment(value: JsonValue) -> MomentDocument | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    shown = format_hk(value) if MIN_MS <= value < END_MS else f"{value} ms (out of range)"
    return MomentDocument(ms=value, hong_kong=shown)


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


def _refuse(where: str, problem: str) -> ConflictError:
    return ConflictError(
        f"saved plan {where} {problem}",
        hint="run `ipass plan --out FILE` again, review it, and apply the new file",
    )
