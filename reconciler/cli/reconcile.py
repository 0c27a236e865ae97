"""`ipass plan`, `ipass apply`: dispatch to the reconciler use cases and draw their results."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click

from reconciler.cli.catalog import (
    env_option,
    exclude_option,
    no_cache_option,
    resolve_cached,
    target_option,
)
from reconciler.cli.resolve import catalog_workers
from reconciler.domain.plan import Action, Plan, PlanOptions, PlanStep
from reconciler.domain.text import json_text, printable
from reconciler.errors import ExitCode, InvalidInput

reason_option = click.option(
    "--reason",
    metavar="TEXT",
    help="Why (a ticket, an incident): recorded with your name in the state's history. "
    "Required for --replace, and for every state change outside the embedded sandbox.",
)

replace_option = click.option(
    "--replace",
    "replace",
    multiple=True,
    metavar="KEY",
    help="Publish an edited entry as a new template; the old one stays live, in history.",
)
retry_option = click.option(
    "--retry-unknown",
    is_flag=True,
    help="Re-send creates whose outcome is unknown, with the same requestId.",
)


@click.command()
@env_option
@target_option
@exclude_option
@replace_option
@retry_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan; `ipass apply FILE` applies exactly it, or refuses if stale.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown", "json"]),
    default="text",
    show_default=True,
    help="markdown fits a pull-request comment; json is versioned.",
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the plan has changes.")
@no_cache_option
def plan(
    *,
    environment: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    replace: tuple[str, ...],
    retry_unknown: bool,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    no_cache: bool,
) -> int:
    """Show what apply would publish: offline, no credentials needed.

    Each catalog and recorded entry gets one action:

    \b
      create    a new key
      no-op     published and unchanged, or retired earlier and gone
      move      a new key whose `moved_from:` names a published key
      adopt     a new key with `adopt: CODE`: recorded, nothing sent
      blocked   a published entry edited without raising `revision:`
                (there is no update API), a published key gone from the
                catalog without being declared retired, a retired key
                used again, ...: the Why line says what to change
      replace   `revision:` raised (or --replace KEY): a new template;
                the old one stays live until its end date
      retire    declared retired (`retired: true` in its file, or
                listed in catalog/retired.yaml): recorded as retired
      unknown   an earlier create's outcome is not known
      retry     with --retry-unknown: the same request re-sent

    Exits 1 when something is blocked and 5 when an outcome is unknown, so a
    pull request cannot merge a plan that apply would refuse.
    """
    from reconciler.domain.plan_document import plan_json
    from reconciler.domain.plan_render import plan_markdown, plan_text
    from reconciler.usecases.plan import make_plan
    from reconciler.usecases.saved_plan import save_plan

    wanted = PlanOptions(targets, excludes, replace, retry_unknown)
    result = make_plan(resolve_cached(environment, no_cache), wanted, workers=catalog_workers())
    if out is not None:
        save_plan(result, out)
    if fmt == "json":
        click.echo(json_text(plan_json(result)), nl=False)
    elif fmt == "markdown":
        click.echo(plan_markdown(result))
    else:
        click.echo(plan_text(result, color=sys.stdout.isatty()))
    if out is not None:
        click.echo(printable(f"saved to {out}; apply it with `ipass apply {out}`"), err=True)
    return int(_plan_exit(result, detailed_exitcode))


def _plan_exit(result: Plan, detailed: bool) -> ExitCode:
    if result.of(Action.BLOCKED):
        return ExitCode.INVALID_INPUT
    if result.of(Action.UNKNOWN):
        return ExitCode.OUTCOME_UNKNOWN
    if detailed and result.has_changes:
        return ExitCode.PLAN_HAS_CHANGES
    return ExitCode.OK


class _Progress:
    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def begin(self, plan: Plan, total: int) -> None:
        self.total = total
        click.echo(
            f"applying {total} change{'s' if total != 1 else ''} to {plan.binding.environment}"
        )

    def done(self, step: PlanStep, outcome: str) -> None:
        self.count += 1
        width = len(str(self.total))
        click.echo(printable(f"[{self.count:>{width}}/{self.total}] {step.key}: {outcome}"))


@contextmanager
def _graceful_stop(abandon: Callable[[], None], env_args: str) -> Iterator[list[bool]]:
    """SIGINT/SIGTERM ask to stop after the request in flight; a second one stops at once.

    At once means without waiting for that request: a thread cannot be interrupted inside its
    HTTP call, so the journal is left between two lines (`abandon`) and the process ends with
    130 as a kill would end it. The request in flight keeps its fsynced `pending` line, so the
    next run shows it as unknown; apply recovers from such an end at any point.
    """
    flag = [False]

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag[0]:
            _stop_at_once(abandon, env_args)
        flag[0] = True
        click.echo("stopping after the request in flight is recorded...", err=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _stop_at_once(abandon: Callable[[], None], env_args: str) -> NoReturn:
    """End the process now (exit 130), the journal settled, without waiting for any thread."""
    try:
        abandon()
        click.echo(
            "error: interrupted again: stopped at once, without waiting for the request in flight",
            err=True,
        )
        hint = (
            "hint: a create that was in flight stays pending and shows as unknown in "
            f"`ipass plan{env_args}`; check at AlipayHK, then `ipass state resolve KEY{env_args} "
            "--template-code CODE` (or `--not-created`), or `ipass apply --retry-unknown"
            f"{env_args}` re-sends it with the same requestId"
        )
        click.echo(printable(hint), err=True)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    finally:
        os._exit(ExitCode.INTERRUPTED)


@click.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@env_option
@target_option
@exclude_option
@replace_option
@retry_option
@reason_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--git-push",
    is_flag=True,
    help="For pipelines: before the first create, commit and push the state holding every "
    "create of the run as pending; after the run, commit and push the outcomes. The push is "
    "a compare-and-swap: if the state changed upstream, stop (exit 3) before sending anything.",
)
@click.option("--git-remote", default="origin", show_default=True, help="Remote for --git-push.")
@click.option(
    "--git-branch", metavar="BRANCH", help="Branch for --git-push (default: the current one)."
)
@click.option(
    "--parallelism",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Creates in flight at once, for large campaigns. Each is journaled before it is "
    "sent; after a rejection or an unknown outcome no new one starts and those in flight "
    "finish. 1 creates in plan order and stops at the first failure.",
)
@no_cache_option
def apply(
    *,
    plan_file: Path | None,
    environment: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    replace: tuple[str, ...],
    retry_unknown: bool,
    reason: str | None,
    auto_approve: bool,
    parallelism: int,
    git_push: bool,
    git_remote: str,
    git_branch: str | None,
    no_cache: bool,
) -> int:
    """Publish new entries to AlipayHK, recording every templateCode.

    Takes the environment's lock, plans (or checks PLAN_FILE is not stale), shows
    the plan and asks, then creates each new template: journaled before it is
    sent, recorded when AlipayHK answers. A rejection stops the run (exit 4); an
    unknown outcome is recorded and stops it (exit 5); Ctrl-C finishes the request
    in flight, records it and exits 130. Running it again right after is a no-op.

    With PLAN_FILE, the plan's own environment is used (an --env that names
    another is an error).
    """
    from reconciler.adapters.operator import current_operator
    from reconciler.domain.plan_render import plan_text
    from reconciler.usecases.apply import ApplyRequest
    from reconciler.usecases.apply import apply as run_apply
    from reconciler.usecases.ports import GitRemote, apply_ports
    from reconciler.usecases.saved_plan import read_saved_plan, saved_environment
    from reconciler.usecases.state import require_reason

    saved = None
    if plan_file is not None:
        if targets or excludes or replace or retry_unknown:
            raise InvalidInput(
                "a saved plan carries its own options; drop --select/--exclude/--replace "
                "(and --retry-unknown)"
            )
        saved = read_saved_plan(plan_file)
        environment = saved_environment(saved, environment)
    target = resolve_cached(environment, no_cache)
    replacing = bool(replace or (saved is not None and saved.options.replace))
    reason = require_reason(reason, "--replace", required=replacing)

    def confirm(result: Plan) -> bool:
        click.echo(plan_text(result, color=sys.stdout.isatty()))
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            raise InvalidInput("apply needs --auto-approve when it cannot ask (no terminal)")
        return click.confirm("Publish these changes? Templates cannot be deleted", default=False)

    request = ApplyRequest(
        PlanOptions(targets, excludes, replace, retry_unknown), saved, parallelism, reason
    )
    git = GitRemote(git_remote, git_branch) if git_push else None
    ports = apply_ports(target, current_operator(target.root), git=git, workers=catalog_workers())
    with _graceful_stop(ports.abandon, target.env_args) as stop:
        report = run_apply(
            request, ports, confirm=confirm, progress=_Progress(), should_stop=lambda: stop[0]
        )
    if not report.plan.has_changes:
        click.echo(f"no changes: {report.plan.binding.environment} is up to date with the catalog")
        return int(ExitCode.OK)
    click.echo(
        f"done: {len(report.created)} created, {len(report.retired)} retired"
        + (f", {len(report.moved)} moved" if report.moved else "")
        + (f", {len(report.adopted)} adopted" if report.adopted else "")
        + f"; state recorded in {report.state_file}"
    )
    return int(ExitCode.OK)
