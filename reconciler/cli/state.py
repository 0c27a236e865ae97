"""`ipass state ...`: inspect the recorded state and change it explicitly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from reconciler.cli.catalog import env_option
from reconciler.cli.resolve import resolve_target
from reconciler.errors import ExitCode

if TYPE_CHECKING:
    from reconciler.domain.config import Target
    from reconciler.usecases.state import Actor


reason_option = click.option(
    "--reason",
    metavar="TEXT",
    help="Why (a ticket, an incident): recorded with your name in the key's history. "
    "Required outside the embedded sandbox.",
)


@click.group()
def state() -> None:
    """Inspect and explicitly change the recorded state.

    The state is state/<env>.json (committed to git); the embedded sandbox keeps
    its own under .ipass/sandbox/state/ (git-ignored).

    Every change is recorded with who made it (IPASS_OPERATOR, else GITHUB_ACTOR in
    GitHub Actions, else git's user.email, else user@host), when and why:
    `ipass state history KEY` shows it. Outside the embedded sandbox every change
    needs --reason.
    """


def _actor(target: Target, reason: str | None, what: str) -> Actor:
    from reconciler.adapters.operator import current_operator
    from reconciler.usecases.state import Actor, state_change_reason

    return Actor(current_operator(target.root), state_change_reason(target, reason, what))


@state.command("list")
@env_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(environment: str | None, as_json: bool) -> int:
    """One line per key: status, templateCode, source."""
    from reconciler.domain.text import printable
    from reconciler.usecases.state import read_state

    store, current = read_state(resolve_target(environment))
    rows = []
    for key, entry in sorted(current.entries.items()):
        record = entry.current
        last = entry.events[-1].op if entry.events else "forgotten"
        rows.append(
            {
                "key": key,
                "status": record.status if record else last,
                "template_code": record.template_code if record else None,
                "source": record.source if record else None,
                "history": len(entry.history),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=True, indent=2, sort_keys=True))
        return int(ExitCode.OK)
    click.echo(f"{store.path} (lineage {current.lineage}, serial {current.serial})")
    for row in rows:
        code = row["template_code"] or "-"
        line = f"{row['key']:<32} {row['status']:<9} {code:<34} {row['source'] or ''}"
        click.echo(printable(line))
    if not rows:
        click.echo("no entries recorded yet")
    return int(ExitCode.OK)


@state.command()
@click.argument("key")
@env_option
def show(key: str, environment: str | None) -> int:
    """Everything recorded for KEY, including earlier templates and its events."""
    from reconciler.usecases.state import entry_of, read_state

    _, current = read_state(resolve_target(environment))
    entry = entry_of(current, key)
    click.echo(
        json.dumps(
            entry.model_dump(mode="json", exclude_none=True),
            ensure_ascii=True,
            indent=2,
            sort_keys=True,
        )
    )
    return int(ExitCode.OK)


@state.command()
@click.argument("key")
@env_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history(key: str, environment: str | None, as_json: bool) -> int:
    """Every change recorded for KEY, newest first: what, when, who and why."""
    from reconciler.domain.text import printable
    from reconciler.usecases.state import history as key_history

    events = key_history(resolve_target(environment), key)
    if as_json:
        data = [event.model_dump(mode="json", exclude_none=True) for event in events]
        click.echo(json.dumps(data, ensure_ascii=True, indent=2, sort_keys=True))
        return int(ExitCode.OK)
    if not events:
        click.echo(f"no events recorded for {printable(key)} (recorded before ipass kept history)")
    for event in events:
        parts = [event.at, f"{event.op:<9}", f"by {event.operator}"]
        if event.template_code:
            parts.append(f"template {event.template_code}")
        if event.request_id:
            parts.append(f"requestId {event.request_id}")
        if event.result_code:
            parts.append(f"[{event.result_code}]")
        if event.detail:
            parts.append(f"({event.detail})")
        if event.reason:
            parts.append(f"reason: {event.reason}")
        click.echo(printable("  ".join(parts)))
    return int(ExitCode.OK)


@state.command("import")
@click.argument("key")
@click.option("--template-code", required=True, help="The templateCode AlipayHK gave it.")
@env_option
@reason_option
def import_(key: str, template_code: str, environment: str | None, reason: str | None) -> int:
    """Adopt a template created by hand; the catalog entry's payload is recorded as its content."""
    from reconciler.domain.text import printable
    from reconciler.usecases.state import import_template

    target = resolve_target(environment)
    import_template(target, key, template_code, _actor(target, reason, "state import"))
    click.echo(printable(f"recorded {key} as created: {template_code}"))
    return int(ExitCode.OK)


@state.command()
@click.argument("key")
@env_option
@reason_option
def forget(key: str, environment: str | None, reason: str | None) -> int:
    """Stop tracking KEY (its template stays at AlipayHK; the record stays in history)."""
    from reconciler.domain.text import printable
    from reconciler.usecases.state import forget as forget_key

    target = resolve_target(environment)
    forget_key(target, key, _actor(target, reason, "state forget"))
    click.echo(printable(f"forgot {key}; its record is kept in the entry's history"))
    return int(ExitCode.OK)


@state.command()
@click.argument("key")
@click.option("--template-code", help="The template was created: this is its code.")
@click.option(
    "--not-created", is_flag=True, help="Nothing was created: clear it for a new attempt."
)
@env_option
@reason_option
def resolve(
    key: str,
    template_code: str | None,
    not_created: bool,
    environment: str | None,
    reason: str | None,
) -> int:
    """Settle an unknown outcome with what you found at AlipayHK.

    Also corrects an earlier resolve of the same entry: the correction is recorded
    on top, and `ipass state history KEY` keeps both.
    """
    from reconciler.domain.text import printable
    from reconciler.errors import InvalidInput
    from reconciler.usecases.state import resolve_created, resolve_not_created

    if (template_code is None) == (not not_created):
        raise InvalidInput("give exactly one of --template-code CODE or --not-created")
    target = resolve_target(environment)
    actor = _actor(target, reason, "state resolve")
    if template_code is not None:
        resolve_created(target, key, template_code, actor)
        click.echo(printable(f"recorded {key} as created: {template_code}"))
    else:
        resolve_not_created(target, key, actor)
        click.echo(printable(f"cleared {key}; the next apply creates it again"))
    return int(ExitCode.OK)


@state.command("force-unlock")
@click.argument("lock_id")
@env_option
@reason_option
def force_unlock(lock_id: str, environment: str | None, reason: str | None) -> int:
    """Clear a stale lock record; needs the LOCK_ID named in the lock message."""
    from reconciler.domain.text import printable
    from reconciler.usecases.state import unlock

    target = resolve_target(environment)
    holder = unlock(target, lock_id, _actor(target, reason, "state force-unlock"))
    click.echo(printable(f"cleared {holder.describe()}"))
    return int(ExitCode.OK)


@state.command()
@env_option
@click.option("--remote", default="origin", show_default=True, help="The git remote.")
@click.option("--branch", metavar="BRANCH", help="The branch (default: the current one).")
@click.option("--message", "-m", metavar="TEXT", help="The commit message.")
def push(environment: str | None, remote: str, branch: str | None, message: str | None) -> int:
    """Commit the environment's state file and push it, never forcing.

    The push is a compare-and-swap: if the branch moved and the state file changed
    upstream since it was read, nothing is forced and the command exits 3; if only
    other files changed, the state commit is rebased and pushed again.
    """
    from reconciler.adapters.operator import current_operator
    from reconciler.domain.text import printable
    from reconciler.usecases.push import state_recorder

    target = resolve_target(environment)
    recorder = state_recorder(
        target, author=current_operator(target.root), remote=remote, branch=branch
    )
    result = recorder.record(message or f"ipass: state of {target.name}")
    what = "committed and pushed" if result.committed else "nothing new to commit; pushed"
    click.echo(printable(f"{what} {target.state_file.name} to {remote}/{result.branch}"))
    return int(ExitCode.OK)
