"""`ipass plan`: compare the catalog with the recorded state, offline and without credentials."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.adapters.statefile import StateStore
from reconciler.adapters.statemark import mark_path_for
from reconciler.domain.config import Target
from reconciler.domain.plan import Desired, Plan, PlanOptions
from reconciler.domain.planner import Destination, body_for, compute_plan
from reconciler.domain.problems import ProblemsFound
from reconciler.domain.selectors import Candidate, select
from reconciler.domain.state import State
from reconciler.errors import InvalidInput
from reconciler.usecases.catalog import CatalogResult, load_catalog


@dataclass(frozen=True)
class PlanInputs:
    """Everything a plan is computed from, loaded once."""

    target: Target
    store: StateStore
    snapshot: State | None
    state: State
    catalog: CatalogResult
    desired: dict[str, Desired]


def destination_of(target: Target) -> Destination:
    return Destination(
        endpoint=target.endpoint_host, merchant_id=target.merchant_id, env_args=target.env_args
    )


def candidate_of(wanted: Desired) -> Candidate:
    """What selectors see of a catalog entry."""
    product, kind = wanted.payload.get("product"), wanted.payload.get("type")
    return Candidate(
        key=wanted.key,
        source=wanted.source,
        product=product if isinstance(product, str) else None,
        type=kind if isinstance(kind, str) else None,
        tags=wanted.tags,
    )


def state_store(target: Target) -> StateStore:
    mark = mark_path_for(target.work_dir, target.state_file)
    return StateStore(target.state_file, target.name, verified_mark=mark)


def load_desired(
    target: Target, state: State, *, workers: int | None = None, refuse_invalid: bool = True
) -> tuple[CatalogResult, dict[str, Desired]]:
    """The rendered catalog with its intents; raises with every problem when any entry is
    invalid (unless not `refuse_invalid`: then only the valid entries are desired). `workers`
    as in `load_catalog`."""
    published = frozenset(k for k, e in state.entries.items() if e.current is not None)
    catalog = load_catalog(target, published=published, workers=workers)
    if catalog.problems and refuse_invalid:
        raise ProblemsFound(catalog.problems)
    desired = {
        entry.key: Desired(
            key=entry.key,
            source=f"{entry.file}:{entry.line}",
            payload=entry.payload,
            payload_hash=entry.payload_hash,
            revision=entry.intents.revision,
            moved_from=entry.intents.moved_from,
            adopt=entry.intents.adopt,
            tags=entry.intents.tags,
        )
        for entry in catalog.entries
    }
    return catalog, desired


def load_inputs(
    target: Target, *, workers: int | None = None, refuse_invalid: bool = True
) -> PlanInputs:
    """Read the state (snapshot + journal) and the catalog; raise on any catalog problem (as
    `load_desired`)."""
    store = state_store(target)
    snapshot, state = store.load_with_snapshot()
    catalog, desired = load_desired(target, state, workers=workers, refuse_invalid=refuse_invalid)
    return PlanInputs(target, store, snapshot, state, catalog, desired)


def plan_from(inputs: PlanInputs, options: PlanOptions) -> Plan:
    lineage = inputs.snapshot.lineage if inputs.snapshot is not None else None
    return compute_plan(
        inputs.desired,
        inputs.state,
        snapshot_lineage=lineage,
        destination=destination_of(inputs.target),
        options=options,
        retirements=inputs.catalog.retirements,
    )


def make_plan(target: Target, options: PlanOptions, *, workers: int | None = None) -> Plan:
    return plan_from(load_inputs(target, workers=workers), options)


def render_bodies(
    target: Target,
    keys: Sequence[str],
    selects: Sequence[str] = (),
    excludes: Sequence[str] = (),
    *,
    workers: int | None = None,
) -> dict[str, object]:
    """The exact createTemplate bodies apply would send, keyed by catalog key: the KEYs given
    and the entries the selectors choose (every entry when neither is given).

    The requestId depends on the key's history (a replaced or forgotten key publishes a new
    generation), so the state is read to print what apply really sends.
    """
    inputs = load_inputs(target, workers=workers)
    unknown = [key for key in keys if key not in inputs.desired]
    if unknown:
        guesses = difflib.get_close_matches(unknown[0], list(inputs.desired), n=1)
        hint = f"did you mean {guesses[0]!r}?" if guesses else "`ipass validate` lists the keys"
        raise InvalidInput(f"no catalog entry with key {unknown[0]!r}", hint=hint)
    chosen = set(keys)
    if selects or excludes or not keys:
        candidates = [candidate_of(wanted) for wanted in inputs.desired.values()]
        picked = select(candidates, selects, excludes).keys
        chosen |= picked if (selects or not keys) else set()
        chosen -= set(inputs.desired) - picked if excludes else set()
    return {key: body_for(inputs.state, inputs.desired[key]) for key in sorted(chosen)}
