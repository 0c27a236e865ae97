"""Headless Chromium for the preview tests: launching it offline, and measuring rendered pages.

Everything here reads the page as the browser laid it out (DOM APIs, computed styles, boxes and
screenshots), never the HTML text. No tests here.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote

import zxingcpp
from PIL import Image, ImageOps
from playwright.sync_api import Browser, BrowserContext, Locator, Page, Playwright, Route

# Debian's package; Playwright drives it and never downloads a browser of its own.
CHROMIUM: Final = Path("/usr/bin/chromium")
INSTALL_HINT: Final = (
    "headless Chromium is not installed: as root, run "
    "`apt-get install -y chromium chromium-driver` (Debian's packages; .ci/run does this)"
)
# Playwright adds --headless and a fresh --user-data-dir of its own, made in the temporary
# folder and removed when the browser closes; the host rule keeps any name from resolving even
# if a request slipped past the route below.
LAUNCH_ARGS: Final = (
    "--headless",
    "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
PHONE: Final = {"width": 375, "height": 812}
CARD_WIDTH_PX: Final = 343  # the page contract: a 375 px phone viewport less 16 px margins

# Records every Content-Security-Policy violation, so tests can see what the page refused.
# Added through the browser's debugging protocol, to which the page's CSP does not apply.
_RECORD_VIOLATIONS: Final = """
window.__ipassViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__ipassViolations.push(e.effectiveDirective + ' ' + e.blockedURI);
});
"""


# Fonts loaded and two frames drawn: the layout measured is the one the reviewer sees.
_SETTLED: Final = """
() => document.fonts.ready.then(() => new Promise((done) =>
  requestAnimationFrame(() => requestAnimationFrame(done))))
"""


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    return INSTALL_HINT


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=list(LAUNCH_ARGS), timeout=60_000
    )


@dataclass
class Offline:
    """A browser context that may load file:// URLs only; `blocked` lists what it refused, as
    (URL of the page that asked, URL asked for)."""

    context: BrowserContext
    blocked: list[tuple[str, str]] = field(default_factory=list)
    pages: dict[Path, Page] = field(default_factory=dict)

    def route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append((route.request.frame.url, url))
            route.abort("blockedbyclient")

    def open(self, path: Path) -> Page:
        """A new page showing `path`, loaded, its fonts ready and laid out."""
        page = self.context.new_page()
        page.goto(path.as_uri(), wait_until="load")
        page.evaluate(_SETTLED)
        return page

    def cached(self, path: Path) -> Page:
        """The page showing `path`, opened once; tests that share it only read it."""
        page = self.pages.get(path)
        if page is None:
            page = self.pages[path] = self.open(path)
        return page

    def close_cached(self) -> None:
        for page in self.pages.values():
            page.close()
        self.pages.clear()


OpenPage = Callable[[Offline, Path], Page]  # the `open_page` fixture: pages closed after the test


def offline_context(browser: Browser, *, bypass_csp: bool = False) -> Offline:
    """A phone-sized context, offline. `bypass_csp` lets tests prove escaping on its own."""
    context = browser.new_context(
        viewport=PHONE,  # type: ignore[arg-type]  # a ViewportSize TypedDict
        device_scale_factor=2,  # barcodes and screenshots sharp enough to decode and read
        bypass_csp=bypass_csp,
        service_workers="block",
        java_script_enabled=True,
    )
    offline = Offline(context)
    context.route("**/*", offline.route)
    context.add_init_script(script=_RECORD_VIOLATIONS)
    _CONTEXTS.append(offline)
    return offline


_CONTEXTS: Final[list[Offline]] = []


def close_cached_pages() -> None:
    """Closes the pages every context keeps open (`Offline.cached`)."""
    for offline in _CONTEXTS:
        offline.close_cached()


def violations(page: Page) -> list[str]:
    return [str(v) for v in page.evaluate("window.__ipassViolations || []")]


# -- geometry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """A card's box in page coordinates (CSS px), and whether anything covers its middle."""

    key: str
    locale: str
    side: str
    left: float
    top: float
    width: float
    height: float
    page_width: float
    page_height: float
    shown: bool  # display, visibility and opacity let it be seen
    on_top: bool  # the element at its middle is the card or inside it

    @property
    def inside_phone(self) -> bool:
        """Non-empty, within the page, and as wide as the phone's screen at most."""
        return (
            self.width > 0
            and self.height > 0
            and self.left >= 0
            and self.top >= 0
            and self.left + self.width <= PHONE["width"] + 0.5
            and self.top + self.height <= self.page_height + 0.5
        )


_CARD_BOXES: Final = """
() => Array.from(document.querySelectorAll('[data-card]')).map((card) => {
  card.scrollIntoView({block: 'start', inline: 'start'});
  const r = card.getBoundingClientRect();
  const cs = getComputedStyle(card);
  const y = r.top + Math.min(r.height, window.innerHeight - Math.max(r.top, 0)) / 2;
  const hit = document.elementFromPoint(r.left + r.width / 2, Math.max(y, 0));
  const root = document.scrollingElement;
  return {
    key: card.dataset.key || '', locale: card.dataset.locale || '', side: card.dataset.side || '',
    left: r.left + window.scrollX, top: r.top + window.scrollY, width: r.width, height: r.height,
    page_width: root.scrollWidth, page_height: root.scrollHeight,
    shown: cs.display !== 'none' && cs.visibility === 'visible' && Number(cs.opacity) > 0,
    on_top: hit !== null && card.contains(hit),
  };
})
"""


def card_boxes(page: Page) -> list[Box]:
    boxes = [Box(**box) for box in page.evaluate(_CARD_BOXES)]
    page.evaluate("window.scrollTo(0, 0)")
    return boxes


@dataclass(frozen=True)
class Measured:
    """One `data-field` element as laid out: its box against its content and its card."""

    key: str
    locale: str
    side: str
    field: str
    flagged: bool  # data-overflow="flagged"
    inline: bool
    scroll_width: int
    client_width: int
    left: float
    right: float
    card_left: float
    card_right: float
    text: str

    @property
    def overflows(self) -> bool:
        """Content wider than the box (1 px of rounding allowed), or a box sticking out of
        its card. An inline element has no client width: its box against the card's is used."""
        sticks_out = self.right > self.card_right + 1 or self.left < self.card_left - 1
        if self.inline:
            return sticks_out
        return self.scroll_width > self.client_width + 1 or sticks_out


_FIELDS: Final = """
(root) => Array.from((root || document).querySelectorAll('[data-card] [data-field]')).map((e) => {
  const card = e.closest('[data-card]');
  const r = e.getBoundingClientRect();
  const c = card.getBoundingClientRect();
  return {
    key: card.dataset.key || '', locale: card.dataset.locale || '', side: card.dataset.side || '',
    field: e.dataset.field, flagged: e.dataset.overflow === 'flagged',
    inline: getComputedStyle(e).display === 'inline',
    scroll_width: e.scrollWidth, client_width: e.clientWidth,
    left: r.left, right: r.right, card_left: c.left, card_right: c.right,
    text: e.textContent || '',
  };
})
"""


def measure_fields(page: Page) -> list[Measured]:
    return [Measured(**m) for m in page.evaluate(_FIELDS)]


# Latin runs outside any text that itself holds a bidi control: an override that leaks out of
# its field would lay these right to left (the first letter right of the last).
_REVERSED_RUNS: Final = r"""
() => {
  const controls = /[\u202a-\u202e\u2066-\u2069]/;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const reversed = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (controls.test(node.data)) continue;
    for (const m of node.data.matchAll(/[A-Za-z]{3,}/g)) {
      const first = document.createRange();
      first.setStart(node, m.index); first.setEnd(node, m.index + 1);
      const last = document.createRange();
      last.setStart(node, m.index + m[0].length - 1); last.setEnd(node, m.index + m[0].length);
      const a = first.getBoundingClientRect(), b = last.getBoundingClientRect();
      const sameLine = Math.abs(a.top - b.top) < 1;
      if (a.width > 0 && sameLine && a.left > b.left) reversed.push(m[0]);
    }
  }
  return reversed;
}
"""


def reversed_latin_runs(page: Page) -> list[str]:
    """Latin words drawn right to left: a bidi override that escaped its field."""
    return [str(word) for word in page.evaluate(_REVERSED_RUNS)]


# Everything that could run or load: the page contract allows none of it anywhere.
_ACTIVE: Final = """
() => {
  const found = [];
  for (const e of document.querySelectorAll('*')) {
    const tag = e.tagName.toLowerCase();
    if (['script', 'iframe', 'object', 'embed', 'frame', 'base', 'form'].includes(tag)) {
      found.push('<' + tag + '>');
    }
    for (const a of e.attributes) {
      const value = a.value.trim().toLowerCase();
      if (a.name.startsWith('on')) found.push('<' + tag + ' ' + a.name + '>');
      if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(a.name)
          && /^(javascript|vbscript|data:text)/.test(value)) {
        found.push('<' + tag + ' ' + a.name + '=' + value.slice(0, 40) + '>');
      }
    }
  }
  return found;
}
"""


def active_elements(page: Page) -> list[str]:
    """Scripts, frames, handlers and script URLs present in the DOM (the contract has none)."""
    return [str(item) for item in page.evaluate(_ACTIVE)]


def links(page: Page) -> list[str]:
    """Every live link target on the page, as written in its href."""
    hrefs = page.evaluate("Array.from(document.links, (a) => a.getAttribute('href'))")
    return [str(href) for href in hrefs]


_CLIPPERS: Final = """
(e) => {
  const found = [];
  for (let a = e; a && a !== document.body; a = a.parentElement) {
    const cs = getComputedStyle(a);
    if (cs.overflowX !== 'visible' || cs.textOverflow !== 'clip') {
      found.push(a.tagName.toLowerCase() + ' ' + cs.overflowX + ' ' + cs.textOverflow);
    }
  }
  return found;
}
"""


def clipping(locator: Locator) -> list[str]:
    """The element and its ancestors below <body> that hide or elide what passes their box."""
    return [str(item) for item in locator.evaluate(_CLIPPERS)]


def struck_texts(locator: Locator) -> list[str]:
    """Texts drawn struck through inside the element (itself included)."""
    texts = locator.evaluate(
        """(e) => [e, ...e.querySelectorAll('*')]
             .filter((d) => getComputedStyle(d).textDecorationLine.includes('line-through'))
             .map((d) => d.innerText.trim())"""
    )
    return [str(text) for text in texts]


@dataclass(frozen=True)
class Crop:
    """The image (or its placeholder) and the overlay marking what may be cropped, in CSS px."""

    image: tuple[float, float, float, float]  # left, top, right, bottom
    overlay: tuple[float, float, float, float]
    label: str

    @property
    def marks_bottom_third(self) -> bool:
        left, top, right, bottom = self.image
        height = bottom - top
        tolerance = max(2.0, 0.02 * height)
        expected = (left, top + 2 * height / 3, right, bottom)
        return all(abs(a - b) <= tolerance for a, b in zip(self.overlay, expected, strict=True))

    @property
    def square(self) -> bool:
        left, top, right, bottom = self.image
        return abs((right - left) - (bottom - top)) <= 1


def crop_of(card: Locator) -> Crop:
    found: dict[str, Any] = card.evaluate(
        """(card) => {
          const box = (e) => { const b = e.getBoundingClientRect();
                               return [b.left, b.top, b.right, b.bottom]; };
          const crop = card.querySelector('[data-crop]');
          return {image: box(card.querySelector('[data-field="imageUrl"]')),
                  overlay: box(crop), label: crop.innerText};
        }"""
    )
    return Crop(tuple(found["image"]), tuple(found["overlay"]), str(found["label"]))


def style_of(locator: Locator, *properties: str) -> dict[str, str]:
    values: dict[str, Any] = locator.evaluate(
        "(e, names) => Object.fromEntries(names.map((n) => [n, getComputedStyle(e)[n]]))",
        list(properties),
    )
    return {name: str(value) for name, value in values.items()}


# -- codes ---------------------------------------------------------------------------------------

ZXING_FORMAT: Final = {
    "QRCODE": zxingcpp.BarcodeFormat.QRCode,
    "CODE128": zxingcpp.BarcodeFormat.Code128,
    "EAN-13": zxingcpp.BarcodeFormat.EAN13,
}


@dataclass(frozen=True)
class Decoded:
    text: str
    format: str


def decode(png: bytes) -> list[Decoded]:
    """The codes a scanner reads in a screenshot, given a white quiet zone around it."""
    with Image.open(io.BytesIO(png)) as shot:
        image = ImageOps.expand(shot.convert("L"), border=40, fill=255)
    return [Decoded(code.text, str(code.format)) for code in zxingcpp.read_barcodes(image)]


def png_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as shot:
        return shot.size


def entry_pages(index: Page, out: Path) -> Iterator[tuple[str, str, Path]]:
    """(key, action, page file) for each entry the index lists, following its link."""
    rows: list[dict[str, str]] = index.evaluate(
        """() => Array.from(document.querySelectorAll('li[data-entry]'), (li) => ({
            key: li.dataset.entry, action: li.dataset.action || '',
            href: (li.querySelector('a[href]') || {getAttribute: () => ''}).getAttribute('href'),
        }))"""
    )
    for row in rows:
        yield row["key"], row["action"], (out / unquote(row["href"])).resolve()
