"""`ipass apply`: publish what the plan creates, crash-safe, one writer at a time.

For each create: journal `pending` (fsynced) -> signed createTemplate -> journal the outcome.
`Created` records the templateCode; `Rejected` puts the key back as it was and stops; `Unknown`
is recorded as such and stops. The snapshot is rewritten atomically when the run ends; a run
killed at any point is recovered from snapshot + journal by the next one.

Apply receives its parts (`ApplyPorts`: state store, lock, client, clock, catalog, operator), so
it runs the same against the real adapters and against in-memory fakes in unit tests.
"""

from __future__ import annotations

from reconciler.domain.canonical import canonical_json
from reconciler.domain.plan import Action, Create, Plan, Replace, Retry
from reconciler.domain.planner import compute_plan
from reconciler.errors import InvalidInput, OutcomeUnknown
from reconciler.usecases.apply_engine import Engine
from reconciler.usecases.apply_ports import (
    DEFAULT_PARALLELISM,
    ApplyPorts,
    ApplyProgress,
    ApplyReport,
    ApplyRequest,
    Confirm,
    Publisher,
    ShouldStop,
    StateStorePort,
    TemplateSender,
)
from reconciler.usecases.saved_plan import check_saved_plan

__all__ = [
    "DEFAULT_PARALLELISM",
    "ApplyPorts",
    "ApplyProgress",
    "ApplyReport",
    "ApplyRequest",
    "Confirm",
    "Publisher",
    "ShouldStop",
    "StateStorePort",
    "TemplateSender",
    "apply",
    "refuse_blocked",
]


def apply(
    request: ApplyRequest,
    ports: ApplyPorts,
    *,
    confirm: Confirm,
    progress: ApplyProgress,
    should_stop: ShouldStop,
) -> ApplyReport:
    """Lock, plan, check, confirm, execute; raises the error that decides the exit code."""
    if request.parallelism < 1:
        raise InvalidInput(f"--parallelism must be at least 1, not {request.parallelism}")
    options = request.saved.options if request.saved is not None else request.options
    ports.ensure_writable()  # before any API call: every create must be recorded
    with ports.lock():
        snapshot, state = ports.store.load_with_snapshot()  # read under the lock
        desired, retirements = ports.load_desired(state)
        lineage = snapshot.lineage if snapshot is not None else None
        plan = compute_plan(
            desired,
            state,
            snapshot_lineage=lineage,
            destination=ports.destination,
            options=options,
            retirements=retirements,
        )
        if request.saved is not None:
            check_saved_plan(request.saved, plan, desired)
        refuse_blocked(plan, ports.destination.env_args)
        report = ApplyReport(plan, state_file=ports.store.path)
        if not plan.has_changes:
            # A run killed while writing the snapshot left its outcomes only in the journal.
            ports.store.recover(state, loaded=snapshot)
            return report
        _ensure_space(plan, ports)
        if not confirm(plan):
            raise InvalidInput("apply cancelled; nothing was changed")
        engine = Engine(
            ports=ports,
            snapshot=snapshot,
            state=state,
            progress=progress,
            should_stop=should_stop,
            report=report,
            request=request,
        )
        with ports.connect(request.parallelism) as client:
            engine.run(plan, client)
        return report


def _ensure_space(plan: Plan, ports: ApplyPorts) -> None:
    """Refuse a run the disk cannot record, before anything is journaled or sent."""
    sends = [step.send for step in plan.steps if isinstance(step, Create | Replace | Retry)]
    ports.ensure_space(len(sends), sum(len(canonical_json(body)) for body in sends))


def refuse_blocked(plan: Plan, env_args: str = "") -> None:
    """Apply runs all of a plan or none of it: blocked and unknown entries stop it first."""
    blocked = plan.of(Action.BLOCKED)
    if blocked:
        keys = ", ".join(step.key for step in blocked)
        raise InvalidInput(
            f"the plan has {len(blocked)} blocked entr{'y' if len(blocked) == 1 else 'ies'} "
            f"({keys}): nothing was applied",
            hint=f"`ipass plan{env_args}` says why for each and how to unblock it (a key removed "
            "from the catalog is retired in catalog/retired.yaml); an edit of a published entry "
            "is published by raising `revision:` in its file (reviewed in the pull request); "
            "in an emergency "
            f'`ipass apply --replace KEY --reason "..."{env_args}`; or leave them out with '
            "--exclude",
        )
    unknown = plan.of(Action.UNKNOWN)
    if unknown:
        keys = ", ".join(step.key for step in unknown)
        raise OutcomeUnknown(
            f"earlier creates have an unknown outcome ({keys}); nothing was applied",
            hint=f"check at AlipayHK, then `ipass state resolve KEY{env_args} --template-code "
            "CODE` or `--not-created`; or `ipass apply --retry-unknown"
            f"{env_args}` (same requestId: safe where AlipayHK deduplicates requestId, as the "
            "sandbox does); or --exclude them",
        )
