"""Render single string values of already-parsed catalog YAML in a locked Jinja box.

Catalog files can be edited by anyone with a pull request, and they are rendered inside a pipeline
that holds the signing key (RELIABILITY.md invariant 7). So:

* The environment is an `ImmutableSandboxedEnvironment` with `StrictUndefined`, no loader (nothing
  can read a file), no extensions, `autoescape=False` (values are JSON payload text, not HTML).
* Globals are only a bounded `range`, `dict` (builds a plain dict from keywords, nothing else) and
  the catalog macros. `lipsum`, `cycler`, `joiner` and `namespace` are removed: none is needed to
  build a payload, and `namespace` is the one way to carry mutable state across loop iterations.
  `self` is rejected before compiling, so templates cannot reach their `TemplateReference`.
* Filters: every jinja filter except `random` (a payload must render the same on every run, or its
  hash changes) and `pprint` (Python repr, a debugging aid). Each one is wrapped to cap its width
  arguments and the size of what it reads and returns. All jinja tests are kept (pure predicates).
* Methods of plain data are allow-listed: read-only ones that cannot amplify size.
* `{% include %}`, `{% import %}`, `{% from %}` and `{% extends %}` are refused before compiling.
* Work is bounded by `RenderLimits`: sizes are checked *before* a big value is built (repetition,
  `**`, widths, concatenation, `%` and `str.format`, `join`, `replace`, ...), output is counted as
  it streams, and a CPU-time deadline backs up everything else. The deadline uses SIGPROF, so it
  only works in the main thread; elsewhere only the counting limits apply.
* Numbers: every literal, operator and filter result is an int of at most `max_int_bits` or a
  finite float; inf and NaN are refused where they are made.
* A whole catalog is bounded too (`CatalogBudget`): loop iterations, output characters and time
  summed over every value a renderer renders.
* Rendered text is never rendered again.
* Values that are only text and `{{ name }}` / `{{ name.key }}` placeholders skip compiling; they
  render to exactly what the Jinja path gives, and anything doubtful takes the Jinja path.
* Values that differ only in their text (thousands of descriptions around the same expressions)
  share one compiled template, and calls of catalog macros are remembered by their arguments;
  both give exactly what compiling and calling every time gives, the same work charged.

The modules, each holding one concern:

* `renderer`: `Renderer`, compiling, caching and running values and macro files;
* `substitution`: the fast path for plain substitutions;
* `shapes`: one compiled template per shape of value; `memo`: remembered calls of catalog macros;
* `sandbox`: the environment and its interception of operators, calls and `str.format`;
* `filters`: the wrapped filters; `codegen`: the compiled code's own buffers and `~`;
* `limits`: `RenderLimits`, size estimates and capped containers; `deadline`: the SIGPROF timer;
* `budget`: `CatalogBudget`, what rendering a whole catalog may cost, and the meter counting it;
* `parsing`: number literals within limits, loops routed through the counter;
* `errors`: `TemplateProblem` and how a failure becomes one located line; `plain`: plain data.

Only this package may import jinja2 (an import-linter contract enforces it); everything else uses
the names below.
"""

from reconciler.domain.templating.budget import (
    BudgetName,
    BudgetProblem,
    CatalogBudget,
    RenderCost,
    describe_cost,
)
from reconciler.domain.templating.errors import TemplateProblem
from reconciler.domain.templating.limits import RenderLimits
from reconciler.domain.templating.plain import PlainData
from reconciler.domain.templating.renderer import Renderer, needs_rendering

__all__ = [
    "BudgetName",
    "BudgetProblem",
    "CatalogBudget",
    "PlainData",
    "RenderCost",
    "RenderLimits",
    "Renderer",
    "TemplateProblem",
    "describe_cost",
    "needs_rendering",
]
