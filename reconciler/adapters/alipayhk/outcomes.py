"""The client's answers as outcome values: `Created`, `Rejected` or `Unknown`, never exceptions.

Only what the outcome of a create can be is turned into a value. Everything else (credentials,
invalid input, a programming error) still raises: it says nothing about what AlipayHK did.
"""

from __future__ import annotations

from typing import Protocol

from reconciler.adapters.alipayhk import errors
from reconciler.adapters.alipayhk.results import TemplateCreated
from reconciler.domain.outcomes import NOT_SENT, Created, Rejected, TemplateOutcome, Unknown


class TemplateCreator(Protocol):
    """What `AlipayClient` offers for createTemplate (a fake in tests)."""

    def create_template(self, body: bytes, *, request_id: str) -> TemplateCreated: ...


def create_template_outcome(
    client: TemplateCreator, body: bytes, *, request_id: str
) -> TemplateOutcome:
    """Send one createTemplate and say what became of it."""
    try:
        created = client.create_template(body, request_id=request_id)
    except errors.Rejected as error:
        # The vendor's code and words only: the caller knows which call this was.
        return Rejected(error.result_code, error.result_message, error.hint, sent=True)
    except errors.NotSent as error:
        return Rejected(NOT_SENT, error.detail, error.hint, sent=False)
    except errors.AmbiguousOutcome as error:
        return Unknown(error.reason)
    return Created(created.template_code, created.status)
