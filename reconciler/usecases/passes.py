"""Passes in bulk: load a campaign, check every input row against the ledger, status, reports.

Issuing itself is `passes_issue.py`; both start from `open_campaign` and `scan_rows`.
"""

from __future__ import annotations

import csv
import heapq
import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from reconciler.adapters.ledger import Ledger, LedgerRow, ReportWriter, SerialSet, ledger_files
from reconciler.adapters.rowfile import RowFile
from reconciler.domain import catalog_files
from reconciler.domain.campaign import (
    CAMPAIGN_NAME,
    Campaign,
    Masker,
    PassRenderer,
    RenderedPass,
    RowProblem,
    TemplateRef,
    campaign_problems,
    mask_id,
    row_secrets,
    shard_of,
)
from reconciler.domain.catalog import yaml_problem
from reconciler.domain.config import Target
from reconciler.domain.problems import ProblemsFound
from reconciler.domain.templating import PlainData, Renderer
from reconciler.domain.yamlsafe import YamlError
from reconciler.errors import InvalidInput
from reconciler.usecases.plan import state_store

SHOWN_PROBLEMS: Final = 50
DONE: Final = frozenset({"created", "exists"})


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        left, _, right = text.partition("/")
        if not (left.isdigit() and right.isdigit()) or not 0 <= int(left) < int(right) <= 1000:
            raise InvalidInput(
                f"--shard {text!r}: must be I/N with 0 <= I < N <= 1000, e.g. 0/3, 1/3, 2/3"
            )
        return cls(int(left), int(right))

    def holds(self, biz_serial_id: str) -> bool:
        return self.count == 1 or shard_of(biz_serial_id, self.count) == self.index

    @property
    def suffix(self) -> str:
        return "" if self.count == 1 else f".shard-{self.index}-of-{self.count}"


WHOLE: Final = Shard(0, 1)


@dataclass(frozen=True)
class CampaignContext:
    """A campaign resolved for one environment: what rows are rendered with."""

    target: Target
    name: str
    source: str
    campaign: Campaign
    template: TemplateRef
    macros: dict[str, str]
    variables: dict[str, PlainData]

    def folder(self) -> Path:
        return self.target.work_dir / "passes" / self.target.name

    def ledger_path(self, shard: Shard) -> Path:
        return self.folder() / f"{self.name}{shard.suffix}.sqlite3"

    def renderer(self, anchor_ms: int) -> PassRenderer:
        return PassRenderer(
            self.campaign,
            self.template,
            merchant_id=self.target.merchant_id,
            renderer=Renderer(self.macros),
            variables=self.variables,
            anchor_ms=anchor_ms,
        )


def campaigns_folder(target: Target) -> Path:
    return target.catalog_dir / "passes"


def open_campaign(target: Target, name: str) -> CampaignContext:
    """The campaign file checked, and its template found created in this environment's state."""
    if not CAMPAIGN_NAME.match(name):
        raise InvalidInput(f"{name!r} is not a campaign name: catalog/passes/NAME.yaml")
    root, catalog_dir = target.root, target.catalog_dir
    path = campaigns_folder(target) / f"{name}.yaml"
    shown = catalog_files.display(path, root)
    try:
        document = catalog_files.load_mapping(path, root)
        if document is None:
            raise InvalidInput(f"no campaign {shown}", hint="write catalog/passes/NAME.yaml")
        macros = catalog_files.load_macros(catalog_dir, root)
        reserved = Renderer(macros).reserved_meaning
        variables = catalog_files.load_variables(catalog_dir, root, target.name, reserved)
    except YamlError as error:
        raise ProblemsFound([yaml_problem(error)]) from None
    campaign, problems = campaign_problems(document)
    if campaign is None:
        raise ProblemsFound(problems)
    template = _template_of(target, campaign.template, shown)
    return CampaignContext(target, name, shown, campaign, template, macros, variables)


def _template_of(target: Target, key: str, source: str) -> TemplateRef:
    state = state_store(target).load()
    entry = state.entries.get(key)
    current = entry.current if entry is not None else None
    if current is None or current.status != "created" or current.template_code is None:
        status = "not in the state" if current is None else current.status
        if entry is not None and current is None and entry.history:
            status = "retired"
        raise InvalidInput(
            f"{source}: template: {key!r} is {status} in {target.name}; passes are issued only "
            "from a created template",
            hint=f"publish it with `ipass apply{target.env_args}`, or name another catalog key",
        )
    kind, product = current.payload.get("type"), current.payload.get("product")
    if not isinstance(kind, str) or not isinstance(product, str):
        raise InvalidInput(f"{key}: the state records no type and product for this template")
    return TemplateRef(key, current.template_code, kind, product)


# -- checking every row ----------------------------------------------------------------------


@dataclass
class Scan:
    """What the input holds, for this shard, against the ledger."""

    rows: int = 0
    in_shard: int = 0
    new: int = 0
    issued: int = 0
    rejected_before: int = 0
    unknown: int = 0
    problems: int = 0
    shown: list[str] = field(default_factory=list)
    report: Path | None = None
    digest: str = ""

    @property
    def to_send(self) -> int:
        return self.new + self.unknown


@dataclass(frozen=True)
class Checked:
    """A valid row, whether this shard holds it, and what the ledger knows of it."""

    rendered: RenderedPass
    mine: bool
    recorded: LedgerRow | None = None
    verdict: str = "new"


Problems = list[tuple[RowProblem, tuple[str, ...]]]


def classify(rendered: RenderedPass, recorded: LedgerRow | None) -> RowProblem | str:
    """new / issued / rejected / unknown, or the conflict of a changed row already sent."""
    if recorded is None or recorded.status == "not_sent":
        return "new"
    same = recorded.body_sha256 == rendered.body_sha256
    if recorded.status == "rejected":
        return "rejected" if same else "new"  # nothing was created: a fixed row may go again
    if not same:
        return RowProblem(
            rendered.row,
            "bizSerialId",
            f"already sent from row {recorded.row_number} with other content "
            f"({recorded.status}); a bizSerialId names one pass forever: give a new one",
            "CONFLICT",
        )
    return "issued" if recorded.status in DONE else "unknown"


def iter_checked(
    context: CampaignContext,
    rows: RowFile,
    *,
    shard: Shard,
    ledger: Ledger | None,
    anchor_ms: int,
    problems: Problems,
) -> Iterator[Checked]:
    """Every valid row; its problems (with the user ids to mask) are appended to `problems`.

    Every shard checks every row (a bad row stops all shards alike, and duplicates are found
    across the whole file); only rows of `shard` are compared with its ledger.
    """
    renderer = context.renderer(anchor_ms)
    with SerialSet(context.folder()) as seen:
        for row in rows.rows():
            if row.problem is not None:
                secrets = row_secrets(row.values, None)
                problems.append((RowProblem(row.number, "", row.problem), secrets))
                continue
            rendered = renderer.render(row.number, row.values)
            if isinstance(rendered, list):
                secrets = row_secrets(row.values, None)
                problems.extend((p, secrets) for p in rendered)
                continue
            first = seen.first_row(rendered.biz_serial_id, row.number)
            if first is not None:
                message = f"duplicate: row {first} has the same bizSerialId"
                problem = RowProblem(row.number, "bizSerialId", message, "PASS_HAS_EXIST")
                problems.append((problem, row_secrets(row.values, rendered)))
                continue
            if not shard.holds(rendered.biz_serial_id):
                yield Checked(rendered, mine=False)
                continue
            recorded = ledger.lookup(rendered.biz_serial_id) if ledger is not None else None
            verdict = classify(rendered, recorded)
            if isinstance(verdict, RowProblem):
                problems.append((verdict, row_secrets(row.values, rendered)))
                continue
            yield Checked(rendered, mine=True, recorded=recorded, verdict=verdict)


def scan_rows(
    context: CampaignContext,
    input_path: Path,
    *,
    shard: Shard,
    anchor_ms: int | None = None,
    masker: Masker | None = None,
) -> Scan:
    """Check every row; count them against the ledger; write every problem to a report file."""
    masker = masker or Masker()
    path = context.ledger_path(shard)
    ledger = Ledger.open(path, write=False) if path.exists() else None
    try:
        if anchor_ms is None:
            recorded = ledger.meta("anchor_ms") if ledger is not None else None
            anchor_ms = int(recorded) if recorded else int(time.time() * 1000)
        return scan_rows_with(context, input_path, shard, ledger, anchor_ms, masker=masker)
    finally:
        if ledger is not None:
            ledger.close()


def scan_rows_with(
    context: CampaignContext,
    input_path: Path,
    shard: Shard,
    ledger: Ledger | None,
    anchor_ms: int,
    *,
    masker: Masker | None = None,
) -> Scan:
    """`scan_rows` with the ledger already open and the anchor known."""
    masker = masker or Masker()
    scan = Scan()
    rows = RowFile(input_path)
    shown_input = str(input_path)
    report = ReportWriter(context.folder() / f"{context.name}{shard.suffix}.problems.txt")
    problems: Problems = []
    try:
        for checked in iter_checked(
            context, rows, shard=shard, ledger=ledger, anchor_ms=anchor_ms, problems=problems
        ):
            scan.rows += 1
            _flush_problems(scan, problems, report, shown_input, masker)
            if not checked.mine:
                continue
            scan.in_shard += 1
            verdict = checked.verdict
            if verdict == "new":
                scan.new += 1
            elif verdict == "issued":
                scan.issued += 1
            elif verdict == "rejected":
                scan.rejected_before += 1
            else:
                scan.unknown += 1
        _flush_problems(scan, problems, report, shown_input, masker)
    except BaseException:
        report.discard()
        raise
    scan.digest = rows.digest
    if scan.problems:
        scan.report = report.commit()
    else:
        report.discard()
    return scan


def _flush_problems(
    scan: Scan,
    problems: Problems,
    report: ReportWriter,
    shown_input: str,
    masker: Masker,
) -> None:
    for problem, secrets in problems:
        line = masker.text(problem.line(shown_input), secrets)
        report.write(line + "\n")
        scan.problems += 1
        if len(scan.shown) < SHOWN_PROBLEMS:
            scan.shown.append(line)
    problems.clear()


# -- status and reports ----------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerStatus:
    path: Path
    counts: dict[str, int]
    anchor: str | None


def campaign_status(context: CampaignContext) -> list[LedgerStatus]:
    found = []
    for path in ledger_files(context.folder(), context.name):
        with Ledger.open(path, write=False) as ledger:
            found.append(LedgerStatus(path, ledger.counts(), ledger.meta("anchor_ms")))
    if not found:
        raise InvalidInput(
            f"no ledger for campaign {context.name!r} in {context.target.name}",
            hint=f"issue passes first: `ipass passes issue {context.name} --input FILE`",
        )
    return found


REPORT_COLUMNS: Final = ("row", "bizSerialId", "outcome", "passId", "vendorCode")


@contextmanager
def _ledgers(context: CampaignContext, shard: Shard, merge: bool) -> Iterator[list[Ledger]]:
    paths = (
        ledger_files(context.folder(), context.name)
        if merge
        else [p for p in [context.ledger_path(shard)] if p.exists()]
    )
    if not paths:
        raise InvalidInput(f"no ledger for campaign {context.name!r} in {context.target.name}")
    opened: list[Ledger] = []
    try:
        for path in paths:
            opened.append(Ledger.open(path, write=False))
        yield opened
    finally:
        for ledger in opened:
            ledger.close()


def write_report(
    context: CampaignContext, out: Path, *, shard: Shard, merge: bool, include_user_ids: bool
) -> int:
    """One CSV line per ledger row (each input row sent), in row order; returns the count."""
    masker = Masker(enabled=not include_user_ids)
    columns = (*REPORT_COLUMNS, "userId") if include_user_ids else REPORT_COLUMNS
    writer = ReportWriter(out)
    count = 0
    try:
        with _ledgers(context, shard, merge) as ledgers:
            # Each ledger reads in row order: merging them keeps memory flat.
            rows = heapq.merge(
                *(ledger.rows() for ledger in ledgers),
                key=lambda r: (r.row_number, r.biz_serial_id),
            )
            writer.write(_csv_line(columns))
            for row in rows:
                serial = masker.text(row.biz_serial_id, (row.user_ref,))
                cells = [
                    str(row.row_number),
                    serial,
                    row.status,
                    row.pass_id or "",
                    row.result_code or "",
                ]
                if include_user_ids:
                    cells.append(row.user_ref)
                writer.write(_csv_line(cells))
                count += 1
    except BaseException:
        writer.discard()
        raise
    writer.commit()
    return count


def _csv_line(cells: tuple[str, ...] | list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


__all__ = ["WHOLE", "CampaignContext", "Scan", "Shard", "mask_id", "open_campaign", "scan_rows"]
