"""`ipass passes plan|issue|status|report`: createPass in bulk from a CSV or JSON Lines file."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from reconciler.cli.catalog import env_option
from reconciler.cli.resolve import resolve_target
from reconciler.domain.text import printable
from reconciler.errors import ExitCode, InvalidInput

if TYPE_CHECKING:
    from reconciler.usecases.passes import Scan, Shard
    from reconciler.usecases.passes_issue import IssueSummary

input_option = click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rows: CSV with a header (UTF-8, with or without BOM), or JSON Lines (.jsonl).",
)
shard_option = click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Only rows whose sha256(bizSerialId) falls in shard I of N; each shard has its ledger.",
)
campaign_argument = click.argument("campaign")


def _shard(text: str | None) -> Shard:
    from reconciler.usecases.passes import WHOLE, Shard

    return WHOLE if text is None else Shard.parse(text)


@click.group()
def passes() -> None:
    """Issue passes (createPass) in bulk from catalog/passes/CAMPAIGN.yaml and an input file."""


def _echo_scan(scan: Scan, *, err: bool = False) -> None:
    for line in scan.shown:
        click.echo(printable(line), err=True)
    if scan.problems:
        more = scan.problems - len(scan.shown)
        if more > 0:
            click.echo(f"... and {more} more", err=True)
        click.echo(f"{scan.problems} problems found; all of them in {scan.report}", err=True)
        return
    click.echo(
        f"{scan.rows} rows: {scan.new} new, {scan.issued} already issued, "
        f"{scan.rejected_before} rejected before, {scan.unknown} unknown (sent again with the "
        f"same bizSerialId)"
        + (f"; {scan.in_shard} in this shard" if scan.in_shard != scan.rows else ""),
        err=err,
    )


@passes.command()
@campaign_argument
@input_option
@env_option
@shard_option
def plan(campaign: str, input_path: Path, environment: str | None, shard: str | None) -> int:
    """Check every row, offline; count rows new, issued, rejected before and unknown.

    Exits 1 when any row has a problem (each one as file:row: field: message).
    """
    from reconciler.usecases.passes import open_campaign, scan_rows

    context = open_campaign(resolve_target(environment), campaign)
    scan = scan_rows(context, input_path, shard=_shard(shard))
    _echo_scan(scan)
    return int(ExitCode.INVALID_INPUT if scan.problems else ExitCode.OK)


class _Progress:
    """A counter on one updating line on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, *, every: float = 5.0) -> None:
        self._tty = sys.stderr.isatty()
        self._every = 0.2 if self._tty else every
        self._last = 0.0

    def update(self, summary: IssueSummary) -> None:
        now = time.monotonic()
        if now - self._last < self._every and summary.done < summary.to_send:
            return
        self._last = now
        rate = summary.done / max(now - summary.started, 1e-6)
        line = (
            f"[{summary.done}/{summary.to_send}] {summary.created} created, "
            f"{summary.exists} exists, {summary.rejected} rejected, {summary.unknown} unknown "
            f"({rate:.0f}/s)"
        )
        if self._tty:
            click.echo("\r" + line, nl=False, err=True)
        else:
            click.echo(line, err=True)

    def finish(self) -> None:
        if self._tty and self._last:
            click.echo("", err=True)


@contextmanager
def _graceful_stop() -> Iterator[list[bool]]:
    """SIGINT/SIGTERM: send nothing new, record what is in flight, exit 130. A second one ends
    the process at once: rows in flight stay `pending` and are sent again by the next run."""
    flag = [False]

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag[0]:
            click.echo("error: interrupted again: stopped at once", err=True)
            os._exit(ExitCode.INTERRUPTED)
        flag[0] = True
        click.echo("\nstopping: recording the requests in flight...", err=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@passes.command()
@campaign_argument
@input_option
@env_option
@shard_option
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Requests in flight at once (each journaled before it is sent).",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.1),
    default=None,
    help="At most this many requests per second, all workers together.",
)
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
def issue(
    *,
    campaign: str,
    input_path: Path,
    environment: str | None,
    shard: str | None,
    workers: int,
    rate: float | None,
    auto_approve: bool,
) -> int:
    """Check every row, then issue each pass not issued yet, journaled in the ledger.

    Re-running resumes. Ctrl-C finishes the requests in flight, records them
    and exits 130. Exits 4 when rows were rejected, 5 when outcomes are
    unknown (run it again: they are re-sent with the same bizSerialId).
    """
    from reconciler.usecases.passes import open_campaign
    from reconciler.usecases.passes_issue import IssueRequest, issue_passes

    target = resolve_target(environment)
    context = open_campaign(target, campaign)

    def confirm(scan: Scan) -> bool:
        _echo_scan(scan, err=True)
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise InvalidInput("issue needs --auto-approve when it cannot ask (no terminal)")
        return click.confirm(f"Issue {scan.to_send} passes in {target.name}?", default=False)

    request = IssueRequest(input_path, _shard(shard), workers, rate)
    progress = _Progress()
    with _graceful_stop() as stop:
        summary = issue_passes(
            context, request, confirm=confirm, progress=progress, should_stop=lambda: stop[0]
        )
    progress.finish()
    _echo_summary(summary)
    return int(summary.exit_code)


def _echo_summary(summary: IssueSummary) -> None:
    scan = summary.scan
    if scan.problems:
        _echo_scan(scan)
        click.echo("nothing was sent", err=True)
        return
    if not summary.to_send:
        click.echo(
            f"nothing to send: {scan.issued} already issued, {scan.rejected_before} rejected"
        )
        return
    seconds = time.monotonic() - summary.started
    click.echo(
        f"sent {summary.sent} requests in {seconds:.1f}s: {summary.created} created, "
        f"{summary.exists} already existed, {summary.rejected} rejected, "
        f"{summary.unknown} unknown, {summary.not_sent} not sent"
        + (f"; slowed down {summary.slowdowns} times for rate limits" if summary.slowdowns else "")
    )
    for code, count in sorted(summary.rejected_codes.items()):
        click.echo(printable(f"  rejected {count}: {code}"))
    click.echo(printable(f"ledger: {summary.ledger}"))
    if summary.interrupted:
        click.echo("interrupted: run the same command again to go on", err=True)
    elif summary.unknown or summary.not_sent:
        click.echo(
            "hint: run the same command again: unknown rows are re-sent with the same bizSerialId",
            err=True,
        )


@passes.command()
@campaign_argument
@env_option
def status(campaign: str, environment: str | None) -> int:
    """Counts of the campaign's ledger (each shard's, when sharded)."""
    from reconciler.usecases.passes import campaign_place
    from reconciler.usecases.passes_report import campaign_status

    context = campaign_place(resolve_target(environment), campaign)
    total: dict[str, int] = {}
    for found in campaign_status(context):
        counts = " ".join(f"{k}={v}" for k, v in found.counts.items())
        click.echo(printable(f"{found.path.name}: {counts}"))
        for key, value in found.counts.items():
            total[key] = total.get(key, 0) + value
    issued = total.get("created", 0) + total.get("exists", 0)
    click.echo(f"issued {issued} of {sum(total.values())} rows sent")
    return int(ExitCode.OK)


@passes.command()
@campaign_argument
@env_option
@shard_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--merge", is_flag=True, help="Combine every shard's ledger.")
@click.option(
    "--include-user-ids",
    is_flag=True,
    help="Write user ids in clear (personal data: keep the file where it belongs).",
)
def report(
    *,
    campaign: str,
    environment: str | None,
    shard: str | None,
    out: Path,
    merge: bool,
    include_user_ids: bool,
) -> int:
    """A CSV of every row sent: row, bizSerialId, outcome, passId, vendorCode."""
    from reconciler.usecases.passes import campaign_place
    from reconciler.usecases.passes_report import write_report

    context = campaign_place(resolve_target(environment), campaign)
    count = write_report(
        context, out, shard=_shard(shard), merge=merge, include_user_ids=include_user_ids
    )
    click.echo(printable(f"wrote {count} rows to {out}"))
    return int(ExitCode.OK)
