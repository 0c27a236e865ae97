"""The plan as data: one typed step per entry, and what the plan was computed from.

Every catalog entry and every state entry in scope gets exactly one step. Computing it does no
I/O; applying it and printing it are two separate consumers of the same immutable data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, assert_never

from reconciler.domain.retirement import Retirement as Retirement  # noqa: PLC0414 - re-exported

if TYPE_CHECKING:  # annotations only: `ipass plan --help` need not load pydantic and the state
    from pydantic import JsonValue

    from reconciler.domain.state import TemplateRecord


class Action(StrEnum):
    CREATE = "create"
    NOOP = "no-op"
    BLOCKED = "blocked"
    REPLACE = "replace"
    RETIRE = "retire"
    UNKNOWN = "unknown"
    RETRY = "retry"
    MOVE = "move"
    ADOPT = "adopt"


# Steps that make apply call AlipayHK or change the state.
CHANGES = frozenset(
    {Action.CREATE, Action.REPLACE, Action.RETIRE, Action.RETRY, Action.MOVE, Action.ADOPT}
)


@dataclass(frozen=True)
class Desired:
    """A catalog entry ready to send: the full body (with requestId) and its identity."""

    key: str
    source: str
    payload: dict[str, JsonValue]
    payload_hash: str
    # Intents written in the catalog (never sent to AlipayHK).
    revision: int = 1
    moved_from: tuple[str, ...] = ()
    adopt: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldChange:
    path: str
    old: JsonValue
    new: JsonValue
    added: bool = False
    removed: bool = False


@dataclass(frozen=True, kw_only=True)
class Create:
    """A new key: publish it."""

    action: ClassVar[Action] = Action.CREATE
    key: str
    reason: str
    desired: Desired
    send: dict[str, JsonValue]  # the exact body, with its derived requestId
    generation: int


@dataclass(frozen=True, kw_only=True)
class NoOp:
    """Published and unchanged, or retired earlier and gone from the catalog."""

    action: ClassVar[Action] = Action.NOOP
    key: str
    reason: str
    desired: Desired | None
    recorded: TemplateRecord


@dataclass(frozen=True, kw_only=True)
class Blocked:
    """Published, then edited: AlipayHK has no update API."""

    action: ClassVar[Action] = Action.BLOCKED
    key: str
    reason: str
    desired: Desired
    recorded: TemplateRecord
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, kw_only=True)
class Replace:
    """Publish the edited entry as a new template; the old one stays live, in history."""

    action: ClassVar[Action] = Action.REPLACE
    key: str
    reason: str
    desired: Desired
    recorded: TemplateRecord
    changes: tuple[FieldChange, ...]
    send: dict[str, JsonValue]
    generation: int


@dataclass(frozen=True, kw_only=True)
class Retire:
    """Gone from the catalog: recorded as retired; the template stays live until its end."""

    action: ClassVar[Action] = Action.RETIRE
    key: str
    reason: str
    recorded: TemplateRecord


@dataclass(frozen=True, kw_only=True)
class Unknown:
    """An earlier create's outcome is not known: a person must find out first."""

    action: ClassVar[Action] = Action.UNKNOWN
    key: str
    reason: str
    desired: Desired | None
    recorded: TemplateRecord
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True, kw_only=True)
class Retry:
    """Re-send the request in doubt, byte for byte, with the same requestId."""

    action: ClassVar[Action] = Action.RETRY
    key: str
    reason: str
    desired: Desired | None
    recorded: TemplateRecord
    changes: tuple[FieldChange, ...]
    send: dict[str, JsonValue]
    generation: int


@dataclass(frozen=True, kw_only=True)
class Move:
    """A published entry renamed in the catalog (`moved_from:`): its state moves, no API call.

    With `send`, the content changed and the revision was raised: after the move, a new
    template is published for the new key (the old one stays live, in history).
    """

    action: ClassVar[Action] = Action.MOVE
    key: str
    reason: str
    old_key: str
    desired: Desired
    recorded: TemplateRecord
    changes: tuple[FieldChange, ...]
    send: dict[str, JsonValue] | None
    generation: int


@dataclass(frozen=True, kw_only=True)
class Adopt:
    """A template that already exists at AlipayHK (`adopt: CODE`): recorded, nothing sent."""

    action: ClassVar[Action] = Action.ADOPT
    key: str
    reason: str
    desired: Desired
    template_code: str


@dataclass(frozen=True, kw_only=True)
class Vanished:
    """A published key gone from the catalog without being declared retired: blocks the plan."""

    action: ClassVar[Action] = Action.BLOCKED
    key: str
    reason: str
    recorded: TemplateRecord


PlanStep = Create | NoOp | Blocked | Replace | Retire | Unknown | Retry | Move | Adopt | Vanished


def step_source(step: PlanStep) -> str | None:
    """The catalog file of the entry, else the one recorded with its template."""
    match step:
        case Create() | Blocked() | Replace() | Move() | Adopt():
            return step.desired.source
        case NoOp() | Unknown() | Retry():
            return step.desired.source if step.desired is not None else step.recorded.source
        case Retire() | Vanished():
            return step.recorded.source
        case _:
            assert_never(step)


@dataclass(frozen=True)
class PlanBinding:
    """What the plan was computed from; a saved plan applies only to exactly this."""

    environment: str
    endpoint: str
    merchant_id: str
    lineage: str | None
    serial: int
    catalog_hash: str


@dataclass(frozen=True)
class PlanOptions:
    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    retry_unknown: bool = False


@dataclass(frozen=True)
class Plan:
    binding: PlanBinding
    options: PlanOptions
    steps: tuple[PlanStep, ...]
    counts: Mapping[Action, int] = field(default_factory=dict)
    # Things a reviewer should know that block nothing (a create that looks like a rename).
    warnings: tuple[str, ...] = ()
    # Entries known to the catalog or the state that the selectors left out.
    outside: int = 0

    @property
    def has_changes(self) -> bool:
        return any(step.action in CHANGES for step in self.steps)

    def of(self, action: Action) -> tuple[PlanStep, ...]:
        return tuple(step for step in self.steps if step.action is action)
