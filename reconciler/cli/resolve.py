"""Resolve the project and the environment once per command, into the `Target` use cases take."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.cli.context import options

if TYPE_CHECKING:
    from reconciler.domain.config import Target


def resolve_target(environment: str | None) -> Target:
    """Read `ipass.toml` (every problem reported at once) and resolve `--env` or the default."""
    from reconciler.domain.config import load_project

    return load_project(options().project_dir).target(environment)
