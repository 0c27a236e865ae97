"""Body dates: epoch milliseconds on the wire, several readable forms accepted on input (1.9).

The vendor sends and expects epoch milliseconds as a JSON number. An older vendor copy uses
`yyyy-MM-dd HH:mm:ss` (Hong Kong time) and a known client sends numeric strings (conflicts #2, #3);
catalog authors write ISO-8601. All of them become an `int` of milliseconds here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Annotated, Final

from pydantic import PlainValidator

from reconciler.domain.contract.codes import ResultCode, describe, shown, vendor_error
from reconciler.domain.contract.limits import (
    DATE_MAX_YEAR,
    DATE_MIN_YEAR,
    HONG_KONG_UTC_OFFSET_HOURS,
)

HONG_KONG: Final = timezone(timedelta(hours=HONG_KONG_UTC_OFFSET_HOURS), "HKT")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)

ACCEPTED_FORMS: Final = (
    "epoch milliseconds (1796090400000), 2026-12-01 (the start of that day in Hong Kong; for "
    "an end date, its end), 2026-12-01 10:00:00 (Hong Kong time) or 2026-12-01T10:00:00+08:00"
)
_BARE_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_ONE_DAY_MS: Final = 24 * 3600 * 1000
NUMERIC_FORMS: Final = "epoch milliseconds as a number (1796090400000) or a string of digits"

_DIGITS: Final = re.compile(r"[0-9]{1,20}")
_DATE_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
    re.ASCII,
)


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // _ONE_MS


MIN_MS: Final = _millis(datetime(DATE_MIN_YEAR, 1, 1, tzinfo=HONG_KONG))
END_MS: Final = _millis(datetime(DATE_MAX_YEAR + 1, 1, 1, tzinfo=HONG_KONG))  # exclusive


def format_hk(ms: int) -> str:
    """`1796090400000` -> `2026-12-01 10:00 HKT` (for messages; `ms` within the accepted years)."""
    return (_EPOCH + ms * _ONE_MS).astimezone(HONG_KONG).strftime("%Y-%m-%d %H:%M HKT")


def _in_range(ms: int, what: str) -> int:
    if MIN_MS <= ms < END_MS:
        return ms
    raise vendor_error(
        ResultCode.PARAM_ILLEGAL,
        f"{what} is outside the years {DATE_MIN_YEAR}..{DATE_MAX_YEAR}; dates are {ACCEPTED_FORMS}",
    )


@lru_cache(maxsize=4096)  # catalogs repeat the same few dates; parsing costs microseconds
def _text_millis(text: str) -> int | None:
    """Epoch ms of one of the documented text forms (no offset = Hong Kong time), else None."""
    if _DATE_TIME.fullmatch(text) is None:  # only the documented shapes, not all of ISO 8601
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:  # month 13, 31 April, an offset of 24 hours or more
        return None
    return _millis(moment if moment.tzinfo else moment.replace(tzinfo=HONG_KONG))


def _numeric(value: object, accepted: str) -> int | None:
    """The value as an int of ms if it is one (a number, or digits); refuses bool and float."""
    if isinstance(value, bool | float):
        raise vendor_error(ResultCode.PARAM_ILLEGAL, f"must be {accepted}, not {describe(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def to_epoch_millis(value: object) -> int:
    """Any accepted date form -> epoch ms; raises a vendor error (PARAM_ILLEGAL) otherwise."""
    ms = _numeric(value, f"a date: {ACCEPTED_FORMS}")
    if ms is not None:
        return _in_range(ms, describe(ms))
    if isinstance(value, str):
        ms = _text_millis(value)
        if ms is not None:
            return _in_range(ms, shown(value))
        raise vendor_error(
            ResultCode.PARAM_ILLEGAL, f"{shown(value)} is not a date; use {ACCEPTED_FORMS}"
        )
    raise vendor_error(
        ResultCode.PARAM_ILLEGAL, f"must be a date: {ACCEPTED_FORMS}; not {describe(value)}"
    )


def to_end_millis(value: object) -> int:
    """An end date: like `to_epoch_millis`, but a bare date means the END of that day in Hong
    Kong (23:59:59.999), as people mean "valid until 31 December"."""
    if isinstance(value, str) and _BARE_DATE.fullmatch(value.strip()):
        start = to_epoch_millis(value.strip())
        return _in_range(start + _ONE_DAY_MS - 1, shown(value))
    return to_epoch_millis(value)


def to_numeric_millis(value: object) -> int:
    """dataInfo times: a number of ms or a numeric string (conflict #3) -> epoch ms."""
    ms = _numeric(value, NUMERIC_FORMS)
    if ms is None:
        raise vendor_error(
            ResultCode.PARAM_ILLEGAL, f"must be {NUMERIC_FORMS}, not {describe(value)}"
        )
    return _in_range(ms, describe(ms))


EpochMillis = Annotated[int, PlainValidator(to_epoch_millis, json_schema_input_type=int | str)]
"""A body date (`startDate`, `endDate`, `bizCreate`): any form of ACCEPTED_FORMS -> epoch ms."""

EndMillis = Annotated[int, PlainValidator(to_end_millis, json_schema_input_type=int | str)]
"""An end date (`endDate`): a bare date is the end of that day in Hong Kong."""

NumericMillis = Annotated[int, PlainValidator(to_numeric_millis, json_schema_input_type=int | str)]
"""A dataInfo time (`$startTime_..$`): epoch ms as a number or a numeric string -> epoch ms."""
