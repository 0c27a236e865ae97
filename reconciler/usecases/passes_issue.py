"""`ipass passes issue`: every row checked first, then createPass for each row not yet issued.

The ledger is the journal: a batch of rows is committed `pending` (fsynced) before any of them is
handed to a worker, and each outcome is committed when it arrives. Re-running resumes: issued
rows are skipped, rows whose outcome is unknown (or that were pending when a run died) are sent
again with the same bizSerialId and the same body, so AlipayHK either creates the pass or answers
PASS_HAS_EXIST (recorded as `exists`: issued, passId unknown).

A rate-limit answer never leads to a blind repeat: the row is recorded `unknown`, every worker
pauses and slows down (`RateGate`), and the row goes again later in the run with its own
bizSerialId, at most `RATE_LIMIT_ROUNDS` times.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from reconciler.adapters.ledger import Intent, Ledger, Outcome
from reconciler.adapters.rowfile import RowFile
from reconciler.domain.campaign import RenderedPass
from reconciler.domain.contract.codes import ResultCode
from reconciler.errors import ExitCode, InvalidInput
from reconciler.usecases.pass_rate import RateGate
from reconciler.usecases.passes import (
    CampaignContext,
    Problems,
    Scan,
    Shard,
    iter_checked,
    scan_rows_with,
)

if TYPE_CHECKING:
    from reconciler.adapters.alipayhk.client import AlipayClient

RATE_LIMIT_ROUNDS: Final = 5
_WAIT_SECONDS: Final = 0.5


@dataclass
class IssueSummary:
    """What the run found and did; `exit_code` follows the exit-code table."""

    scan: Scan
    ledger: Path
    to_send: int = 0
    sent: int = 0
    created: int = 0
    exists: int = 0
    rejected: int = 0
    unknown: int = 0
    not_sent: int = 0
    rate_limited: int = 0
    slowdowns: int = 0
    interrupted: bool = False
    started: float = field(default_factory=time.monotonic)
    rejected_codes: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return self.created + self.exists + self.rejected + self.unknown + self.not_sent

    @property
    def exit_code(self) -> ExitCode:
        if self.scan.problems:
            return ExitCode.INVALID_INPUT
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.not_sent or self.rejected or self.scan.rejected_before:
            return ExitCode.VENDOR_REJECTED
        if self.unknown:
            return ExitCode.OUTCOME_UNKNOWN
        return ExitCode.OK


class Progress(Protocol):
    def update(self, summary: IssueSummary) -> None: ...


@dataclass(frozen=True)
class IssueRequest:
    input_path: Path
    shard: Shard
    workers: int
    rate: float | None


ClientFactory = Callable[[int], AbstractContextManager["AlipayClient"]]


def issue_passes(
    context: CampaignContext,
    request: IssueRequest,
    *,
    confirm: Callable[[Scan], bool],
    progress: Progress,
    should_stop: Callable[[], bool],
    client: ClientFactory | None = None,
) -> IssueSummary:
    """Check every row, ask, then send what is not issued yet; see the module's docstring."""
    path = context.ledger_path(request.shard)
    with Ledger.open(path, write=True) as ledger:
        anchor = int(ledger.settle_meta("anchor_ms", str(int(time.time() * 1000))))
        ledger.settle_meta("campaign", context.name)
        ledger.settle_meta("environment", context.target.name)
        ledger.settle_meta("shard", f"{request.shard.index}/{request.shard.count}")
        scan = scan_rows_with(context, request.input_path, request.shard, ledger, anchor)
        summary = IssueSummary(scan, path, to_send=scan.to_send)
        if scan.problems or not scan.to_send or not confirm(scan):
            return summary
        if should_stop():  # interrupted while the rows were being checked: nothing sent
            summary.interrupted = True
            return summary
        if client is None:
            from reconciler.usecases.connect import open_client

            target = context.target

            def client(workers: int) -> AbstractContextManager[AlipayClient]:
                return open_client(target, workers=workers)

        with client(request.workers) as api:
            run = _Run(request, ledger, api, summary=summary, progress=progress, stop=should_stop)
            run.send(_rows_to_send(context, request, ledger, anchor))
        summary.slowdowns = run.gate.slowdowns
        return summary


def _rows_to_send(
    context: CampaignContext, request: IssueRequest, ledger: Ledger, anchor: int
) -> Iterator[RenderedPass]:
    problems: Problems = []
    rows = RowFile(request.input_path)
    for checked in iter_checked(
        context, rows, shard=request.shard, ledger=ledger, anchor_ms=anchor, problems=problems
    ):
        if problems:
            raise InvalidInput(
                f"{request.input_path}: changed while passes were being issued "
                f"(row {problems[0][0].row} no longer checks); nothing more was sent",
                hint="keep the input file unchanged during a run; run the command again",
            )
        if checked.mine and checked.verdict in ("new", "unknown"):
            yield checked.rendered


@dataclass
class _Answer:
    outcome: Outcome
    retry_after: float | None = None
    rate_limited: bool = False


class _Run:
    """The dispatcher: the main thread journals and records, workers only send."""

    def __init__(
        self,
        request: IssueRequest,
        ledger: Ledger,
        api: AlipayClient,
        *,
        summary: IssueSummary,
        progress: Progress,
        stop: Callable[[], bool],
    ) -> None:
        self.ledger = ledger
        self.api = api
        self.summary = summary
        self.progress = progress
        self.should_stop = stop
        self.gate = RateGate(request.rate)
        self.workers = request.workers
        self.window = request.workers * 2
        self.again: deque[tuple[RenderedPass, int]] = deque()
        self.halt = False
        self.failure: InvalidInput | None = None

    def send(self, rows: Iterator[RenderedPass]) -> None:
        """Send every row; an error reading the rows stops new sends, and is raised once the
        requests in flight are recorded."""
        self._send(rows)
        if self.failure is not None:
            raise self.failure

    def _send(self, rows: Iterator[RenderedPass]) -> None:
        in_flight: dict[Future[_Answer], tuple[RenderedPass, int]] = {}
        with ThreadPoolExecutor(self.workers, thread_name_prefix="ipass-pass") as pool:
            exhausted = False
            while True:
                stopping = self.halt or self.should_stop()
                if stopping:
                    self.summary.interrupted = self.summary.interrupted or not self.halt
                elif len(in_flight) < self.window:
                    batch, exhausted = self._next_batch(rows, self.window - len(in_flight))
                    self.ledger.begin([_intent(rendered) for rendered, _ in batch])
                    for rendered, rounds in batch:
                        future = pool.submit(self._send_one, rendered)
                        in_flight[future] = (rendered, rounds)
                if not in_flight and (stopping or (exhausted and not self.again)):
                    # Rows waiting to go again after a rate limit stay recorded as unknown.
                    self.summary.unknown += len(self.again)
                    return
                if in_flight:
                    finished, _ = wait(
                        in_flight, timeout=_WAIT_SECONDS, return_when=FIRST_COMPLETED
                    )
                    self._record({f: in_flight.pop(f) for f in finished})

    def _next_batch(
        self, rows: Iterator[RenderedPass], room: int
    ) -> tuple[list[tuple[RenderedPass, int]], bool]:
        batch: list[tuple[RenderedPass, int]] = []
        while self.again and len(batch) < room:
            batch.append(self.again.popleft())
        try:
            for rendered in rows:
                batch.append((rendered, 0))
                if len(batch) >= room:
                    return batch, False
        except InvalidInput as error:  # the input changed since it was checked
            self.failure, self.halt = error, True
        return batch, True

    def _send_one(self, rendered: RenderedPass) -> _Answer:
        from reconciler.adapters.alipayhk.errors import (
            AmbiguousOutcome,
            NotSent,
            RateLimited,
            Rejected,
        )

        serial = rendered.biz_serial_id
        self.gate.wait()
        try:
            created = self.api.create_pass(rendered.body, biz_serial_id=serial)
        except Rejected as error:
            return _Answer(_rejected(serial, error.result_code, error.result_message))
        except NotSent as error:
            return _Answer(Outcome(serial, "not_sent", detail=error.detail))
        except RateLimited as error:
            limit = "REQUEST_TRAFFIC_EXCEED_LIMIT" if error.http_status != 429 else "HTTP_429"
            outcome = Outcome(serial, "unknown", result_code=limit, detail=error.reason)
            return _Answer(outcome, retry_after=error.retry_after, rate_limited=True)
        except AmbiguousOutcome as error:
            vendor_code = getattr(error, "result_code", None)
            outcome = Outcome(serial, "unknown", result_code=vendor_code, detail=error.reason)
            return _Answer(outcome)
        return _Answer(Outcome(serial, "created", pass_id=created.pass_id))

    def _record(self, finished: dict[Future[_Answer], tuple[RenderedPass, int]]) -> None:
        outcomes = []
        summary = self.summary
        for future, (rendered, rounds) in finished.items():
            answer = future.result()
            outcome = answer.outcome
            outcomes.append(outcome)
            summary.sent += 1
            if answer.rate_limited:
                summary.rate_limited += 1
                self.gate.slow_down(answer.retry_after)
                if rounds + 1 < RATE_LIMIT_ROUNDS:
                    self.again.append((rendered, rounds + 1))
                    continue
            self._count(outcome)
        self.ledger.record(outcomes)
        self.progress.update(summary)

    def _count(self, outcome: Outcome) -> None:
        summary = self.summary
        match outcome.status:
            case "created":
                summary.created += 1
            case "exists":
                summary.exists += 1
            case "rejected":
                summary.rejected += 1
                code = outcome.result_code or "?"
                summary.rejected_codes[code] = summary.rejected_codes.get(code, 0) + 1
            case "not_sent":
                summary.not_sent += 1
                if outcome.result_code:
                    summary.rejected_codes[outcome.result_code] = 1
                # The endpoint is unreachable, or refuses the campaign: stop starting more.
                self.halt = True
            case _:
                summary.unknown += 1


def _rejected(serial: str, code: str, message: str) -> Outcome:
    if code == "PASS_HAS_EXIST":
        return Outcome(serial, "exists", result_code=code)
    if _refuses_every_row(code):
        # Nothing was created (status F), and every other row would be refused alike: kept as
        # not sent, so the next run sends it again once the cause is fixed.
        detail = f"refused for the whole campaign: {message}"
        return Outcome(serial, "not_sent", result_code=code, detail=detail)
    return Outcome(serial, "rejected", result_code=code, detail=message)


_CAMPAIGN_WIDE: Final = frozenset(
    {
        ResultCode.PASS_TEMPLATE_HAS_NOT_EXIT,
        ResultCode.PASS_TYPE_NOT_MATCH,
        ResultCode.PASS_PRODUCT_TYPE_NOT_MATCH,
    }
)


def _refuses_every_row(result_code: str) -> bool:
    """A refusal about the caller or the template, not about this row."""
    code = ResultCode.known(result_code)
    return code is not None and (code.is_credential_refusal or code in _CAMPAIGN_WIDE)


def _intent(rendered: RenderedPass) -> Intent:
    return Intent(rendered.biz_serial_id, rendered.row, rendered.body_sha256, rendered.user_ref)
