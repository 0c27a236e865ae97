"""Computing the plan: a pure comparison of the desired catalog with the recorded state.

Every catalog entry and every state entry in scope gets exactly one step (the types are in
`plan.py`). The rules read the intents written in the catalog (revision, moved_from, adopt,
declared retirement) so that everything apply does is reviewable in the pull request's diff.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import JsonValue

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.payload import with_request_id
from reconciler.domain.plan import (
    Action,
    Adopt,
    Blocked,
    Create,
    Desired,
    FieldChange,
    Move,
    NoOp,
    Plan,
    PlanBinding,
    PlanOptions,
    PlanStep,
    Replace,
    Retire,
    Retirement,
    Retry,
    Unknown,
    Vanished,
)
from reconciler.domain.selectors import Candidate, select
from reconciler.domain.state import State, TemplateRecord
from reconciler.errors import InvalidInput

# No selectors, no --replace, no --retry-unknown.
_EVERYTHING = PlanOptions()


def catalog_hash(desired: Mapping[str, Desired]) -> str:
    """Identity of the whole rendered catalog: keys and payload hashes, nothing else."""
    pairs = sorted((key, entry.payload_hash) for key, entry in desired.items())
    return sha256_hex(canonical_json(pairs))


@dataclass(frozen=True)
class Destination:
    """Where the plan would publish: shown in its header and bound into a saved plan."""

    endpoint: str
    merchant_id: str
    # What a printed command needs to reach this environment: "" or " --env NAME".
    env_args: str = ""


def compute_plan(
    desired: Mapping[str, Desired],
    state: State,
    *,
    snapshot_lineage: str | None,
    destination: Destination,
    options: PlanOptions = _EVERYTHING,
    retirements: Mapping[str, Retirement] | None = None,
) -> Plan:
    """One step per key in scope, sorted by key."""
    declared = retirements or {}
    moves = _moves(desired, state)
    selection = select(_candidates(desired, state, set(moves)), options.targets, options.excludes)
    _check_replace(options, desired)
    scope = selection.keys
    rules = _Rules(state, options, destination.env_args, declared, moves)
    steps = tuple(rules.step(key, desired.get(key)) for key in sorted(scope))
    counts: dict[Action, int] = {}
    for step in steps:
        counts[step.action] = counts.get(step.action, 0) + 1
    binding = PlanBinding(
        environment=state.environment,
        endpoint=destination.endpoint,
        merchant_id=destination.merchant_id,
        lineage=snapshot_lineage,
        serial=state.serial,
        catalog_hash=catalog_hash(desired),
    )
    warnings = (*_rename_warnings(steps), *_forgotten_warnings(steps, state))
    return Plan(binding, options, steps, counts, warnings, selection.outside)


def _candidates(desired: Mapping[str, Desired], state: State, moved: set[str]) -> list[Candidate]:
    """Every key a plan can have a step for: the catalog's, and recorded ones it lacks."""
    found = [
        Candidate(
            key=wanted.key,
            source=wanted.source,
            product=_text(wanted.payload, "product"),
            type=_text(wanted.payload, "type"),
            tags=wanted.tags,
        )
        for wanted in desired.values()
    ]
    for key, entry in state.entries.items():
        record = entry.current
        if record is not None and key not in desired and key not in moved:
            found.append(
                Candidate(
                    key=key,
                    source=record.source,
                    product=_text(record.payload, "product"),
                    type=_text(record.payload, "type"),
                )
            )
    return found


def _text(payload: Mapping[str, JsonValue], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) else None


def _check_replace(options: PlanOptions, desired: Mapping[str, Desired]) -> None:
    for key in options.replace:
        if key not in desired:
            guesses = difflib.get_close_matches(key, sorted(desired), n=1)
            hint = f"did you mean {guesses[0]!r}?" if guesses else "`ipass validate` lists the keys"
            raise InvalidInput(f"--replace {key!r}: no such catalog entry", hint=hint)


def _moves(desired: Mapping[str, Desired], state: State) -> dict[str, str]:
    """old key -> new key, for every `moved_from` whose old key is still recorded."""
    moves: dict[str, str] = {}
    for wanted in desired.values():
        for old in wanted.moved_from:
            if old in desired:
                raise InvalidInput(
                    f"{wanted.source}: moved_from: {old!r} is still in the catalog",
                    hint="a rename moves a key: remove the old entry, or drop moved_from",
                )
            if old in moves:
                raise InvalidInput(
                    f"{wanted.source}: moved_from: {old!r} is claimed by {moves[old]!r} too",
                    hint="one old key moves to one new key",
                )
            if state.current(old) is not None and state.current(wanted.key) is None:
                moves[old] = wanted.key
    return moves


def _rename_warnings(steps: tuple[PlanStep, ...]) -> tuple[str, ...]:
    """A new key with exactly the content of a published key that vanished: likely a rename."""
    gone = {
        step.recorded.payload_hash: step.key
        for step in steps
        if isinstance(step, Vanished | Retire)
    }
    return tuple(
        f"{step.key!r} has exactly the content of {gone[step.desired.payload_hash]!r}, which "
        f"left the catalog: this looks like a rename; add `moved_from: "
        f"{gone[step.desired.payload_hash]}` to {step.desired.source.rsplit(':', 1)[0]} so no "
        "second template is published"
        for step in steps
        if isinstance(step, Create) and step.desired.payload_hash in gone
    )


def _forgotten_warnings(steps: tuple[PlanStep, ...], state: State) -> tuple[str, ...]:
    """A create for a key whose template was forgotten: that template is still live."""
    found = []
    for step in steps:
        entry = state.entries.get(step.key)
        if not isinstance(step, Create) or entry is None:
            continue
        codes = [r.template_code for r in entry.history if r.history_reason == "forgotten"]
        live = [code for code in codes if code]
        if live:
            found.append(
                f"{step.key!r} was forgotten while its template {live[-1]} is still live at "
                "AlipayHK: this create publishes a second one; to track the first again, "
                f"`ipass state import {step.key} --template-code {live[-1]}` instead"
            )
    return tuple(found)


@dataclass(frozen=True)
class _Rules:
    """The rules that give one key its step."""

    state: State
    options: PlanOptions
    env_args: str
    declared: Mapping[str, Retirement]
    moves: Mapping[str, str]

    def step(self, key: str, wanted: Desired | None) -> PlanStep:
        recorded = self.state.current(key)
        if recorded is None:
            if wanted is None:  # scope holds only catalog keys and recorded ones
                raise ValueError(f"{key!r} is neither in the catalog nor recorded")
            return self._new(key, wanted)
        if recorded.status in ("pending", "unknown"):
            return _unknown_step(key, wanted, recorded, self.options, self.env_args)
        if recorded.status == "retired":
            if wanted is None:
                return NoOp(key=key, reason="retired earlier", desired=None, recorded=recorded)
            reason = (
                "this key was retired; a retired key is never used for a new template: "
                "give the entry a new key (file name or `key:`)"
            )
            return Blocked(key=key, reason=reason, desired=wanted, recorded=recorded, changes=())
        if wanted is None:
            return self._gone(key, recorded)
        return self._published(key, wanted, recorded)

    def _new(self, key: str, wanted: Desired) -> PlanStep:
        old = next((o for o, n in self.moves.items() if n == key), None)
        if old is not None:
            return self._move(old, wanted)
        if wanted.adopt is not None:
            self._check_adopt_is_free(key, wanted)
            return Adopt(
                key=key,
                reason="already at AlipayHK: recorded with the catalog's content (unverified: "
                "AlipayHK offers no read API); nothing is sent",
                desired=wanted,
                template_code=wanted.adopt,
            )
        generation = _next_generation(self.state, key)
        return Create(
            key=key,
            reason="new entry",
            desired=wanted,
            send=_body(wanted, generation),
            generation=generation,
        )

    def _check_adopt_is_free(self, key: str, wanted: Desired) -> None:
        for other, entry in self.state.entries.items():
            record = entry.current
            if other != key and record is not None and record.template_code == wanted.adopt:
                raise InvalidInput(
                    f"{wanted.source}: adopt: {wanted.adopt} is already recorded for {other!r}",
                    hint="one template belongs to one key: fix the code, or move the entry "
                    f"with `moved_from: {other}`",
                )

    def _move(self, old: str, wanted: Desired) -> PlanStep:
        recorded = self.state.current(old)
        if recorded is None:  # _moves only keeps recorded old keys
            raise ValueError(f"{old!r} is not recorded")
        same = wanted.payload_hash == recorded.payload_hash
        reason = f"renamed from {old}: the state entry moves with its history; nothing is sent"
        if same or wanted.revision > recorded.revision:
            generation = _next_generation(self.state, wanted.key)
            send = None if same else _body(wanted, generation)
            if send is not None:
                reason = (
                    f"renamed from {old}, and revision {wanted.revision}: after the move a new "
                    "template is published; the old one stays live until its end date"
                )
            return Move(
                key=wanted.key,
                reason=reason,
                old_key=old,
                desired=wanted,
                recorded=recorded,
                changes=() if same else field_changes(recorded.payload, wanted.payload),
                send=send,
                generation=generation,
            )
        return Blocked(
            key=wanted.key,
            reason=f"renamed from {old} and edited: published templates cannot be changed at "
            f"AlipayHK; raise `revision:` to {recorded.revision + 1} to publish a new one",
            desired=wanted,
            recorded=recorded,
            changes=field_changes(recorded.payload, wanted.payload),
        )

    def _gone(self, key: str, recorded: TemplateRecord) -> PlanStep:
        declared = self.declared.get(key)
        if declared is not None:
            why = f" ({declared.reason})" if declared.reason else ""
            reason = (
                f"declared retired in {declared.source}{why}; the template stays live at "
                "AlipayHK until its end date"
            )
            return Retire(key=key, reason=reason, recorded=recorded)
        return Vanished(
            key=key,
            reason="published, then removed from the catalog without being declared retired: "
            f"list {key} in catalog/retired.yaml with a reason (or put back its file with "
            "`retired: true`) to retire it, or restore the entry",
            recorded=recorded,
        )

    def _published(self, key: str, wanted: Desired, recorded: TemplateRecord) -> PlanStep:
        if wanted.adopt is not None and wanted.adopt != recorded.template_code:
            reason = (
                f"adopt: {wanted.adopt} disagrees with the recorded template "
                f"{recorded.template_code}: fix the code, or remove the adopt line"
            )
            return Blocked(key=key, reason=reason, desired=wanted, recorded=recorded, changes=())
        if wanted.revision < recorded.revision:
            reason = (
                f"revision {wanted.revision} is lower than the published revision "
                f"{recorded.revision}: a revision is never lowered"
            )
            return Blocked(key=key, reason=reason, desired=wanted, recorded=recorded, changes=())
        same = wanted.payload_hash == recorded.payload_hash
        if same and wanted.revision == recorded.revision:
            return NoOp(key=key, reason="unchanged", desired=wanted, recorded=recorded)
        changes = () if same else field_changes(recorded.payload, wanted.payload)
        if wanted.revision > recorded.revision or key in self.options.replace:
            generation = recorded.generation + 1
            why = (
                f"revision {wanted.revision}"
                if wanted.revision > recorded.revision
                else "--replace"
            )
            return Replace(
                key=key,
                reason=f"{why}: publish a new template; the old one stays live until its end "
                "date and moves to history",
                desired=wanted,
                recorded=recorded,
                changes=changes,
                send=_body(wanted, generation),
                generation=generation,
            )
        reason = (
            "published templates cannot be changed at AlipayHK: raise `revision:` to "
            f"{recorded.revision + 1} in the entry's file to publish a new template"
        )
        return Blocked(key=key, reason=reason, desired=wanted, recorded=recorded, changes=changes)


def _unknown_step(
    key: str,
    wanted: Desired | None,
    recorded: TemplateRecord,
    options: PlanOptions,
    env_args: str,
) -> PlanStep:
    # The request in doubt is what matters; if the catalog moved on since, say how.
    changes: tuple[FieldChange, ...] = ()
    if wanted is not None and wanted.payload_hash != recorded.payload_hash:
        changes = field_changes(recorded.payload, wanted.payload)
    if options.retry_unknown:
        return Retry(
            key=key,
            reason="re-send the earlier request with the same requestId",
            desired=wanted,
            recorded=recorded,
            changes=changes,
            send=dict(recorded.payload),
            generation=recorded.generation,
        )
    reason = _unknown_reason(key, recorded, env_args)
    return Unknown(key=key, reason=reason, desired=wanted, recorded=recorded, changes=changes)


def _unknown_reason(key: str, record: TemplateRecord, env_args: str) -> str:
    detail = record.note or "a create was sent and its outcome was never recorded"
    return (
        f"{detail}; find out at AlipayHK, then `ipass state resolve {key}{env_args} "
        "--template-code CODE` (or `--not-created`), "
        f"or `ipass apply --retry-unknown --target {key}{env_args}` to re-send with the "
        "same requestId"
    )


def body_for(state: State, wanted: Desired) -> dict[str, JsonValue]:
    """The body apply would send for this entry now: render prints the same requestId."""
    recorded = state.current(wanted.key)
    if recorded is None:
        generation = _next_generation(state, wanted.key)
    elif recorded.payload_hash == wanted.payload_hash and recorded.revision == wanted.revision:
        generation = recorded.generation  # what was sent (a retry re-sends it)
    else:
        generation = recorded.generation + 1  # what a new revision (or --replace) sends
    return _body(wanted, generation)


def _next_generation(state: State, key: str) -> int:
    """Generations used by earlier templates of this key are never reused."""
    entry = state.entries.get(key)
    if entry is None:
        return 0
    used = [r.generation for r in entry.history if r.history_reason != "resolved-not-created"]
    return max(used) + 1 if used else 0


def _body(wanted: Desired, generation: int) -> dict[str, JsonValue]:
    return with_request_id(
        wanted.key, wanted.payload, wanted.payload_hash, generation, wanted.revision
    )


def field_changes(
    old: Mapping[str, JsonValue], new: Mapping[str, JsonValue]
) -> tuple[FieldChange, ...]:
    """Leaf-level differences of two payloads (requestId aside), as dotted field paths."""
    from deepdiff import DeepDiff  # only plans with edited entries pay for the import

    diff = DeepDiff(_without_id(old), _without_id(new), view="tree", verbose_level=2)
    changes = []
    for kind, levels in diff.items():
        for level in levels:
            path = _dotted(level.path(output_format="list"))
            added = kind.endswith("_added")
            removed = kind.endswith("_removed")
            changes.append(
                FieldChange(
                    path,
                    None if added else _plain(level.t1),
                    None if removed else _plain(level.t2),
                    added=added,
                    removed=removed,
                )
            )
    return tuple(sorted(changes, key=lambda change: change.path))


def _dotted(parts: list[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _plain(value: object) -> JsonValue:
    """deepdiff hands back the compared objects themselves: JSON data, or a marker when absent."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return None


def _without_id(payload: Mapping[str, JsonValue]) -> dict[str, JsonValue]:
    return {k: v for k, v in payload.items() if k != "requestId"}
