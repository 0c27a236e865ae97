"""The `ipass` command: dispatch only, and the one error boundary with the exit-code table."""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from reconciler import __version__
from reconciler.domain.text import printable
from reconciler.errors import ExitCode, IpassError, os_refusal

if TYPE_CHECKING:
    import traceback

    from reconciler.cli.context import Options

_PRINTING_WARNINGS = "ipass.printing_warnings"  # key in the root context's `meta`

# Subcommands are imported only when used, so `ipass validate` never pays for the HTTP stack.
_COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("reconciler.cli.catalog", "validate"),
    "render": ("reconciler.cli.catalog", "render"),
    "schema": ("reconciler.cli.catalog", "schema"),
    "plan": ("reconciler.cli.reconcile", "plan"),
    "preview": ("reconciler.cli.preview", "preview"),
    "apply": ("reconciler.cli.reconcile", "apply"),
    "state": ("reconciler.cli.state", "state"),
    "keys": ("reconciler.cli.keys", "keys"),
    "sandbox": ("reconciler.cli.sandbox", "sandbox"),
    "doctor": ("reconciler.cli.doctor", "doctor"),
    "init": ("reconciler.cli.init", "init"),
    "passes": ("reconciler.cli.passes", "passes"),
}

# What `ipass --help` lists beside each command, so the listing imports none of them. Each is
# the first sentence of the command's own help; tests/test_startup_imports.py checks they agree.
_SUMMARIES: dict[str, str] = {
    "validate": "Check every catalog entry against every createTemplate rule.",
    "render": "Print the exact createTemplate request bodies apply would send.",
    "schema": "JSON Schemas that give catalog authors completion and checks in their editor.",
    "plan": "Show what apply would publish: offline, no credentials needed.",
    "apply": "Publish new entries to AlipayHK, recording every templateCode.",
    "state": "Inspect and explicitly change the recorded state.",
    "keys": "Manage the merchant key pair that signs requests to AlipayHK.",
    "sandbox": "The local AlipayHK iPass emulator: real HTTP, real signatures, the vendor's rules.",
    "doctor": "Check everything a first `ipass apply` needs, and list every problem at once.",
    "init": "Scaffold a catalog repository in DIR (default: the project folder, -C).",
    "preview": "Write an HTML proof sheet of the cards as customers will see them.",
    "passes": "Issue passes (createPass) in bulk from catalog/passes/CAMPAIGN.yaml and an input "
    "file.",
}


class LazyGroup(click.Group):
    """A group whose subcommands live in modules imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """An unknown command says which one was probably meant."""
        name = args[0] if args else ""
        if args and name not in _COMMANDS and not name.startswith("-"):
            import difflib

            guesses = difflib.get_close_matches(name, sorted(_COMMANDS), n=1)
            if guesses:
                raise click.UsageError(
                    f"No such command {name!r}. Did you mean {guesses[0]!r}?", ctx=ctx
                )
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from `_SUMMARIES`; only a command missing from it is imported."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            text = summary(name, limit)
            if text is None:
                command = self.get_command(ctx, name)
                text = "" if command is None else command.get_short_help_str(limit)
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        _show_warnings(ctx)
        module = importlib.import_module(target[0])
        command = getattr(module, target[1])
        if not isinstance(command, click.Command):
            raise TypeError(f"{target[0]}.{target[1]} is not a click command")
        return command


def _show_warnings(ctx: click.Context) -> None:
    """From the first subcommand loaded to the end of the run, what the layers below log to
    `ipass` reaches the user on stderr (once per run: a message logged twice shows once)."""
    root = ctx.find_root()
    if root.meta.get(_PRINTING_WARNINGS):
        return
    from reconciler.cli.warning_output import print_warnings

    root.meta[_PRINTING_WARNINGS] = True
    root.call_on_close(print_warnings())


def summary(name: str, limit: int) -> str | None:
    """`_SUMMARIES[name]` in at most `limit` characters, shortened as click shortens a command's
    help; None for a command missing from the table."""
    text = _SUMMARIES.get(name)
    return None if text is None else click.Command(name, help=text).get_short_help_str(limit)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="The project: the folder holding ipass.toml and catalog/.",
)
@click.option("--debug", is_flag=True, help="Also print the traceback of a bug in ipass on stderr.")
@click.version_option(__version__, prog_name="ipass")
@click.pass_context
def cli(ctx: click.Context, project_dir: Path, debug: bool) -> None:
    """Templates as code for AlipayHK iPass wallet cards and tickets.

    Keep card and ticket templates as YAML in catalog/, check them with
    `ipass validate`, see the exact request bodies with `ipass render`,
    review what would be published with `ipass plan` and each card as
    customers will see it with `ipass preview`, publish with `ipass apply`.

    \b
    Exit codes:
      0  success
      1  invalid input or usage
      2  plan has changes (only with --detailed-exitcode)
      3  state, plan or lock conflict
      4  AlipayHK rejected a request (or it was never sent)
      5  outcome unknown: reconcile before retrying
      6  credentials or key problem
      70  a bug in ipass (details in .ipass/crash/)
      130 interrupted
    """
    from reconciler.cli.context import Options  # not needed for --help

    ctx.obj = Options(project_dir=project_dir, debug=debug)


CRASH_FOLDER = (".ipass", "crash")
# The values of PYDANTIC_DISABLE_PLUGINS for which pydantic loads no plugin at all.
_PLUGINS_OFF: Final = ("__all__", "1", "true")
_SUMMARY_LIMIT = 500


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every exception ends here and becomes one exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    # ipass uses no pydantic plugins; looking for them scans every installed package (~15 ms).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    _without_pydantic_plugin_loader()
    try:
        result = cli.main(args=args, prog_name="ipass", standalone_mode=False)
    except BaseException as error:  # noqa: BLE001 - the one boundary: nothing escapes raw
        return _exit_code_for(error, args)
    return int(result) if isinstance(result, int) else int(ExitCode.OK)


_PLUGIN_LOADER = "pydantic.plugin._loader"


def _without_pydantic_plugin_loader() -> None:
    """With plugins off, pydantic's plugin loader answers "none" for every model it builds, yet
    importing it imports `importlib.metadata` (with email, zipfile and csv: about 10 ms, more
    than any module of ipass). Stand in for it with that answer, unless the user set
    PYDANTIC_DISABLE_PLUGINS to another value (some plugins on) or it is already loaded.
    Pydantic imports only `get_plugins` from it; tests/test_startup_imports.py checks both."""
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") not in _PLUGINS_OFF:
        return
    if _PLUGIN_LOADER in sys.modules:
        return
    loader = types.ModuleType(_PLUGIN_LOADER, "ipass: pydantic plugins are off")
    loader.get_plugins = no_pydantic_plugins  # type: ignore[attr-defined]
    # A later pydantic asking the loader for anything else gets pydantic's own module: the
    # stand-in steps aside instead of breaking the import.
    setattr(loader, "__getattr__", _real_plugin_loader_attribute)  # noqa: B010 - a module hook
    sys.modules[_PLUGIN_LOADER] = loader


def _real_plugin_loader_attribute(name: str) -> object:
    if name.startswith("__"):  # `__file__`, `__path__`, ... asked of every module by tools
        raise AttributeError(name)
    sys.modules.pop(_PLUGIN_LOADER, None)
    return getattr(importlib.import_module(_PLUGIN_LOADER), name)


def no_pydantic_plugins() -> tuple[()]:
    """What pydantic's `get_plugins()` returns when plugins are off."""
    return ()


def _exit_code_for(error: BaseException, args: Sequence[str]) -> int:  # noqa: PLR0911 - one arm per row of the exit-code table
    match error:
        case IpassError():
            return _report(_message_lines(error), error.hint, error.exit_code)
        case click.exceptions.Abort() | KeyboardInterrupt():
            click.echo("interrupted", err=True)
            return int(ExitCode.INTERRUPTED)
        case click.exceptions.Exit():
            return error.exit_code
        case click.ClickException():
            _show_click_error(error)
            return int(ExitCode.INVALID_INPUT)
        case BrokenPipeError():
            return int(ExitCode.OK)
        case SystemExit():
            return error.code if isinstance(error.code, int) else int(ExitCode.INVALID_INPUT)
        case OSError() if (refusal := os_refusal(error)) is not None:
            where = "" if error.filename is None else f"{os.fsdecode(error.filename)}: "
            return _report([where + refusal.reason], refusal.hint, ExitCode.INVALID_INPUT)
    return _report_bug(error, args)


def _report(lines: Sequence[str], hint: str | None, code: ExitCode) -> int:
    """`error: <first line>`, the other lines, `hint: ...`: each line escaped on its own."""
    for number, line in enumerate(lines):
        click.echo(("" if number else "error: ") + printable(line), err=True)
    if hint:
        click.echo(f"hint: {printable(hint)}", err=True)
    return int(code)


def _message_lines(error: IpassError) -> list[str]:
    """A message is one line, whatever line breaks its text holds; a list of located problems
    is one line per problem, then the count."""
    from reconciler.domain.problems import ProblemsFound

    if isinstance(error, ProblemsFound):
        return [*(str(problem) for problem in error.problems), error.message.rsplit("\n", 1)[-1]]
    return [error.message]


def _show_click_error(error: click.ClickException) -> None:
    """Click's own report (usage, then `Error: ...`), with the message escaped: it quotes what
    was typed, and that may come from anywhere."""
    if isinstance(error, click.UsageError) and error.ctx is not None:
        click.echo(error.ctx.get_usage(), err=True)
        click.echo(f"Try '{printable(error.ctx.command_path)} --help' for help.\n", err=True)
    click.echo(f"Error: {printable(error.format_message())}", err=True)


# -- bugs ----------------------------------------------------------------------------------------


def _report_bug(error: BaseException, args: Sequence[str]) -> int:
    """Exit 70 with a short message; the traceback goes to a new crash file (and with --debug to
    stderr). A crash file that cannot be written is said in one line; the exit stays 70."""
    context = _innermost_context(error)
    options = _options_of(context, args)
    details = _traceback_text(error)
    if options.debug:
        click.echo(details, err=True, nl=False)
    click.echo(f"error: this is a bug in ipass ({_summary(error)})", err=True)
    saved, failure = _save_crash_report(options.project_dir, _command_names(context), details)
    if saved is not None:
        click.echo(
            f"hint: please report it with the crash file {printable(str(saved))} "
            "(traceback and versions; no option values, environment or keys)",
            err=True,
        )
    else:
        then = "the traceback is above" if options.debug else "rerun with --debug to see it"
        click.echo(
            f"hint: could not write a crash file ({printable(failure)}); {then}; please report it",
            err=True,
        )
    return int(ExitCode.BUG)


def _innermost_context(error: BaseException) -> click.Context | None:
    """The deepest click context among the frames the error came through: the command that ran.

    Only the context object is taken from a frame (it knows the command names and the parsed
    top-level options); no variable of any frame is written anywhere.
    """
    import traceback  # only a bug needs it (a subcommand's logging has loaded it already)

    found: click.Context | None = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        for name in ("self", "ctx", "sub_ctx"):  # click's own frames; the last is the deepest
            value = frame.f_locals.get(name)
            if isinstance(value, click.Context):
                found = value
    return found


def _options_of(context: click.Context | None, args: Sequence[str]) -> Options:
    """The group's parsed options; if it never got that far, a guess from the raw arguments."""
    from reconciler.cli.context import Options

    if context is not None:
        found = context.find_object(Options)
        if found is not None:
            return found
        params = context.find_root().params
        project_dir, debug = params.get("project_dir"), params.get("debug")
        if isinstance(project_dir, Path) and isinstance(debug, bool):
            return Options(project_dir=project_dir, debug=debug)
    return Options(project_dir=Path(), debug="--debug" in args)


def _command_names(context: click.Context | None) -> list[str]:
    """`["state", "resolve"]`: names of our own commands, never a typed argument or option."""
    names = []
    while context is not None and context.parent is not None:
        names.append(context.command.name or "?")
        context = context.parent
    return names[::-1]


def _traceback_text(error: BaseException) -> str:
    """The traceback, as `traceback.format_exception` writes it (no local variables)."""
    import traceback

    return "".join(_traceback_parts(traceback.TracebackException.from_exception(error)))


def _traceback_parts(exc: traceback.TracebackException) -> Iterator[str]:
    """Chained exceptions first; each message escaped as a whole, so a line break in it (it may
    quote catalog text) cannot start a line of its own, such as `::error::`."""
    if exc.__cause__ is not None:
        yield from _traceback_parts(exc.__cause__)
        yield "\nThe above exception was the direct cause of the following exception:\n\n"
    elif exc.__context__ is not None and not exc.__suppress_context__:
        yield from _traceback_parts(exc.__context__)
        yield "\nDuring handling of the above exception, another exception occurred:\n\n"
    if exc.stack:
        yield "Traceback (most recent call last):\n"
        for frame in exc.stack.format():
            yield "".join(printable(line) + "\n" for line in frame.splitlines())
    for part in exc.format_exception_only():
        yield printable(part.rstrip("\n")) + "\n"


def _summary(error: BaseException) -> str:
    import traceback

    text = printable("".join(traceback.format_exception_only(error)).strip())
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


def _crash_report(commands: Sequence[str], details: str) -> str:
    import platform

    return "\n".join(
        [
            "ipass crash report: a bug in ipass. Please attach this file to the bug report.",
            "It holds no option values, no environment variables and no key material.",
            "",
            f"ipass: {__version__}",
            f"python: {platform.python_implementation()} {platform.python_version()}",
            f"platform: {platform.platform()}",
            f"command: {' '.join(['ipass', *commands])}",
            f"time: {datetime.now(UTC).isoformat(timespec='seconds')}",
            "",
            details,
        ]
    )


def _save_crash_report(
    project_dir: Path, commands: Sequence[str], details: str
) -> tuple[Path | None, str]:
    """A new file `.ipass/crash/crash-<UTC time>-<pid>.txt` (mode 0600) in the project, or why
    there is none."""
    from reconciler.adapters.files import create_private_file

    stem = f"crash-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"
    try:
        data = _crash_report(commands, details).encode("utf-8", "backslashreplace")
        return create_private_file(project_dir, CRASH_FOLDER, stem, ".txt", data), ""
    except IpassError as failure:
        return None, failure.message
    except Exception as failure:  # noqa: BLE001 - failing to save a report must not hide the bug
        return None, f"{type(failure).__name__}: {failure}"
