"""Saved plans: a reviewed plan applies only to exactly what it was computed from."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reconciler.adapters.files import write_atomic
from reconciler.domain.plan import Desired, Plan, PlanOptions
from reconciler.domain.plan_document import PlanDocument, plan_json, read_plan_document
from reconciler.errors import ConflictError, InvalidInput


class SavedPlan:
    def __init__(self, document: PlanDocument, where: str) -> None:
        self.document = document
        self.where = where

    @property
    def options(self) -> PlanOptions:
        opts = self.document.options
        return PlanOptions(
            targets=tuple(opts.targets),
            excludes=tuple(opts.excludes),
            replace=tuple(opts.replace),
            retry_unknown=opts.retry_unknown,
        )


def save_plan(plan: Plan, path: Path) -> None:
    write_atomic(path, plan_json(plan).encode("utf-8"))


def read_saved_plan(path: Path) -> SavedPlan:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read plan file {path}: {error}") from None
    return SavedPlan(read_plan_document(text, where=str(path)), str(path))


def saved_environment(saved: SavedPlan, requested: str | None) -> str:
    """A saved plan applies to the environment it was made for; `--env` may only agree."""
    recorded = saved.document.binding.environment
    if requested is not None and requested != recorded:
        raise InvalidInput(
            f"saved plan {saved.where} was made for environment {recorded!r}, not {requested!r}",
            hint=f"drop --env (the plan applies to {recorded!r}), or make a plan for "
            f"{requested!r} with `ipass plan --env {requested} --out FILE`",
        )
    return recorded


def check_saved_plan(saved: SavedPlan, plan: Plan, desired: Mapping[str, Desired]) -> None:
    """Refuse a stale plan and say what moved: environment, lineage, serial, rendered entries."""
    then, now = saved.document.binding, plan.binding
    moved = []
    if then.environment != now.environment:
        moved.append(f"it is for environment {then.environment!r}, not {now.environment!r}")
    if then.endpoint != now.endpoint or then.merchant_id != now.merchant_id:
        moved.append(
            f"it publishes to {then.endpoint} for merchant {then.merchant_id}, but the "
            f"environment now says {now.endpoint} for merchant {now.merchant_id}"
        )
    if then.lineage != now.lineage:
        moved.append(
            f"state lineage was {then.lineage or 'none (no state yet)'}, "
            f"now {now.lineage or 'none'}"
        )
    if then.serial != now.serial:
        moved.append(f"state serial was {then.serial}, now {now.serial}")
    if then.catalog_hash != now.catalog_hash:
        moved.append(_rendered_differently(saved, desired))
    if moved:
        raise ConflictError(
            f"saved plan {saved.where} is stale: " + "; ".join(moved),
            hint=f"run `ipass plan --env {then.environment} --out FILE` again, "
            "review it, and apply the new file",
        )


def _rendered_differently(saved: SavedPlan, desired: Mapping[str, Desired]) -> str:
    before = {
        s.key: s.payload_hash
        for s in saved.document.steps
        if s.payload_hash and s.action not in ("retire",)
    }
    after = {key: entry.payload_hash for key, entry in desired.items()}
    changed = sorted(k for k in before.keys() & after.keys() if before[k] != after[k])
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    parts = []
    if changed:
        parts.append("rendered differently: " + ", ".join(changed))
    if added:
        parts.append("new in the catalog: " + ", ".join(added))
    if removed:
        parts.append("gone from the catalog: " + ", ".join(removed))
    return "the catalog changed (" + ("; ".join(parts) or "entries outside the plan's scope") + ")"
