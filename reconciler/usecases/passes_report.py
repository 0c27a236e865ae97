"""`ipass passes status` and `ipass passes report`: what a campaign's ledgers hold."""

from __future__ import annotations

import csv
import heapq
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reconciler.adapters.ledger import Ledger, ReportWriter, ledger_files
from reconciler.domain.campaign import Masker
from reconciler.errors import InvalidInput
from reconciler.usecases.passes import CampaignPlace, Shard


@dataclass(frozen=True)
class LedgerStatus:
    path: Path
    counts: dict[str, int]
    anchor: str | None


def campaign_status(context: CampaignPlace) -> list[LedgerStatus]:
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
def _ledgers(context: CampaignPlace, shard: Shard, merge: bool) -> Iterator[list[Ledger]]:
    paths = (
        ledger_files(context.folder(), context.name)
        if merge
        else [p for p in [context.ledger_path(shard)] if p.exists()]
    )
    if not paths:
        which = "" if merge else f" ({context.ledger_path(shard).name})"
        raise InvalidInput(
            f"no ledger for campaign {context.name!r} in {context.target.name}{which}",
            hint="--merge combines every shard's ledger; --shard I/N reads one",
        )
    opened: list[Ledger] = []
    try:
        for path in paths:
            opened.append(Ledger.open(path, write=False))
        yield opened
    finally:
        for ledger in opened:
            ledger.close()


def write_report(
    context: CampaignPlace, out: Path, *, shard: Shard, merge: bool, include_user_ids: bool
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
