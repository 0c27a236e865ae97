"""The preview as data: what each card shows, field by field, and what is wrong with it.

Values here are plain text already made visible (hidden characters shown as escapes); the page
writer escapes them for HTML exactly once. No HTML and no I/O in this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from reconciler.domain.plan import Action

Side = Literal["catalog", "published"]
LOCALES: Final = ("zh_HK", "en_US")
# The card fields whose text is per locale.
LOCALE_TEXTS: Final = frozenset({"brandName", "name", "subName", "description"})


class ProblemKind(StrEnum):
    """What a reviewer should see on a card; the values are the page's `data-problem` names."""

    TOO_LONG = "too-long"
    OVERFLOW = "overflow"
    MISSING_LOCALE = "missing-locale"
    NOT_HTTPS = "not-https"
    ENDED = "ended"
    ENDS_BEFORE_START = "ends-before-start"
    STARTS_IN_PAST = "starts-in-past"
    IMAGE_SIZE = "image-size"
    IMAGE_RATIO = "image-ratio"
    IMAGE_BYTES = "image-bytes"
    IMAGE_UNAVAILABLE = "image-unavailable"
    HIDDEN_CHARACTERS = "hidden-characters"  # bidi controls, zero-width and control characters
    INVALID = "invalid"  # any other rule of AlipayHK's the catalog breaks (the message says which)


class Invalid(StrEnum):
    """The index's label for an entry the catalog cannot send: listed before every plan action."""

    INVALID = "invalid"


@dataclass(frozen=True)
class CardProblem:
    kind: ProblemKind
    field: str  # the `data-field` of the element holding the faulty value ("card" for none)
    message: str
    where: str | None = None  # file:line:column and field path, when the catalog check found it
    path: str | None = None  # the catalog's field path (localeInfo.en_US.name, product, ...)

    @property
    def label(self) -> str:
        """What the problem is labelled with: the catalog's field path, as `ipass validate`
        names it, not the card element showing it."""
        return self.path or self.field

    def counted(self, locale: str | None) -> tuple[str, ...]:
        """What makes this problem one problem: its kind, field and message (and, for a text of
        one locale, that locale: its zh_HK and en_US texts are two values)."""
        own = locale if self.field in LOCALE_TEXTS and locale is not None else ""
        return (self.kind.value, self.field, self.message, own)


@dataclass(frozen=True)
class FieldView:
    """One customer-facing value. `text` is None when the field is not set."""

    name: str
    text: str | None
    flags: tuple[ProblemKind, ...] = ()
    changed: bool = False
    overflow: bool = False  # predicted to overflow its one-line box (shown, never hidden)


@dataclass(frozen=True)
class PriceView:
    current: str | None
    original: str | None  # shown struck through; None when equal to the current price
    changed: bool = False
    flags: tuple[ProblemKind, ...] = ()


@dataclass(frozen=True)
class ImageFacts:
    """What was found about an image file: read from a local folder or fetched."""

    url: str
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    error: str | None = None  # why the file could not be read or decoded


@dataclass(frozen=True)
class ImageView:
    name: str  # imageUrl or merchantLogo
    url: str | None  # the URL as visible text
    src: str | None  # the raw URL when it is https and images are checked (the page loads it)
    checked: str | None  # what the check found ("350 x 350, 42 KB"), None if not checked
    flags: tuple[ProblemKind, ...] = ()
    changed: bool = False


@dataclass(frozen=True)
class CodeView:
    code_type: str  # qrcode, barcode, promocode, none (or what a published payload held)
    standard: str  # QRCODE, CODE128, EAN-13, ... as written
    sample: str | None  # the sample value drawn, None when nothing is drawn
    changed: bool = False
    flags: tuple[ProblemKind, ...] = ()


@dataclass(frozen=True)
class ButtonView:
    label: str | None  # what the button says; None: no button
    link: str | None  # the link as visible text (never a live link)
    detail: str | None  # urlType and browserOpen, when given
    changed: bool = False
    flags: tuple[ProblemKind, ...] = ()


@dataclass(frozen=True)
class CardView:
    """One card as the customer sees it, in one locale, from one side of a change."""

    key: str
    locale: str
    side: Side
    merchant_logo: ImageView
    brand_name: FieldView
    name: FieldView
    sub_name: FieldView
    image: ImageView
    price: PriceView
    start_date: FieldView
    end_date: FieldView
    code: CodeView
    button: ButtonView
    description: FieldView
    categories: FieldView
    stock: FieldView
    exposure: FieldView
    ticket: FieldView
    biz_mids: FieldView
    merchant: FieldView  # the merchant the template is created for (the environment's)
    order_page_link: FieldView
    detail_link: FieldView
    problems: tuple[CardProblem, ...]
    invalid: bool = False  # drawn from an entry that fails the catalog check: it is not sent
    unchanged: bool = False  # the catalog's card is the published one (a no-op)


@dataclass(frozen=True)
class CardRow:
    """Cards shown side by side: the two locales, or one locale published and in the catalog."""

    title: str
    cards: tuple[CardView, ...]


@dataclass(frozen=True)
class EntryView:
    key: str
    slug: str  # the file name of its page, without .html
    action: Action | Invalid
    reason: str
    badge: str | None  # "new" for a create
    note: str | None  # e.g. a retire: "stays live until ..."
    product: str
    title: str  # a short name for the index
    source: str | None
    rows: tuple[CardRow, ...]
    # Problems no card field holds (an unknown field, a wrong intent), shown above the cards.
    entry_problems: tuple[CardProblem, ...] = ()
    # What identifies the published template: (label, value), e.g. ("Published as", code).
    facts: tuple[tuple[str, str], ...] = ()
    # For a retired template (now or earlier), on the index: "stays live until ..." or "ended ...".
    until: str | None = None

    @property
    def problems(self) -> int:
        """Distinct problems, as `ipass validate` counts them: one shown on every card (or on
        both sides of a change) is one problem; a locale's own text problem is its locale's."""
        found = {
            problem.counted(card.locale)
            for row in self.rows
            for card in row.cards
            for problem in card.problems
        }
        return len(found | {problem.counted(None) for problem in self.entry_problems})


@dataclass(frozen=True)
class ProblemFile:
    """A catalog file whose problems belong to no card: it could not be read or rendered, or
    the problem is about the catalog as a whole (a duplicate key, the render budget)."""

    file: str
    problems: tuple[CardProblem, ...]


@dataclass(frozen=True)
class IndexRow:
    """What the index shows of an entry (its page shows the rest)."""

    key: str
    slug: str
    action: Action | Invalid
    badge: str | None
    until: str | None
    title: str
    product: str
    problems: int

    @classmethod
    def of(cls, view: EntryView) -> IndexRow:
        return cls(
            view.key,
            view.slug,
            view.action,
            view.badge,
            view.until,
            view.title,
            view.product,
            view.problems,
        )


@dataclass(frozen=True)
class PreviewSheet:
    """The index: a row per entry, in page order (the pages are written from the views)."""

    environment: str
    summary: str
    entries: tuple[IndexRow, ...]
    problem_files: tuple[ProblemFile, ...] = ()

    @property
    def problems(self) -> int:
        return sum(entry.problems for entry in self.entries)

    @property
    def invalid(self) -> int:
        """Entries the catalog cannot send."""
        return sum(1 for entry in self.entries if entry.action is Invalid.INVALID)
