"""Deterministic fault injection: what can go wrong between a client and AlipayHK, on demand.

A `FaultPlan` is a seed and a list of rules. Each rule applies to requests that reached an
operation (authenticated, on createTemplate or createPass), optionally on one path only and only
for the next `count` such requests; it fires on each with probability `rate`, drawn from its own
PRNG seeded from the plan's seed and the rule's position, so the same plan and the same sequence
of requests always injects the same faults.

Rules are written as JSON (the admin endpoint) or as `KIND[:key=value,...]` (the `--fault` flag of
`ipass sandbox serve`), e.g. `unknown_exception:rate=0.2,path=createPass,count=10`.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Final, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from reconciler.adapters.sandbox.errors import SandboxError
from reconciler.domain.contract.endpoints import CREATE_PASS_PATH, CREATE_TEMPLATE_PATH

OPERATION_PATHS: Final = {
    "createTemplate": CREATE_TEMPLATE_PATH,
    "createPass": CREATE_PASS_PATH,
}


class FaultKind(StrEnum):
    LATENCY = "latency"  # sleep `seconds` before handling
    UNKNOWN_EXCEPTION = "unknown_exception"  # answer UNKNOWN_EXCEPTION (U)
    HTTP_500 = "http_500"  # answer HTTP 500 with an unsigned HTML page
    RATE_LIMIT = "rate_limit"  # answer REQUEST_TRAFFIC_EXCEED_LIMIT (U) with Retry-After
    DROP_AFTER_COMMIT = "drop_after_commit"  # do the work, then close the socket unanswered
    SLOW_AFTER_COMMIT = "slow_after_commit"  # do the work, then wait `seconds` before answering
    BAD_SIGNATURE = "bad_signature"  # answer normally, with a response signature that fails


# At most one of these decides the outcome of a request: the first that fires, in plan order.
_OUTCOMES: Final = frozenset(
    {
        FaultKind.UNKNOWN_EXCEPTION,
        FaultKind.HTTP_500,
        FaultKind.RATE_LIMIT,
        FaultKind.DROP_AFTER_COMMIT,
        FaultKind.SLOW_AFTER_COMMIT,
    }
)
_NEEDS_SECONDS: Final = frozenset({FaultKind.LATENCY, FaultKind.SLOW_AFTER_COMMIT})
_RATE_LIMIT_STATUSES: Final = (200, 429)
_MAY_COMMIT: Final = frozenset({FaultKind.UNKNOWN_EXCEPTION, FaultKind.HTTP_500})


class FaultRule(BaseModel):
    """One kind of fault, where it applies, how often and for how long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    rate: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    path: str | None = Field(
        default=None, description="createTemplate, createPass or the full path; absent = both."
    )
    count: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Apply to the next N matching requests only."
    )
    seconds: Annotated[float, Field(ge=0.0, le=3600.0)] = Field(
        default=0.0,
        description="latency and slow_after_commit: the delay; rate_limit: Retry-After.",
    )
    after_commit: bool = Field(
        default=False,
        description="unknown_exception and http_500: do the work first (the create happened).",
    )
    http_status: int = Field(
        default=200, description="rate_limit only: the HTTP status of the answer (200 or 429)."
    )

    @field_validator("path")
    @classmethod
    def _operation_path(cls, path: str | None) -> str | None:
        if path is None or path in OPERATION_PATHS.values():
            return path
        if path not in OPERATION_PATHS:
            known = ", ".join(OPERATION_PATHS)
            raise ValueError(f"{path!r} is not an operation; use one of {known}")
        return OPERATION_PATHS[path]

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.kind in _NEEDS_SECONDS and self.seconds <= 0:
            raise ValueError(f"{self.kind} needs seconds > 0")
        if self.after_commit and self.kind not in _MAY_COMMIT:
            raise ValueError("after_commit applies to unknown_exception and http_500 only")
        if self.http_status not in _RATE_LIMIT_STATUSES:
            raise ValueError("http_status must be 200 or 429")
        if self.http_status != 200 and self.kind is not FaultKind.RATE_LIMIT:
            raise ValueError("http_status applies to rate_limit only")
        return self

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """`KIND[:key=value,...]`, e.g. `latency:seconds=0.5,path=createPass`."""
        kind, _, rest = text.partition(":")
        fields: dict[str, str] = {"kind": kind.strip()}
        for pair in filter(None, (p.strip() for p in rest.split(","))):
            key, equals, value = pair.partition("=")
            if not equals:
                raise SandboxError(f"fault {text!r}: {pair!r} is not key=value", hint=_FAULT_HINT)
            fields[key.strip()] = value.strip()
        try:
            return cls.model_validate(fields)
        except ValidationError as error:
            raise SandboxError(f"fault {text!r}: {_first_error(error)}", hint=_FAULT_HINT) from None


class FaultPlan(BaseModel):
    """The faults in force: a seed and rules. The empty plan injects nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    faults: tuple[FaultRule, ...] = ()

    @classmethod
    def from_json(cls, data: bytes) -> FaultPlan:
        try:
            return cls.model_validate_json(data)
        except ValidationError as error:
            raise SandboxError(f"fault plan: {_first_error(error)}", hint=_FAULT_HINT) from None


_FAULT_HINT: Final = (
    "write KIND[:key=value,...], e.g. unknown_exception:rate=0.5,path=createPass; kinds: "
    + ", ".join(k.value for k in FaultKind)
    + "; keys: rate, path, count, seconds, "
    "after_commit, http_status"
)


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request. `fired` names every fault applied, for the request log."""

    latency_s: float = 0.0
    outcome: FaultRule | None = None
    bad_signature: bool = False
    fired: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return ",".join(self.fired)


NO_FAULT: Final = FaultDecision()


@dataclass
class _ActiveRule:
    rule: FaultRule
    remaining: int | None
    # Seeded on purpose: fault injection must be reproducible, it protects no secret.
    rng: random.Random = field(repr=False)


def _describe(rule: FaultRule) -> str:
    if rule.after_commit:
        return f"{rule.kind}_after_commit"
    return str(rule.kind)


class FaultInjector:
    """The running state of a plan: remaining counts and PRNGs. Thread-safe."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._active: list[_ActiveRule] = []
        self.replace(plan or FaultPlan())

    def replace(self, plan: FaultPlan) -> None:
        """Start `plan` afresh: counts and PRNGs reset, so the same plan replays the same faults."""
        active = [
            _ActiveRule(rule, rule.count, random.Random(f"{plan.seed}/{index}"))  # noqa: S311 -- reproducible faults, not secrets
            for index, rule in enumerate(plan.faults)
        ]
        with self._lock:
            self._plan = plan
            self._active = active

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def remaining(self) -> list[int | None]:
        with self._lock:
            return [active.remaining for active in self._active]

    def decide(self, path: str) -> FaultDecision:
        """Draw the faults for one request on `path`; every matching rule consumes one use."""
        if not self._active:
            return NO_FAULT
        latency = 0.0
        outcome: FaultRule | None = None
        bad_signature = False
        fired: list[str] = []
        with self._lock:
            for active in self._active:
                rule = active.rule
                if (rule.path is not None and rule.path != path) or active.remaining == 0:
                    continue
                if active.remaining is not None:
                    active.remaining -= 1
                if active.rng.random() >= rule.rate:
                    continue
                if rule.kind is FaultKind.LATENCY:
                    latency += rule.seconds
                elif rule.kind is FaultKind.BAD_SIGNATURE:
                    bad_signature = True
                elif outcome is None and rule.kind in _OUTCOMES:
                    outcome = rule
                else:
                    continue  # an outcome already decided this request
                fired.append(_describe(rule))
        if not fired:
            return NO_FAULT
        return FaultDecision(latency, outcome, bad_signature, tuple(fired))
