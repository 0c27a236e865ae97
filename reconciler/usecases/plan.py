"""`ipass plan`: compare the catalog with the recorded state, offline and without credentials."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.adapters.statefile import StateStore
from reconciler.domain.config import EnvironmentConfig, Project
from reconciler.domain.payload import with_request_id
from reconciler.domain.plan import Desired, Plan, PlanOptions, compute_plan, generation_for
from reconciler.domain.problems import ProblemsFound
from reconciler.domain.state import State
from reconciler.errors import InvalidInput
from reconciler.usecases.catalog import CatalogResult, load_catalog
from reconciler.usecases.connect import Paths, state_paths


@dataclass(frozen=True)
class PlanInputs:
    """Everything a plan is computed from, loaded once."""

    project: Project
    environment: str
    env: EnvironmentConfig
    paths: Paths
    store: StateStore
    snapshot: State | None
    state: State
    catalog: CatalogResult
    desired: dict[str, Desired]


def load_inputs(project_dir: Path, environment: str | None) -> PlanInputs:
    """Read the state (snapshot + journal) and the catalog; raise on any catalog problem."""
    from reconciler.domain.config import load_project

    project = load_project(project_dir)
    env_name, env = project.environment(environment)
    paths = state_paths(project, env_name, env)
    store = StateStore(paths.state_file, env_name)
    snapshot, state = store.load_with_snapshot()
    published = frozenset(k for k, e in state.entries.items() if e.current is not None)
    catalog = load_catalog(project_dir, env_name, published=published)
    if catalog.problems:
        raise ProblemsFound(catalog.problems)
    desired = {
        entry.key: Desired(
            key=entry.key,
            source=f"{entry.file}:{entry.line}",
            payload=entry.payload,
            payload_hash=entry.payload_hash,
        )
        for entry in catalog.entries
    }
    return PlanInputs(project, env_name, env, paths, store, snapshot, state, catalog, desired)


def plan_from(inputs: PlanInputs, options: PlanOptions) -> Plan:
    lineage = inputs.snapshot.lineage if inputs.snapshot is not None else None
    return compute_plan(inputs.desired, inputs.state, snapshot_lineage=lineage, options=options)


def make_plan(project_dir: Path, environment: str | None, options: PlanOptions) -> Plan:
    return plan_from(load_inputs(project_dir, environment), options)


def render_bodies(
    project_dir: Path, environment: str | None, keys: Sequence[str]
) -> dict[str, object]:
    """The exact createTemplate bodies apply would send, keyed by catalog key.

    The requestId depends on the key's history (a replaced or forgotten key publishes a new
    generation), so the state is read to print what apply really sends.
    """
    inputs = load_inputs(project_dir, environment)
    unknown = [key for key in keys if key not in inputs.desired]
    if unknown:
        guesses = difflib.get_close_matches(unknown[0], list(inputs.desired), n=1)
        hint = f"did you mean {guesses[0]!r}?" if guesses else "`ipass validate` lists the keys"
        raise InvalidInput(f"no catalog entry with key {unknown[0]!r}", hint=hint)
    chosen = list(keys) if keys else sorted(inputs.desired)
    return {
        key: with_request_id(
            key,
            inputs.desired[key].payload,
            inputs.desired[key].payload_hash,
            generation_for(inputs.state, key, inputs.desired[key].payload_hash),
        )
        for key in chosen
    }
