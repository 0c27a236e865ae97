"""What the layers below log to the `ipass` logger, shown on stderr while a command runs.

Its own module so that `ipass --help` and `--version`, which run no command, never import
`logging`: the group attaches the printer when it loads a subcommand (cli/main.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import click

from reconciler.domain.text import printable


class WarningPrinter(logging.Handler):
    """Each distinct record of the `ipass` logger, once, as `warning: <escaped message>`."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._shown: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = printable(record.getMessage())
        except Exception:  # noqa: BLE001 - a broken log call is reported by logging, not raised
            self.handleError(record)
            return
        if text in self._shown:  # the same key loaded twice (sandbox start, then the client)
            return
        self._shown.add(text)
        click.echo(f"{'error' if record.levelno >= logging.ERROR else 'warning'}: {text}", err=True)


def print_warnings() -> Callable[[], None]:
    """Attach a new printer to the `ipass` logger; returns what detaches it."""
    logger = logging.getLogger("ipass")
    handler = WarningPrinter()
    logger.addHandler(handler)
    return lambda: logger.removeHandler(handler)
