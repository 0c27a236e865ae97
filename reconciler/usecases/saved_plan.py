"""Saved plans: a reviewed plan applies only to exactly what it was computed from, and runs
exactly the steps written in it.

`ipass plan --out FILE` writes the plan document with its digest (`plan_document`). `ipass apply
FILE` reads it bounded (a regular file of at most 64 MiB, never through a link: nothing else is
opened), checks it strictly, and under the lock compares it with the plan computed again from
the same state, catalog and options: a moved binding is stale, and any other difference (an
edited option, a step added, removed or changed) is refused, naming the keys and the fields.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from reconciler.adapters.files import write_atomic
from reconciler.domain.plan import Desired, Plan, PlanOptions
from reconciler.domain.plan_document import (
    PlanDocument,
    plan_differences,
    plan_document,
    plan_json,
    read_plan_document,
)
from reconciler.errors import ConflictError, InvalidInput, StorageError

# A plan of 10,000 entries, every step in full, is about 25 MB.
MAX_PLAN_BYTES: Final = 64 * 1024 * 1024
# Enough of an existing file to find the format of a plan ipass wrote (keys are sorted, and
# only `binding` and `digest` come before `format`).
_HEAD_BYTES: Final = 4096
_PLAN_FORMAT_MARK: Final = re.compile(rb'"format"\s*:\s*"ipass-plan"')
_READ_ONLY: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_REPLAN: Final = "run `ipass plan --out FILE` again, review it, and apply the new file"


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
    """Write the plan to `path` (`--out`), replacing only an empty file or an earlier plan.

    `write_atomic` refuses a link, a folder, a device or a pipe at `path`; this also keeps a
    slip of the keyboard from replacing a regular file ipass did not write there (the state,
    ipass.toml, a catalog file).
    """
    _refuse_unless_plan_or_empty(path)
    write_atomic(path, plan_json(plan).encode("utf-8"))


def read_saved_plan(path: Path) -> SavedPlan:
    """Read and check the plan file; see `read_plan_document` for the checks of its content."""
    data = _read_bounded(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refused(path, f"is not UTF-8 text (byte {error.start})", _REPLAN) from None
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
    """Refuse a saved plan unless `plan` (computed now, under the lock, with the saved options)
    is the same plan: a moved binding is stale and says what moved; any other difference says
    which keys and fields differ."""
    _check_binding(saved, plan, desired)
    differences = plan_differences(saved.document, plan_document(plan))
    if differences:
        raise ConflictError(
            f"saved plan {saved.where} is not what apply would run now: " + "; ".join(differences),
            hint="the file was edited, or made by another version of ipass: run `ipass plan "
            f"--env {plan.binding.environment} --out FILE` again, review it, and apply the "
            "new file",
        )


def _check_binding(saved: SavedPlan, plan: Plan, desired: Mapping[str, Desired]) -> None:
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


def _read_bounded(path: Path) -> bytes:
    """The file's bytes, if it is a regular file (not a link) of at most `MAX_PLAN_BYTES`.

    Its size and kind are looked at (`lstat`) before it is opened; it is opened without
    following a link and without waiting on a pipe, and must still be the file looked at.
    """
    try:
        info = path.lstat()
    except OSError as error:
        raise InvalidInput(f"cannot read plan file {path}: {error}") from None
    _check_kind(path, info)
    if info.st_size > MAX_PLAN_BYTES:
        raise _refused(
            path,
            f"is {info.st_size:,} bytes, more than a saved plan may be ({MAX_PLAN_BYTES:,}); "
            "it was not read",
            _REPLAN,
        )
    try:
        fd = os.open(path, _READ_ONLY)
    except OSError as error:
        raise InvalidInput(f"cannot read plan file {path}: {error}") from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise _refused(path, "was replaced while ipass opened it", _REPLAN)
        data = handle.read(MAX_PLAN_BYTES + 1)
    if len(data) > MAX_PLAN_BYTES:
        raise _refused(path, "grew while ipass read it; it was not read", _REPLAN)
    return data


def _check_kind(path: Path, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise _refused(
            path,
            "is a symbolic link; ipass reads a saved plan only from the file itself",
            "give the path of the plan file, not of a link to it",
        )
    if not stat.S_ISREG(info.st_mode):
        raise _refused(
            path,
            "is not a regular file (a folder, a device or a pipe); it was not read",
            "give the path of a file written by `ipass plan --out FILE`",
        )


def _refuse_unless_plan_or_empty(path: Path) -> None:
    """`path` is absent, not a regular file (left to `write_atomic`), empty, or a saved plan."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    except OSError as error:
        raise StorageError.refused(path, "write", error) from None
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        return
    try:
        fd = os.open(path, _READ_ONLY)
    except OSError as error:
        raise StorageError.refused(path, "read", error) from None
    with os.fdopen(fd, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
    if _PLAN_FORMAT_MARK.search(head) is None:
        raise StorageError(
            f"{path}: exists and is not a saved plan; ipass will not replace it",
            hint="choose another path for --out, or move the file away first",
        )


def _refused(path: Path, problem: str, hint: str) -> ConflictError:
    return ConflictError(f"saved plan {path} {problem}", hint=hint)
