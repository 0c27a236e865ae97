"""What the top-level `ipass` options hand to every subcommand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click


@dataclass(frozen=True)
class Options:
    project_dir: Path
    debug: bool


def options() -> Options:
    """The options of the `ipass` group that this subcommand runs under."""
    ctx = click.get_current_context()
    found = ctx.find_object(Options)
    return found if found is not None else Options(project_dir=Path(), debug=False)
