"""Identifiers shaped like the vendor's: `templateCode` (32 chars) and `passId` (31 chars).

Observed samples: templateCode `22024112800135606000000001424755` (a digit, `yyyyMMdd`, 23 digits)
and passId `2020091119027102160530200000039` (`yyyyMMdd`, 23 digits). The sandbox fills the 23
digits with a fixed 5-digit marker and an 18-digit sequence, so codes are unique per data folder
and stable across restarts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Final

HONG_KONG: Final = timezone(timedelta(hours=8), "HKT")

_TEMPLATE_PREFIX: Final = "2"
_TEMPLATE_MARKER: Final = "00135"
_ISSUE_MARKER: Final = "19027"
_SEQUENCE_DIGITS: Final = 18


def _day(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(HONG_KONG).strftime("%Y%m%d")


def template_code(sequence: int, *, at_ms: int) -> str:
    """`2` + yyyyMMdd (Hong Kong date) + `00135` + 18-digit sequence: 32 characters."""
    return f"{_TEMPLATE_PREFIX}{_day(at_ms)}{_TEMPLATE_MARKER}{sequence:0{_SEQUENCE_DIGITS}d}"


def pass_id(sequence: int, *, at_ms: int) -> str:
    """yyyyMMdd (Hong Kong date) + `19027` + 18-digit sequence: 31 characters."""
    return f"{_day(at_ms)}{_ISSUE_MARKER}{sequence:0{_SEQUENCE_DIGITS}d}"


def seeded_user_id(index: int) -> str:
    """The 16-digit ids of the seeded users: 2160220000000000, 2160220000000001, ..."""
    return f"2160220{index:09d}"


def seeded_open_id(index: int) -> str:
    """The 24-character openIds of the seeded users (shaped like `fj398457jd8iue98d8w7w93j`)."""
    return f"sbxopenid{index:015d}"


def iso_timestamp(at_ms: int) -> str:
    """UTC, millisecond precision: `2024-05-22T01:12:21.000Z` (sorts as text)."""
    moment = datetime.fromtimestamp(at_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at_ms % 1000:03d}Z"


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
