"""The whole catalog's budget: what rendering all its files together may cost.

`RenderLimits` bounds one value, and a deadline bounds one file; neither stops a catalog of many
files that each stay just under those limits. A `CatalogBudget` bounds their sum, counted by a
`WorkMeter` that one `Renderer` shares across every value it renders:

* loop iterations: each `{% for %}` (and each `loop(...)` of a recursive loop) is charged the
  length of what it walks when it starts, so counting costs one addition per loop, not per item;
* output characters: the size of every rendered value;
* seconds: the time spent under the renderer's per-file deadline blocks (rendering and checking
  entries), enforced mid-render by arming each block's timer with no more than what is left.

Where the catalog is spread over worker processes each share gets its slice (`share`), so the
sum over all processes stays within the budget without the processes talking to each other.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Final, Literal, NamedTuple

from reconciler.domain.templating.errors import LIMIT_HINT, TemplateProblem
from reconciler.domain.templating.limits import Refused

BudgetName = Literal["loop_iterations", "output_chars", "render_seconds"]


@dataclass(frozen=True)
class CatalogBudget:
    """What rendering a whole catalog may cost, all files together (README: "What a value may
    contain"). Far above a normal catalog: 10,000 entries render in a few seconds, with no loop
    longer than a few dozen items and about a kilobyte of output each."""

    loop_iterations: int = 10_000_000
    output_chars: int = 100_000_000
    render_seconds: float = 60.0

    def share(self, files: int, of_files: int) -> CatalogBudget:
        """The slice of a worker process rendering `files` of the catalog's `of_files` files."""
        fraction = files / of_files if of_files else 1.0
        return CatalogBudget(
            loop_iterations=math.floor(self.loop_iterations * fraction),
            output_chars=math.floor(self.output_chars * fraction),
            render_seconds=self.render_seconds * fraction,
        )

    def limit(self, name: BudgetName) -> float:
        return float(getattr(self, name))


class RenderCost(NamedTuple):
    """What rendering cost so far (or, as a difference, what one file cost). A tuple, because
    two are made for every file."""

    loop_iterations: int = 0
    output_chars: int = 0
    render_seconds: float = 0.0

    def minus(self, other: RenderCost) -> RenderCost:
        return RenderCost(
            self.loop_iterations - other.loop_iterations,
            self.output_chars - other.output_chars,
            self.render_seconds - other.render_seconds,
        )

    def of(self, name: BudgetName) -> float:
        return float(getattr(self, name))


_UNITS: Final[dict[BudgetName, str]] = {
    "loop_iterations": "loop iterations",
    "output_chars": "characters",
    "render_seconds": "s",
}


def describe_cost(cost: RenderCost, name: BudgetName) -> str:
    """`4000000 loop iterations`, `1200 characters`, `1.25 s`."""
    if name == "render_seconds":
        return f"{cost.render_seconds:.2f} s"
    return f"{int(cost.of(name))} {_UNITS[name]}"


class BudgetSpent(Refused):
    """Raised by a counter inside a render once the catalog's budget is spent."""

    def __init__(self, name: BudgetName) -> None:
        super().__init__(f"the catalog's budget {name} is spent")
        self.name: BudgetName = name


class BudgetProblem(TemplateProblem):
    """The catalog's budget ran out while rendering this value. Every later render of the same
    renderer fails the same way at once; the catalog loader stops there and says which files
    cost the most."""

    def __init__(
        self, name: BudgetName, limit: float, *, line: int = 1, column: int | None = None
    ) -> None:
        shown = f"{limit:g}" if name == "render_seconds" else str(int(limit))
        super().__init__(
            f"the whole catalog's budget {name}={shown} is spent",
            line=line,
            column=column,
            hint=LIMIT_HINT,
        )
        self.name: BudgetName = name


class WorkMeter:
    """Counts the work of every render of one renderer against a budget (None: count only).

    Output is charged by `Renderer.render` itself (`chars` against `max_chars`), inline: it runs
    for every value of a catalog."""

    __slots__ = (
        "_max_loops",
        "budget",
        "catalog_deadline",
        "chars",
        "loops",
        "max_chars",
        "seconds",
        "spent",
    )

    def __init__(self, budget: CatalogBudget | None) -> None:
        # True while the armed deadline block ends when the catalog's time does (not the file's).
        self.catalog_deadline = False
        self.restart(budget)

    def restart(self, budget: CatalogBudget | None) -> None:
        """Counts from zero against `budget`."""
        self.budget = budget
        self.loops = 0
        self.chars = 0
        self.seconds = 0.0
        self.spent: BudgetName | None = None
        self._max_loops = budget.loop_iterations if budget is not None else sys.maxsize
        self.max_chars = budget.output_chars if budget is not None else sys.maxsize

    @property
    def cost(self) -> RenderCost:
        return RenderCost(self.loops, self.chars, self.seconds)

    def seconds_left(self) -> float:
        if self.budget is None:
            return math.inf
        return self.budget.render_seconds - self.seconds

    def affords_loops(self, count: int) -> bool:
        """Whether `count` more loop iterations stay within the budget."""
        return self.loops + count <= self._max_loops

    def charge_loops(self, count: int) -> None:
        self.loops += count
        if self.loops > self._max_loops:
            raise self.spend("loop_iterations")

    def add_seconds(self, seconds: float) -> None:
        self.seconds += seconds
        if self.budget is not None and self.spent is None and self.seconds_left() <= 0:
            self.spent = "render_seconds"

    def spend(self, name: BudgetName) -> BudgetSpent:
        if self.spent is None:
            self.spent = name
        return BudgetSpent(self.spent)

    def problem(self, line: int = 1, column: int | None = None) -> BudgetProblem:
        """The problem every render reports once the budget is spent."""
        name = self.spent or "render_seconds"
        limit = self.budget.limit(name) if self.budget is not None else math.inf
        return BudgetProblem(name, limit, line=line, column=column)
