"""Passes in bulk: load a campaign, check every input row against the ledger.

Issuing is `passes_issue.py`, status and reports `passes_report.py`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from reconciler.adapters.ledger import Ledger, LedgerRow, ReportWriter, SerialSet
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
class CampaignPlace:
    """Where a campaign's ledgers live in one environment (status and reports need no more)."""

    target: Target
    name: str

    def folder(self) -> Path:
        return self.target.work_dir / "passes" / self.target.name

    def ledger_path(self, shard: Shard) -> Path:
        return self.folder() / f"{self.name}{shard.suffix}.sqlite3"


def campaign_place(target: Target, name: str) -> CampaignPlace:
    if not CAMPAIGN_NAME.match(name):
        raise InvalidInput(f"{name!r} is not a campaign name: catalog/passes/NAME.yaml")
    return CampaignPlace(target, name)


@dataclass(frozen=True)
class CampaignContext(CampaignPlace):
    """A campaign resolved for one environment: what rows are rendered with."""

    source: str
    campaign: Campaign
    template: TemplateRef
    macros: dict[str, str]
    variables: dict[str, PlainData]

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
    campaign_place(target, name)
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
