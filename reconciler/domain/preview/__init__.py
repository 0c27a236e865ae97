"""The card preview as data: a view of every card per locale, plan-aware, with its problems.

Pure: from plan steps and their payloads to frozen views. The page writer (adapters.preview)
turns them into HTML.
"""

from __future__ import annotations

from reconciler.domain.preview.model import (
    LOCALES,
    ButtonView,
    CardProblem,
    CardRow,
    CardView,
    CodeView,
    EntryView,
    FieldView,
    ImageFacts,
    ImageView,
    IndexRow,
    Invalid,
    PreviewSheet,
    PriceView,
    ProblemFile,
    ProblemKind,
)
from reconciler.domain.preview.sheet import (
    CatalogFaults,
    SheetInputs,
    SheetOutline,
    page_view,
    sheet_index,
    sheet_outline,
    slug_of,
)

__all__ = [
    "LOCALES",
    "ButtonView",
    "CardProblem",
    "CardRow",
    "CardView",
    "CatalogFaults",
    "CodeView",
    "EntryView",
    "FieldView",
    "ImageFacts",
    "ImageView",
    "IndexRow",
    "Invalid",
    "PreviewSheet",
    "PriceView",
    "ProblemFile",
    "ProblemKind",
    "SheetInputs",
    "SheetOutline",
    "page_view",
    "sheet_index",
    "sheet_outline",
    "slug_of",
]
