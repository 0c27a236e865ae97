"""`ipass validate`, `ipass render`, `ipass schema export`: dispatch to the catalog use cases."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.context import options
from reconciler.cli.resolve import catalog_workers, resolve_target
from reconciler.errors import ExitCode

if TYPE_CHECKING:
    from reconciler.domain.config import Target

env_option = click.option(
    "--env",
    "environment",
    metavar="ENV",
    help="Environment from ipass.toml (default: its default_environment, normally sandbox).",
)


target_option = click.option(
    "--select",
    "--target",
    "targets",
    multiple=True,
    metavar="SELECTOR",
    help="Only these entries (repeatable; a union): a key, a glob such as 'gift-card[*]', a "
    "catalog folder or file such as templates/tickets/, tag:NAME, product:MOVIE or type:COUPON. "
    "--target is the same option.",
)
exclude_option = click.option(
    "--exclude",
    "excludes",
    multiple=True,
    metavar="SELECTOR",
    help="Leave these entries out (repeatable; same forms as --select).",
)


no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Render every catalog file, neither reading nor writing the render cache "
    "(.ipass/cache/render/).",
)


def resolve_cached(environment: str | None, no_cache: bool) -> Target:
    """The environment's target, with the render cache turned off by --no-cache."""
    target = resolve_target(environment)
    return replace(target, render_cache=False) if no_cache else target


@click.command()
@env_option
@target_option
@exclude_option
@no_cache_option
def validate(
    environment: str | None, targets: tuple[str, ...], excludes: tuple[str, ...], no_cache: bool
) -> int:
    """Check every catalog entry against every createTemplate rule.

    Prints each problem on one line as `file:line:col: field: message [VENDOR_CODE]`,
    then a count. With --select/--exclude, only the chosen entries (and the files
    holding them) are reported; every file is still read. Exits 0 when the catalog
    is clean, 1 otherwise. Needs no network and no credentials.
    """
    from reconciler.domain.text import printable
    from reconciler.usecases.catalog import load_catalog, published_keys, selected

    target = resolve_cached(environment, no_cache)
    result = load_catalog(target, published=published_keys(target), workers=catalog_workers())
    if targets or excludes:
        result = selected(result, targets, excludes)
    for problem in result.problems:
        click.echo(printable(str(problem)))
    if result.problems:
        count = len(result.problems)
        click.echo(f"{count} problem{'s' if count != 1 else ''} found")
        return int(ExitCode.INVALID_INPUT)
    chosen = " selected" if targets or excludes else ""
    click.echo(
        f"ok: {len(result.entries)}{chosen} entries from {result.files} files are valid "
        f"for environment {result.target.name}"
    )
    return int(ExitCode.OK)


@click.command()
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@env_option
@target_option
@exclude_option
@click.option("--pretty", is_flag=True, help="Indent for reading (the bytes sent stay compact).")
@no_cache_option
def render(
    *,
    keys: tuple[str, ...],
    environment: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    pretty: bool,
    no_cache: bool,
) -> int:
    """Print the exact createTemplate request bodies apply would send.

    One JSON object keyed by catalog key (all entries, or the KEYs given). Each body is
    canonical JSON: sorted keys, no spaces, UTF-8; dates are epoch milliseconds.
    """
    from reconciler.domain.text import json_text
    from reconciler.usecases.catalog import bodies_json
    from reconciler.usecases.plan import render_bodies

    target = resolve_cached(environment, no_cache)
    bodies = render_bodies(target, keys, targets, excludes, workers=catalog_workers())
    # Hidden characters inside strings are printed as \u escapes: the same JSON data, but a
    # terminal or CI log shows them instead of acting on them.
    click.echo(json_text(bodies_json(bodies, pretty=pretty)))
    return int(ExitCode.OK)


@click.group()
def schema() -> None:
    """JSON Schemas that give catalog authors completion and checks in their editor."""


@schema.command("export")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write to (default: schemas/ in the project).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 naming each schema file that is missing or out of date.",
)
def export(out: Path | None, check: bool) -> int:
    """Write the JSON Schemas of catalog files into schemas/ (or, with --check, compare)."""
    from reconciler.domain.text import printable
    from reconciler.usecases.schemas import export_schemas, stale_schemas

    folder = out if out is not None else options().project_dir / "schemas"
    if check:
        stale = stale_schemas(folder)
        for path in stale:
            click.echo(printable(f"stale: {path}"))
        if stale:
            click.echo("hint: run `ipass schema export` and commit the result", err=True)
            return int(ExitCode.INVALID_INPUT)
        click.echo(printable(f"ok: the schemas in {folder} are current"))
        return int(ExitCode.OK)
    for path in export_schemas(folder):
        click.echo(f"wrote {path}")
    return int(ExitCode.OK)
