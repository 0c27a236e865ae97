"""The code a customer shows at the till, drawn from a sample value by well-kept libraries:
QR codes by segno, CODE128 and EAN-13 barcodes by python-barcode.

Each drawing is made once per run (the samples are fixed), so a catalog of thousands of cards
pays for it once per code standard.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

_QR_SCALE: Final = 4
_BARCODE_NAMES: Final = {"CODE128": "code128", "EAN-13": "ean13"}


@dataclass(frozen=True)
class Drawing:
    """An inline SVG document (`svg`) or an image URL (`data_url`); exactly one is set."""

    svg: str | None = None
    data_url: str | None = None


def drawing(standard: str, value: str) -> Drawing | None:
    """The code for `value` in `standard`, or None for a standard that is not drawn."""
    if standard == "QRCODE":
        return Drawing(svg=qr_svg(value))
    if standard in _BARCODE_NAMES:
        return Drawing(data_url=barcode_data_url(standard, value))
    return None


@lru_cache(maxsize=64)
def qr_svg(value: str) -> str:
    """A full QR code (never a Micro QR, which wallets' scanners may not read) as SVG text.

    segno writes presentation attributes only (no `style`), so the page's Content Security
    Policy lets it draw inline.
    """
    import segno

    code = segno.make_qr(value, error="m")
    out = io.BytesIO()
    code.save(
        out, kind="svg", xmldecl=False, svgns=True, scale=_QR_SCALE, svgclass=None, lineclass=None
    )
    return out.getvalue().decode("ascii")


@lru_cache(maxsize=64)
def barcode_data_url(standard: str, value: str) -> str:
    """A barcode as a `data:image/svg+xml` URL for an `<img>`.

    python-barcode styles its SVG with `style` attributes, which the page's Content Security
    Policy would block inline; inside an image they apply, and the policy allows `data:` images.
    """
    import barcode
    from barcode.writer import SVGWriter

    drawn = barcode.get(_BARCODE_NAMES[standard], value, writer=SVGWriter())
    out = io.BytesIO()
    drawn.write(out, options={"write_text": False, "module_height": 12.0, "quiet_zone": 2.0})
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")
