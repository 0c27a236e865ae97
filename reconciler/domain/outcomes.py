"""What became of a create request, as values the client hands to apply.

Apply never reads attributes off exceptions: the client turns every answer into one of these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# The code of a rejection that never reached AlipayHK (no resultCode exists for it).
NOT_SENT: Final = "NOT_SENT"


@dataclass(frozen=True)
class Created:
    """AlipayHK created the template (result status S)."""

    template_code: str
    template_status: str | None


@dataclass(frozen=True)
class Rejected:
    """Nothing was created: AlipayHK said no (status F), or the request never left (`sent`)."""

    code: str  # the vendor's resultCode (e.g. ACCESS_DENIED), or NOT_SENT
    message: str  # the vendor's message (or why it was not sent), without repeated context
    hint: str | None
    sent: bool


@dataclass(frozen=True)
class Unknown:
    """The request left and its effect is not known: reconcile before retrying."""

    reason: str


TemplateOutcome = Created | Rejected | Unknown
