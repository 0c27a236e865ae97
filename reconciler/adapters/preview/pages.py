"""The preview's pages as HTML text, from our own templates with autoescaping.

These templates are ipass's, shipped in the package; the catalog's Jinja (a sandbox, in
domain.templating) never sees them. Every value from the catalog or the state reaches the page
through autoescaping; the only unescaped markup is the QR code's SVG, drawn by segno from a
fixed sample value.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup, escape

from reconciler.adapters.preview.codes import Drawing, drawing
from reconciler.domain.preview import (
    CardView,
    CodeView,
    EntryView,
    FieldView,
    ImageView,
    PreviewSheet,
    ProblemKind,
)
from reconciler.domain.preview.measure import (
    BOXES,
    CARD_PADDING_PX,
    CARD_WIDTH_PX,
    LOGO_GAP_PX,
    LOGO_PX,
)

# No scripts, no frames, no forms, no fonts or connections; images over https (the catalog's)
# or inline (the barcodes); the one stylesheet beside the pages.
CSP: Final = (
    "default-src 'none'; img-src https: data:; style-src 'self'; base-uri 'none'; "
    "form-action 'none'"
)
_CSS_CLASSES: Final = {"brandName": "brand", "name": "name", "subName": "sub"}
# The customer's words for a text that is not set (not the API's names).
_WORDS: Final = {
    "brandName": "Brand",
    "name": "Name",
    "subName": "Subtitle",
    "description": "Description",
}


_NO_MARKS: Final = Markup("")


@dataclass(frozen=True)
class _Box:
    css: str
    width: int
    font: int
    bold: bool


def _marks(field: FieldView | ImageView) -> Markup:
    """The attributes that mark a field: its problems, a change, a predicted overflow.

    In Python rather than a template macro: it runs for every field of every card, and a Jinja
    macro call costs several times more. Problem kinds are our own enum values; escaped anyway.
    """
    if not (field.flags or field.changed or (isinstance(field, FieldView) and field.overflow)):
        return _NO_MARKS  # most fields of most cards
    parts = []
    if field.flags:
        parts.append(Markup(' data-flagged="{}"').format(" ".join(field.flags)))
    if field.changed:
        parts.append(Markup(' data-changed="true"'))
    if isinstance(field, FieldView) and field.overflow:
        parts.append(Markup(' data-overflow="flagged"'))
    return Markup("").join(parts)


def _flags(flags: tuple[ProblemKind, ...]) -> Markup:
    """`data-flagged` for an element without marks of its own (price, code, button)."""
    return Markup(' data-flagged="{}"').format(" ".join(flags)) if flags else Markup("")


def _card_marks(card: CardView) -> Markup:
    """A card with a problem of its own (a missing locale) is flagged as a whole."""
    kinds = [problem.kind for problem in card.problems if problem.field == "card"]
    return Markup(' data-flagged="{}"').format(" ".join(kinds)) if kinds else Markup("")


def _text(field: FieldView, tag: str, css: str) -> Markup:
    """One of the card's texts (brand, name, subtitle, description) in its element.

    In Python, as are the rows below: these run for every card, and template code costs several
    times more than the markup it writes. Each catalog value goes through escape() once.
    """
    head = f'<{tag} class="{css}{" unset" if field.text is None else ""}" '
    head += f'data-field="{escape(field.name)}"{_marks(field)}>'
    if field.text is None:
        return Markup(f"{head}{_WORDS[field.name]} not set</{tag}>")  # noqa: S704 - escaped
    return Markup(f"{head}<bdi>{escape(field.text)}</bdi></{tag}>")  # noqa: S704 - escaped


def _dates(card: CardView) -> Markup:
    rows = [
        f'<dt>{label}</dt><dd class="{"unset" if field.text is None else ""}" '
        f'data-field="{escape(field.name)}"{_marks(field)}>{escape(field.text or "not set")}</dd>'
        for label, field in (("Valid from", card.start_date), ("until", card.end_date))
    ]
    return Markup("".join(rows))  # noqa: S704 - each value escaped above


def _details(card: CardView) -> Markup:
    """The card's detail rows (`<dt>`/`<dd>`, one a line), each catalog value escaped once."""
    rows = [
        _detail_row(label, field)
        for label, field in (
            ("Categories", card.categories),
            ("Stock", card.stock),
            ("Exposure", card.exposure),
            ("Ticket", card.ticket),
            ("Merchant", card.merchant),
            ("Also valid at merchants", card.biz_mids),
            ("Order page", card.order_page_link),
            ("Detail page", card.detail_link),
        )
    ]
    rows += [
        _url_row(label, view)
        for label, view in (("Logo URL", card.merchant_logo), ("Image URL", card.image))
    ]
    return Markup("".join(rows))  # noqa: S704 - values escaped in _detail_row, _url_row


def _detail_row(label: str, field: FieldView) -> str:
    head = f'<dt>{label}</dt><dd class="{"unset" if field.text is None else ""}" '
    head += f'data-field="{escape(field.name)}"{_marks(field)}>'
    if field.text is None:
        return f"{head}not set</dd>\n"
    return f"{head}<bdi>{escape(field.text)}</bdi></dd>\n"


def _url_row(label: str, view: ImageView) -> str:
    checked = f" ({escape(view.checked)})" if view.checked else ""
    return f"<dt>{label}</dt><dd><bdi>{escape(view.url or 'not set')}</bdi>{checked}</dd>\n"


def _draw(view: CodeView) -> Drawing | None:
    return drawing(view.standard, view.sample) if view.sample is not None else None


class PageRenderer:
    """Renders the index, one page per entry and the stylesheet (templates compiled once)."""

    @cached_property
    def _env(self) -> Environment:
        env = Environment(
            loader=PackageLoader("reconciler.adapters.preview", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        env.globals["draw"] = _draw
        env.globals["marks"] = _marks
        env.globals["card_marks"] = _card_marks
        env.globals["flags"] = _flags
        env.globals["text"] = _text
        env.globals["dates"] = _dates
        env.globals["details"] = _details
        env.globals["csp"] = CSP
        return env

    @cached_property
    def _card(self) -> Template:
        return self._env.get_template("card.html.j2")

    def index(self, sheet: PreviewSheet) -> str:
        template = self._env.get_template("index.html.j2")
        return template.render(sheet=sheet, environment=sheet.environment, root="")

    def entry(self, entry: EntryView, environment: str) -> str:
        return self._card.render(entry=entry, environment=environment, root="../")

    def stylesheet(self) -> str:
        boxes = [
            (name, _Box(_CSS_CLASSES[name], box.width_px, box.font_px, box.bold))
            for name, box in BOXES.items()
        ]
        return self._env.get_template("preview.css.j2").render(
            boxes=boxes,
            card_width=CARD_WIDTH_PX,
            padding=CARD_PADDING_PX,
            inner=CARD_WIDTH_PX - 2 * CARD_PADDING_PX,
            logo=LOGO_PX,
            logo_gap=LOGO_GAP_PX,
        )
