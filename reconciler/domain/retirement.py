"""A key the catalog declares retired, apart from the plan's step types.

`ipass validate` reads retirements but computes no plan: keeping this here spares it the import
of every step type (a dataclass costs about a millisecond to create at import).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Retirement:
    """A key declared retired in the catalog (`retired: true`, or `catalog/retired.yaml`)."""

    key: str
    source: str
    reason: str | None = None
