"""The problems a reviewer should see on a card: text that will be cut, URLs that are not https,
dates that passed or end before they start, images of the wrong size, ratio or weight."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from reconciler.domain.contract import limits as lim
from reconciler.domain.contract.dates import END_MS, MIN_MS, format_hk
from reconciler.domain.preview.measure import BOXES, estimated_width, visible_line
from reconciler.domain.preview.model import CardProblem, ImageFacts, ProblemKind
from reconciler.domain.text import printable

# Vendor limits per locale, in UTF-16 units (limits.vendor_length).
TEXT_LIMITS: Final[Mapping[str, Mapping[str, int]]] = MappingProxyType(
    {
        "zh_HK": {
            "name": lim.NAME_MAX_ZH,
            "subName": lim.SUB_NAME_MAX_ZH,
            "brandName": lim.BRAND_NAME_MAX_ZH,
            "description": lim.DESCRIPTION_MAX_ZH,
        },
        "en_US": {
            "name": lim.NAME_MAX_EN,
            "subName": lim.SUB_NAME_MAX_EN,
            "brandName": lim.BRAND_NAME_MAX_EN,
            "description": lim.DESCRIPTION_MAX_EN,
        },
    }
)
IMAGE_SIDE_PX: Final = 350  # 2.1: a square image, 350 x 350 recommended
IMAGE_MAX_BYTES: Final = 100_000  # 2.1: "under 100 KB"; the stricter reading of KB


def hidden_problems(name: str, value: str, *, lines: bool = False) -> list[CardProblem]:
    """A customer-facing text holding invisible or direction-changing characters (bidi
    overrides and isolates, zero-width spaces, controls; not the joiners emoji need): what the
    customer sees is not what the reviewer reads. `lines`: line breaks are meant (description)."""
    if value.isprintable():  # no control, format or separator character at all
        return []
    text = value.replace("\r\n", "\n") if lines else value
    escapes = [printable(char) for char in text if not (lines and char == "\n")]
    shown = [escape for escape in dict.fromkeys(escapes) if escape.startswith("\\")]
    if not shown:
        return []
    return [
        CardProblem(
            ProblemKind.HIDDEN_CHARACTERS,
            name,
            f"contains invisible or direction-changing characters (shown as {', '.join(shown)}): "
            "customers would see this text reordered or with hidden characters",
        )
    ]


def text_problems(name: str, value: str, locale: str) -> tuple[list[CardProblem], bool]:
    """Problems of one locale text, and whether its one-line box will overflow."""
    found, overflow = _text_problems(name, value, locale)
    return list(found), overflow


# A text is usually on both sides of its entry (published and catalog): measured once.
@lru_cache(maxsize=4096)
def _text_problems(name: str, value: str, locale: str) -> tuple[tuple[CardProblem, ...], bool]:
    found = hidden_problems(name, value, lines=name == "description")
    limit = TEXT_LIMITS.get(locale, {}).get(name)
    length = lim.vendor_length(value)
    too_long = limit is not None and length > limit
    if too_long:
        found.append(
            CardProblem(
                ProblemKind.TOO_LONG,
                name,
                f"{length} characters; AlipayHK takes at most {limit} for {locale} {name} "
                "and may cut or refuse the rest",
            )
        )
    box = BOXES.get(name)
    if box is None:
        return tuple(found), False
    width = estimated_width(visible_line(value), box)
    wide = width > box.width_px
    if wide:
        found.append(
            CardProblem(
                ProblemKind.OVERFLOW,
                name,
                f"about {width:.0f} px wide on one line of {box.width_px} px: the end will be "
                "cut on a phone",
            )
        )
    return tuple(found), too_long or wide


def date_problems(
    start: int | None, end: int | None, now_ms: int, *, will_send: bool
) -> list[CardProblem]:
    found: list[CardProblem] = []
    if start is not None and end is not None and end <= start:
        found.append(
            CardProblem(
                ProblemKind.ENDS_BEFORE_START,
                "endDate",
                f"ends {_when(end)}, not after it starts ({_when(start)})",
            )
        )
    if end is not None and end < now_ms:
        found.append(
            CardProblem(
                ProblemKind.ENDED,
                "endDate",
                f"ended {_when(end)}: customers can no longer use it",
            )
        )
    if will_send and start is not None and start < now_ms:
        found.append(
            CardProblem(
                ProblemKind.STARTS_IN_PAST,
                "startDate",
                f"starts {_when(start)}, in the past: AlipayHK refuses a new template that "
                "starts before it is created",
            )
        )
    return found


def _when(ms: int) -> str:
    return format_hk(ms) if MIN_MS <= ms < END_MS else f"{ms} ms"


def image_problems(
    name: str, url: str, facts: ImageFacts | None, *, checked: bool
) -> list[CardProblem]:
    """`checked`: an image source was given, so a missing file is a problem too."""
    if not url.startswith("https://"):
        return [
            CardProblem(
                ProblemKind.NOT_HTTPS,
                name,
                "not an https:// URL: AlipayHK shows images over https only",
            )
        ]
    if not checked:
        return []
    if facts is None or facts.error is not None:
        why = facts.error if facts is not None and facts.error else "no file found for it"
        return [CardProblem(ProblemKind.IMAGE_UNAVAILABLE, name, visible_line(why))]
    return _image_file_problems(name, facts)


def _image_file_problems(name: str, facts: ImageFacts) -> list[CardProblem]:
    found: list[CardProblem] = []
    width, height = facts.width or 0, facts.height or 0
    if name == "imageUrl" and width != height:
        found.append(
            CardProblem(
                ProblemKind.IMAGE_RATIO,
                name,
                f"{width} x {height} px is not square: the card shows it at 1:1, cropped",
            )
        )
    if name == "imageUrl" and (width, height) != (IMAGE_SIDE_PX, IMAGE_SIDE_PX):
        found.append(
            CardProblem(
                ProblemKind.IMAGE_SIZE,
                name,
                f"{width} x {height} px; AlipayHK asks for {IMAGE_SIDE_PX} x {IMAGE_SIDE_PX}",
            )
        )
    if facts.size_bytes is not None and facts.size_bytes >= IMAGE_MAX_BYTES:
        found.append(
            CardProblem(
                ProblemKind.IMAGE_BYTES,
                name,
                f"{facts.size_bytes:,} bytes; AlipayHK takes images under 100 KB",
            )
        )
    return found
