"""The plan explained to people: plain text for terminals and CI logs, Markdown for a PR.

Both read the plan's JSON document (`plan_document`), so they show the same facts as the JSON
form, and a saved plan file renders exactly like the plan it was saved from.
"""

from __future__ import annotations

from reconciler.domain.plan import Plan
from reconciler.domain.plan_document import PlanDocument, plan_document
from reconciler.domain.plan_render.markdown import DEFAULT_LIMIT, document_markdown
from reconciler.domain.plan_render.text import document_text

__all__ = ["DEFAULT_LIMIT", "plan_markdown", "plan_text"]


def plan_text(plan: Plan | PlanDocument, *, color: bool = False) -> str:
    """A proof sheet: a one-line summary, then one block per entry that is not unchanged.

    ANSI colours only with `color=True` (green create; yellow replace, retry, retire; red
    blocked and unknown).
    """
    return document_text(_document(plan), color=color)


def plan_markdown(plan: Plan | PlanDocument, *, limit: int = DEFAULT_LIMIT) -> str:
    """A pull-request comment shorter than `limit` characters (cut at an entry, with a note)."""
    return document_markdown(_document(plan), limit=limit)


def _document(plan: Plan | PlanDocument) -> PlanDocument:
    if isinstance(plan, PlanDocument):
        return plan
    # People see unchanged entries only as a list of keys: skip their details (most of a plan).
    return plan_document(plan, slim=True)
