"""The `ipass` command: dispatch only, and the one error boundary with the exit-code table."""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import click

from reconciler import __version__
from reconciler.cli.context import Options
from reconciler.errors import ExitCode, IpassError

# Subcommands are imported only when used, so `ipass validate` never pays for the HTTP stack.
_COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("reconciler.cli.catalog", "validate"),
    "render": ("reconciler.cli.catalog", "render"),
    "schema": ("reconciler.cli.catalog", "schema"),
    "plan": ("reconciler.cli.reconcile", "plan"),
    "apply": ("reconciler.cli.reconcile", "apply"),
    "state": ("reconciler.cli.state", "state"),
    "keys": ("reconciler.cli.keys", "keys"),
    "sandbox": ("reconciler.cli.sandbox", "sandbox"),
}


class LazyGroup(click.Group):
    """A group whose subcommands live in modules imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        if not isinstance(command, click.Command):
            raise TypeError(f"{target[0]}.{target[1]} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="The project: the folder holding ipass.toml and catalog/.",
)
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.version_option(__version__, prog_name="ipass")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path, debug: bool) -> None:
    """Templates as code for AlipayHK iPass wallet cards and tickets.

    Keep card and ticket templates as YAML in catalog/, check them with
    `ipass validate`, see the exact request bodies with `ipass render`,
    review what would be published with `ipass plan`, publish with
    `ipass apply`.

    \b
    Exit codes:
      0  success
      1  invalid input or usage
      2  plan has changes (only with --detailed-exitcode)
      3  state, plan or lock conflict
      4  AlipayHK rejected a request
      5  outcome unknown: reconcile before retrying
      6  credentials or key problem
      130 interrupted
    """
    ctx.obj = Options(project_dir=project_dir, debug=debug)


def _report(error: IpassError) -> int:
    click.echo(f"error: {error.message}", err=True)
    if error.hint:
        click.echo(f"hint: {error.hint}", err=True)
    return int(error.exit_code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every exception ends here and becomes one exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    # ipass uses no pydantic plugins; looking for them scans every installed package (~15 ms).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        result = cli.main(args=args, prog_name="ipass", standalone_mode=False)
    except BaseException as error:  # noqa: BLE001 - the one boundary: nothing escapes raw
        return _exit_code_for(error, debug="--debug" in args)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)


def _exit_code_for(error: BaseException, *, debug: bool) -> int:  # noqa: PLR0911 - one arm per row of the exit-code table
    match error:
        case IpassError():
            return _report(error)
        case click.exceptions.Abort() | KeyboardInterrupt():
            click.echo("interrupted", err=True)
            return int(ExitCode.INTERRUPTED)
        case click.exceptions.Exit():
            return error.exit_code
        case click.ClickException():
            error.show()
            return int(ExitCode.INVALID_INPUT)
        case BrokenPipeError():
            return int(ExitCode.OK)
        case SystemExit():
            return error.code if isinstance(error.code, int) else int(ExitCode.INVALID_INPUT)
        case Exception():
            if debug:
                traceback.print_exception(error)
            click.echo(f"error: internal error ({type(error).__name__}): {error}", err=True)
            click.echo("hint: this is a bug in ipass; rerun with --debug and report it", err=True)
            return int(ExitCode.INVALID_INPUT)
    raise error
