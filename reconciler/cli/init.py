"""`ipass init`: dispatch to the scaffold use case and print what it wrote and what is next."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.context import options
from reconciler.domain.text import printable
from reconciler.errors import ExitCode

_NEXT_STEPS = """\
next steps:
  cd {root}   (git init, if it is not a git repository yet)
  python3 -m venv .venv && .venv/bin/pip install -r .github/ipass-requirements.txt
  .venv/bin/ipass validate && .venv/bin/ipass plan    (the example publishes to the local sandbox)
  for production: fill in [environments.production] in ipass.toml, create the GitHub
  environment `production` with the secrets IPASS_PRIVATE_KEY and IPASS_PLATFORM_PUBLIC_KEY,
  and let the workflows push the state to main (README.md, "What happens on merge")"""


@click.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path), metavar="[DIR]")
def init(folder: Path | None) -> int:
    """Scaffold a catalog repository in DIR (default: the project folder, -C).

    Writes an example catalog/, ipass.toml (the sandbox, and production to fill in),
    .gitignore, the GitHub workflows (plan on pull requests, apply on merge, emergency
    apply), .pre-commit-config.yaml and a README.md for the team. Never overwrites a
    file: one that exists is kept and listed as skipped. Refuses a DIR (or a folder
    in it) that is a symbolic link.
    """
    from reconciler.usecases.init import init_project, scaffold_files

    root = folder if folder is not None else options().project_dir
    report = init_project(root, scaffold_files())
    for path in report.written:
        click.echo(printable(f"wrote {path}"))
    for path in report.skipped:
        click.echo(printable(f"skipped {path} (it exists; left as it is)"))
    click.echo(
        printable(
            f"{len(report.written)} files written, {len(report.skipped)} skipped, in {report.root}"
        )
    )
    for line in _NEXT_STEPS.format(root=report.root).splitlines():
        click.echo(printable(line))
    return int(ExitCode.OK)
