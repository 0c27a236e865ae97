"""Reading the preview's pages as a browser's parser would (no tests here): html.parser builds a
small element tree, and the codes drawn on a page are decoded back to their values."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

import zxingcpp
from PIL import Image, ImageDraw

VOID: Final = frozenset({"meta", "link", "img", "br", "hr", "input", "source", "path", "rect"})


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def all(self) -> list[Element]:
        found = [self]
        for child in self.children:
            if isinstance(child, Element):
                found += child.all()
        return found

    def find(self, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.all()
            if all(e.attrs.get(name.replace("_", "-")) == v for name, v in attrs.items())
        ]

    def one(self, **attrs: str) -> Element:
        found = self.find(**attrs)
        assert len(found) == 1, (attrs, len(found))
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(path: Path) -> Element:
    return parse_text(path.read_text(encoding="utf-8"))


def parse_text(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root


def field_of(card: Element, name: str) -> Element:
    return card.one(data_field=name)


# --- codes -----------------------------------------------------------------------------------

_MOVE: Final = re.compile(r"([Mmh])(-?\d+(?:\.\d+)?)(?:\s+(-?\d+(?:\.\d+)?))?")


def qr_image(svg: Element, pixels: int = 8) -> Image.Image:
    """Draw segno's path (`M x y h n m dx dy ...`: runs of dark modules) as an image."""
    path = next(e for e in svg.all() if e.tag == "path")
    size = int(svg.attrs["width"]) // 4  # the drawing is at scale 4
    image = Image.new("L", (size * pixels, size * pixels), 255)
    draw = ImageDraw.Draw(image)
    x = y = 0.0
    for op, a, b in _MOVE.findall(path.attrs["d"]):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            run = float(a)
            top = int(y - 0.5)
            draw.rectangle(
                (int(x) * pixels, top * pixels, int(x + run) * pixels - 1, (top + 1) * pixels - 1),
                fill=0,
            )
            x += run
    return image


_RECT: Final = re.compile(r'<rect x="([\d.]+)mm" y="[\d.]+mm" width="([\d.]+)mm"')


def barcode_image(data_url: str, pixels_per_mm: int = 20) -> Image.Image:
    """Draw python-barcode's SVG (one rect per bar, in mm) as an image."""
    svg = base64.b64decode(data_url.split(",", 1)[1]).decode("utf-8")
    bars = [(float(x), float(w)) for x, w in _RECT.findall(svg)]
    right = max(x + w for x, w in bars) + 3
    image = Image.new("L", (int(right * pixels_per_mm), 60), 255)
    draw = ImageDraw.Draw(image)
    for x, w in bars:
        left = round(x * pixels_per_mm)
        draw.rectangle((left, 5, round((x + w) * pixels_per_mm) - 1, 55), fill=0)
    return image


FORMATS: Final = {
    "QRCODE": zxingcpp.BarcodeFormat.QRCode,
    "CODE128": zxingcpp.BarcodeFormat.Code128,
    "EAN-13": zxingcpp.BarcodeFormat.EAN13,
}


def decoded(image: Image.Image) -> list[tuple[zxingcpp.BarcodeFormat, str]]:
    return [(r.format, r.text) for r in zxingcpp.read_barcodes(image)]
