"""`ipass state ...`: inspect the recorded state and change it explicitly."""

from __future__ import annotations

import json

import click

from reconciler.cli.catalog import env_option
from reconciler.cli.context import options
from reconciler.errors import ExitCode


@click.group()
def state() -> None:
    """Inspect and explicitly change the recorded state (state/<env>.json)."""


@state.command("list")
@env_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(environment: str | None, as_json: bool) -> int:
    """One line per key: status, templateCode, source."""
    from reconciler.usecases.state import read_state

    located, current = read_state(options().project_dir, environment)
    rows = []
    for key, entry in sorted(current.entries.items()):
        record = entry.current
        rows.append(
            {
                "key": key,
                "status": record.status if record else "forgotten",
                "template_code": record.template_code if record else None,
                "source": record.source if record else None,
                "history": len(entry.history),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, sort_keys=True))
        return int(ExitCode.OK)
    click.echo(f"{located.paths.state_file} (lineage {current.lineage}, serial {current.serial})")
    for row in rows:
        code = row["template_code"] or "-"
        click.echo(f"{row['key']:<32} {row['status']:<9} {code:<34} {row['source'] or ''}")
    if not rows:
        click.echo("no entries recorded yet")
    return int(ExitCode.OK)


@state.command()
@click.argument("key")
@env_option
def show(key: str, environment: str | None) -> int:
    """Everything recorded for KEY, including earlier templates."""
    from reconciler.usecases.state import entry_of, read_state

    _, current = read_state(options().project_dir, environment)
    entry = entry_of(current, key)
    click.echo(
        json.dumps(
            entry.model_dump(mode="json", exclude_none=True),
            ensure_ascii=False,
            indent=2,
            sort_keys=True,
        )
    )
    return int(ExitCode.OK)


@state.command("import")
@click.argument("key")
@click.option("--template-code", required=True, help="The templateCode AlipayHK gave it.")
@env_option
def import_(key: str, template_code: str, environment: str | None) -> int:
    """Adopt a template created by hand; the catalog entry's payload is recorded as its content."""
    from reconciler.usecases.state import import_template

    import_template(options().project_dir, environment, key, template_code)
    click.echo(f"recorded {key} as created: {template_code}")
    return int(ExitCode.OK)


@state.command()
@click.argument("key")
@env_option
def forget(key: str, environment: str | None) -> int:
    """Stop tracking KEY (its template stays at AlipayHK; the record stays in history)."""
    from reconciler.usecases.state import forget as forget_key

    forget_key(options().project_dir, environment, key)
    click.echo(f"forgot {key}; its record is kept in the entry's history")
    return int(ExitCode.OK)


@state.command()
@click.argument("key")
@click.option("--template-code", help="The template was created: this is its code.")
@click.option(
    "--not-created", is_flag=True, help="Nothing was created: clear it for a new attempt."
)
@env_option
def resolve(key: str, template_code: str | None, not_created: bool, environment: str | None) -> int:
    """Settle an unknown outcome with what you found at AlipayHK."""
    from reconciler.errors import InvalidInput
    from reconciler.usecases.state import resolve_created, resolve_not_created

    if (template_code is None) == (not not_created):
        raise InvalidInput("give exactly one of --template-code CODE or --not-created")
    if template_code is not None:
        resolve_created(options().project_dir, environment, key, template_code)
        click.echo(f"recorded {key} as created: {template_code}")
    else:
        resolve_not_created(options().project_dir, environment, key)
        click.echo(f"cleared {key}; the next apply creates it again")
    return int(ExitCode.OK)


@state.command("force-unlock")
@click.argument("lock_id")
@env_option
def force_unlock(lock_id: str, environment: str | None) -> int:
    """Clear a stale lock record; needs the LOCK_ID named in the lock message."""
    from reconciler.usecases.state import unlock

    holder = unlock(options().project_dir, environment, lock_id)
    click.echo(f"cleared {holder.describe()}")
    return int(ExitCode.OK)
