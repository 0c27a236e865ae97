"""Resolve the project and the environment once per command, into the `Target` use cases take."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from reconciler.cli.context import options
from reconciler.errors import InvalidInput

if TYPE_CHECKING:
    from reconciler.domain.config import Target


def resolve_target(environment: str | None) -> Target:
    """Read `ipass.toml` (every problem reported at once) and resolve `--env` or the default."""
    from reconciler.domain.config import load_project

    return load_project(options().project_dir).target(environment)


def catalog_workers() -> int | None:
    """How many processes load the catalog: `IPASS_WORKERS` (hidden; benchmarks set 1 to measure
    one process), else None, which lets large catalogs use the usable cores."""
    text = os.environ.get("IPASS_WORKERS", "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise InvalidInput(
            f"IPASS_WORKERS must be a whole number from 1 to 64, not {text[:20]!r}",
            hint="unset it to let ipass choose",
        )
    return int(text)
