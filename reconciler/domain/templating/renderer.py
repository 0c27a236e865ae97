"""Renderer: compiles catalog values in the sandbox, caches them, runs them under the deadline."""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any, Final, TypeVar

from jinja2 import Template, meta, nodes
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.runtime import Macro, Undefined

from reconciler.domain.templating.budget import (
    BudgetName,
    BudgetSpent,
    CatalogBudget,
    RenderCost,
    WorkMeter,
)
from reconciler.domain.templating.deadline import Alarm, DeadlineExceeded
from reconciler.domain.templating.deadline import clock as deadline_clock
from reconciler.domain.templating.errors import (
    LIMIT_HINT,
    VALUE_FILE,
    TemplateProblem,
    batch_deadline_message,
    explain,
    forbidden_tag_column,
    undefined_problem,
)
from reconciler.domain.templating.limits import Refused, RenderLimits, text_over, text_size
from reconciler.domain.templating.memo import RenderMemo
from reconciler.domain.templating.parsing import parse_value
from reconciler.domain.templating.plain import PlainData, plain
from reconciler.domain.templating.sandbox import Sandbox
from reconciler.domain.templating.shapes import (
    Shape,
    name_numbers,
    name_texts,
    shape_names,
    shape_of,
    with_sentinels,
)
from reconciler.domain.templating.substitution import (
    Substitution,
    parse_substitution,
    substitute,
)

_T = TypeVar("_T")

_DEFAULT_LIMITS: Final = RenderLimits()
_NO_MACROS: Final[Mapping[str, str]] = MappingProxyType({})
_RESULT: Final = "__ipass_result"
_FORBIDDEN_TAGS: Final = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
_FORBIDDEN_MESSAGE: Final = (
    "include/import/extends are not allowed in catalog values; use a macro from catalog/macros/"
)
_GLOBALS: Final = frozenset({"range", "dict"})
_MACRO_FILE_NODES: Final = (nodes.Macro, nodes.Assign, nodes.AssignBlock)
# Jinja's own globals, also those the sandbox removes (`lipsum`, `cycler`, `joiner`,
# `namespace`): a variable by such a name reads as the global to anyone who knows Jinja.
_JINJA_GLOBALS: Final = frozenset(DEFAULT_NAMESPACE)
# Names Jinja gives a meaning of its own, so a variable by that name would be shadowed or unusable;
# `not` is the one word Jinja's grammar reads as an operator wherever it stands.
_JINJA_OWN: Final[Mapping[str, str]] = MappingProxyType(
    dict.fromkeys(("self", "loop", "caller", "varargs", "kwargs"), "a name Jinja sets itself")
    | dict.fromkeys(("true", "false", "none", "True", "False", "None"), "a Jinja constant")
    | {"not": "a Jinja operator"}
)
_JINJA_NAMES: Final = frozenset(_JINJA_OWN)
# Jinja reads some of these words as operators (`not`) or constants (`None`): left to Jinja.
_KEYWORDS: Final = frozenset(keyword.kwlist)


def needs_rendering(source: str) -> bool:
    """True iff `source` holds Jinja markup; plain strings are never compiled."""
    return "{{" in source or "{%" in source or "{#" in source


@dataclass(frozen=True, slots=True)
class _Compiled:
    template: Template
    expression: bool
    # A template shared by every value of one shape (`shapes.py`) renders with the value's texts.
    texts: Mapping[str, str | int] | None = None


class Renderer:
    """Renders catalog string values. Compiled templates are cached by source text, which is safe
    because the context is only given at render time.

    Macro names, the globals and Jinja's own names are reserved (`reserved_names`;
    `reserved_meaning` says what each one is): a context variable with the same name would
    silently hide them or be hidden, so the catalog loader refuses such variables. Macros see their
    arguments, the globals and every other macro, never the caller's context. Names starting with
    `_` stay private to their macro file. Top-level text and expressions in a macro file are
    dropped unrendered; only `{% macro %}` and `{% set %}` are kept.

    Values that are only text and `{{ name }}` or `{{ name.key }}` placeholders are substituted
    without compiling (`substitution.py`), to the same result; `fast_path=False` turns that off so
    tests can compare both paths. Values that differ only in their text share one compiled
    template (`shapes.py`), to the same result too; `share_shapes=False` turns that off. Calls of
    catalog macros are remembered by their arguments (`memo.py`); `remember_calls=False` turns
    that off.

    Every render is charged to one `WorkMeter` (`cost`): loop iterations, output characters, and
    the time spent in `deadline` blocks. With a `budget` (a whole catalog's), once any of them is
    spent every render fails at once with a `BudgetProblem` (`budget_spent` names which).

    Not thread-safe; meant to be used by one thread.
    """

    def __init__(
        self,
        macro_sources: Mapping[str, str] = _NO_MACROS,
        limits: RenderLimits = _DEFAULT_LIMITS,
        *,
        fast_path: bool = True,
        share_shapes: bool = True,
        remember_calls: bool = True,
        budget: CatalogBudget | None = None,
    ) -> None:
        self._limits = limits
        self._fast_path = fast_path
        self._share_shapes = share_shapes
        self._shapes: dict[tuple[str | int, ...], Template] = {}
        self._substitutions: dict[str, Substitution | None] = {}
        self._meter = WorkMeter(None)  # loading the macro files is not charged to the budget
        self._sandbox = Sandbox(limits, self._meter)
        self._alarm = Alarm()
        self._compiled: dict[str, _Compiled] = {}
        self._reads: dict[str, tuple[str, ...] | None] = {}
        self._renders = RenderMemo()
        self._macro_files: dict[str, tuple[str, Template]] = {}
        self._scope: dict[str, Any] = dict(self._sandbox.globals)
        self._macro_files_of: dict[str, str] = {}  # macro name -> the file defining it
        self._macros = self._load_macros(macro_sources)
        self._meter.restart(budget)
        self._sandbox.globals.update(self._macros)
        if remember_calls:
            self._sandbox.memo.remember(self._macros)
        self._scope.update(self._macros)
        self._reserved = frozenset(self._scope) | _JINJA_GLOBALS | _JINJA_NAMES
        self._not_substituted = self._reserved | _KEYWORDS

    @property
    def reserved_names(self) -> frozenset[str]:
        """Names a context variable must not use: globals, macros and Jinja's own names."""
        return self._reserved

    def reserved_meaning(self, name: str) -> str | None:
        """What `name` already is in a template (`None` if nothing): "a macro in <file>",
        "a Jinja global", "a Jinja constant", ... A variable by that name would hide it, or be
        hidden by it."""
        if name in self._macro_files_of:
            return f"a macro in {self._macro_files_of[name]}"
        if name in self._scope or name in _JINJA_GLOBALS:
            return "a Jinja global"
        return _JINJA_OWN.get(name)

    @property
    def cost(self) -> RenderCost:
        """What every render so far cost, all together."""
        return self._meter.cost

    @property
    def budget_spent(self) -> BudgetName | None:
        """The name of the catalog budget that ran out, if one did."""
        return self._meter.spent

    def render(self, source: str, context: Mapping[str, PlainData]) -> PlainData:
        """Renders one value. A value that is exactly `{{ expr }}` gives the expression's native
        plain data (int, float, bool, str, list, dict); anything else gives a string."""
        if not needs_rendering(source):
            return source
        if self._meter.spent is not None:
            raise self._meter.problem()
        # Once a batch's budget is spent every render fails, simple ones too; `_guarded` says so.
        value: PlainData = None
        if self._fast_path and not self._alarm.batch_expired:
            value = self._substitute(source, context)
        if value is None:
            compiled = self._compiled.get(source)
            if compiled is None:
                compiled = self._shared(source)
                if compiled is None:
                    compiled = self._guarded(lambda: self._compile(source), source, None, context)
                self._compiled[source] = compiled
            done = compiled
            value = self._guarded(
                lambda: self._execute(done, context), source, done.template, context
            )
        self._charge_output(value)
        return value

    def _charge_output(self, value: PlainData) -> None:
        """Charge a rendered value's characters to the catalog's budget; raise once it is spent
        (this runs for every value of a catalog)."""
        meter = self._meter
        if type(value) is str:
            meter.chars += len(value)
        else:
            meter.chars += text_size(value, self._limits.max_output_chars)
        if meter.chars > meter.max_chars:
            meter.spend("output_chars")
            raise meter.problem()

    def reads(self, source: str) -> tuple[str, ...] | None:
        """The context names `source` reads, sorted (macros and globals included: no context
        holds them); None if it does not parse (rendering it says why)."""
        try:
            return self._reads[source]
        except KeyError:
            pass
        found: tuple[str, ...] | None = ()
        if needs_rendering(source):
            try:
                tree = self._parse(source, VALUE_FILE)
                found = tuple(sorted(meta.find_undeclared_variables(tree)))
            except Exception:  # noqa: BLE001 - rendering it reports the problem, located
                found = None
        self._reads[source] = found
        return found

    def render_shared(self, source: str, context: Mapping[str, PlainData]) -> PlainData:
        """`render`, remembered by the values of the names `source` reads (`reads`): a value
        that reads only what many contexts share (catalog defaults reading `cdn`) renders once.

        A value that fails is not remembered (it fails again, for each context); an answer from
        memory charges the loop iterations and output the render charged, as rendering again
        would.
        """
        if not needs_rendering(source):
            return source
        names = self.reads(source)
        meter = self._meter
        if names is None or meter.spent is not None or self._alarm.batch_expired:
            return self.render(source, context)
        key = self._renders.key(source, names, context)
        found = self._renders.answer(key)
        if found is None:
            loops = meter.loops
            value = self.render(source, context)
            self._renders.keep(key, value, meter.loops - loops)
            return value
        value, loops = found
        if not meter.affords_loops(loops):
            return self.render(source, context)  # fails where rendering runs out, located
        meter.loops += loops
        self._charge_output(value)
        return value

    @contextmanager
    def deadline(self, seconds: float | None = None) -> Iterator[None]:
        """Arms one timer around many renders (a whole catalog file) instead of one per render.

        Inside the block `deadline_seconds` is not applied per value; the block's own budget
        (`seconds`, by default `deadline_seconds`) covers all of them. Once it is spent, every later
        render in the block fails at once with the same error, so a file with many loop bombs
        still stops on time. With a catalog budget the timer runs out no later than the catalog's
        `render_seconds`, and the time spent in the block is charged to it. Off the main thread no
        timer is armed (the time is still charged). Blocks do not nest.
        """
        alarm, meter = self._alarm, self._meter
        if alarm.batch_seconds is not None:
            raise RuntimeError("Renderer.deadline() blocks do not nest")
        budget = self._limits.deadline_seconds if seconds is None else seconds
        # With a catalog budget, the block's timer runs out no later than the catalog's time.
        left = meter.seconds_left()
        meter.catalog_deadline = left <= budget
        started = deadline_clock()
        armed = False
        try:
            if left <= 0:
                meter.add_seconds(0.0)  # marks the time budget spent: every render fails at once
            elif alarm.available():
                alarm.arm(min(budget, left))
                alarm.batch_seconds = min(budget, left)
                armed = True
            yield
        finally:
            if armed:
                alarm.batch_seconds = None
                alarm.disarm()
            meter.catalog_deadline = False
            meter.add_seconds(deadline_clock() - started)

    def _substitute(self, source: str, context: Mapping[str, PlainData]) -> str | int | None:
        """The value rendered without Jinja, or None if only Jinja can render it."""
        try:
            substitution = self._substitutions[source]
        except KeyError:
            substitution = parse_substitution(source, self._not_substituted)
            self._substitutions[source] = substitution
        if substitution is None:
            return None
        return substitute(substitution, context, self._limits.max_output_chars)

    # -- compiling -------------------------------------------------------------------------------

    def _parse(self, source: str, filename: str) -> nodes.Template:
        tree = parse_value(self._sandbox, source, filename, self._limits.max_int_bits)
        for node in tree.find_all(_FORBIDDEN_TAGS):
            column = forbidden_tag_column(source, node.lineno)
            raise TemplateProblem(_FORBIDDEN_MESSAGE, line=node.lineno, column=column)
        for name in tree.find_all(nodes.Name):
            if name.name == "self":
                raise undefined_problem("self", source, name.lineno, self._scope)
        return tree

    def _build(self, tree: nodes.Template, filename: str) -> Template:
        code = self._sandbox.compile(tree, filename=filename)
        # Names come from the scope passed as shared vars at render time; empty template globals
        # spare jinja from copying the environment's globals into every new context.
        return self._sandbox.template_class.from_code(self._sandbox, code, {})

    def _shared(self, source: str) -> _Compiled | None:
        """The template compiled for another value of the same shape, with this value's texts."""
        if not (self._share_shapes and self._shapes):
            return None
        shape = shape_of(source, self._limits.max_int_bits)
        template = None if shape is None else self._shapes.get(shape.key)
        if shape is None or template is None:
            return None
        return _Compiled(template, False, shape_names(shape))

    def _compile(self, source: str) -> _Compiled:
        tree = self._parse(source, VALUE_FILE)
        expression = _single_expression(source, tree)
        shape = None
        if self._share_shapes and expression is None:
            shape = shape_of(source, self._limits.max_int_bits)
        if shape is not None:
            template = self._compile_shape(tree, source, shape)
            if template is not None:
                self._shapes[shape.key] = template
                return _Compiled(template, False, shape_names(shape))
        if expression is not None:
            target = nodes.Name(_RESULT, "store", lineno=expression.lineno)
            tree = nodes.Template([nodes.Assign(target, expression, lineno=expression.lineno)])
            tree.set_environment(self._sandbox)
        return _Compiled(self._build(tree, VALUE_FILE), expression is not None)

    def _compile_shape(self, tree: nodes.Template, source: str, shape: Shape) -> Template | None:
        """The template every value of `shape` shares (None if this value cannot give it): its
        texts and literals become names, found by parsing it again with numbered sentinels."""
        if shape.numbers:
            tree = self._parse(with_sentinels(source), VALUE_FILE)
            if not name_numbers(tree, len(shape.numbers)):
                return None
        if not name_texts(tree, shape.texts):
            return None
        tree.set_environment(self._sandbox)
        return self._build(tree, VALUE_FILE)

    def _load_macros(self, sources: Mapping[str, str]) -> dict[str, Macro]:
        # Every module resolves names through one shared scope, filled once all files are loaded,
        # so a macro can call macros of any file whatever the load order.
        scope: dict[str, Any] = dict(self._sandbox.globals)
        owners: dict[str, str] = {}
        macros: dict[str, Macro] = {}
        for index, (display, source) in enumerate(sources.items()):
            filename = f"<macros {index}>"
            load = partial(self._load_macro_file, source, filename, display, scope)
            found = self._guarded(load, source, None, {}, display)
            for name, (macro, line) in found.items():
                _check_macro_name(name, display, line, owners)
                owners[name] = display
                macros[name] = macro
        scope.update(macros)
        self._macro_files_of = owners
        return macros

    def _load_macro_file(
        self, source: str, filename: str, display: str, scope: dict[str, Any]
    ) -> dict[str, tuple[Macro, int]]:
        tree = self._parse(source, filename)
        tree.body = [n for n in tree.body if isinstance(n, _MACRO_FILE_NODES)]
        template = self._build(tree, filename)
        self._macro_files[filename] = (display, template)
        module = template.make_module(vars=scope, shared=True)
        exported = vars(module)
        # In source order, so a duplicate is always reported at the same place.
        return {
            node.name: (exported[node.name], node.lineno)
            for node in tree.body
            if isinstance(node, nodes.Macro) and isinstance(exported.get(node.name), Macro)
        }

    # -- rendering -------------------------------------------------------------------------------

    def _execute(self, compiled: _Compiled, context: Mapping[str, PlainData]) -> PlainData:
        template = compiled.template
        names = {**self._scope, **context}
        if compiled.texts is not None:
            names.update(compiled.texts)
        jinja_context = template.new_context(names, shared=True)
        chunks = template.root_render_func(jinja_context)
        if compiled.expression:
            for _ in chunks:
                pass
            return self._plain_result(jinja_context.vars[_RESULT])
        return self._collect(chunks)

    def _collect(self, chunks: Iterator[str]) -> str:
        limit = self._limits.max_output_chars
        parts: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise text_over("output", limit)
            parts.append(chunk)
        text = "".join(parts)
        refuse_object_text(text)
        return text

    def _plain_result(self, value: Any) -> PlainData:
        if isinstance(value, Undefined):
            str(value)  # raises the undefined error with jinja's own message
        if value is None:
            raise Refused("expression gave none (null); a catalog value cannot be null")
        self._sandbox.check_text(value, "expression result")
        result = plain(value)
        refuse_object_text(result)
        return result

    def _guarded(
        self,
        work: Callable[[], _T],
        source: str,
        template: Template | None,
        context: Mapping[str, Any],
        display: str | None = None,
    ) -> _T:
        """Runs `work` under the deadline and turns anything it raises into a TemplateProblem."""
        alarm = self._alarm
        if alarm.batch_seconds is not None and alarm.expired:
            raise self._batch_expired(alarm.batch_seconds)
        own_timer = alarm.batch_seconds is None and alarm.available()
        if own_timer:
            alarm.arm(self._limits.deadline_seconds)
        alarm.rendering = True
        try:
            return work()
        except (Exception, DeadlineExceeded) as raised:  # noqa: BLE001 - the one boundary
            failure: BaseException = raised
        finally:
            alarm.rendering = False
            if own_timer:
                alarm.disarm()
        problem = self._explain(failure, source, template, context, display)
        if problem is failure:
            raise problem
        raise problem from failure

    def _explain(
        self,
        failure: BaseException,
        source: str,
        template: Template | None,
        context: Mapping[str, Any],
        display: str | None,
    ) -> TemplateProblem:
        names = {**self._scope, **context}
        problem = explain(
            failure,
            source=source,
            template=template,
            macro_files=self._macro_files,
            names=names,
            limits=self._limits,
        )
        if isinstance(failure, DeadlineExceeded) and self._alarm.batch_seconds is not None:
            problem = self._batch_expired(self._alarm.batch_seconds, problem.line)
        elif isinstance(failure, BudgetSpent):
            problem = self._meter.problem(problem.line, problem.column)
        if display is None:
            return problem
        where = f"{display}:{problem.line}" + (f":{problem.column}" if problem.column else "")
        return TemplateProblem(
            f"{where}: {problem.message}",
            line=problem.line,
            column=problem.column,
            hint=problem.hint,
        )

    def _batch_expired(self, seconds: float, line: int = 1) -> TemplateProblem:
        """The problem of a deadline block that ran out: the catalog's, or the block's own."""
        if self._meter.catalog_deadline:
            self._meter.spent = self._meter.spent or "render_seconds"
            return self._meter.problem(line)
        return TemplateProblem(batch_deadline_message(seconds), line=line, hint=LIMIT_HINT)


def _single_expression(source: str, tree: nodes.Template) -> nodes.Expr | None:
    """The expression of a value that is exactly `{{ expr }}`, else None."""
    if not (source.startswith("{{") and source.endswith("}}")) or len(tree.body) != 1:
        return None
    output = tree.body[0]
    if not isinstance(output, nodes.Output) or len(output.nodes) != 1:
        return None
    expression = output.nodes[0]
    return None if isinstance(expression, nodes.TemplateData) else expression


def _check_macro_name(name: str, display: str, line: int, owners: Mapping[str, str]) -> None:
    if name in owners:
        raise TemplateProblem(
            f"macro '{name}' is defined in both {owners[name]} and {display}; rename one of them",
            line=line,
        )
    if name in _GLOBALS:
        message = f"{display}: macro '{name}' would hide the global {name}()"
        raise TemplateProblem(message, line=line)


# A Python object's default text names its memory address: it differs on every run, so a payload
# holding it would look edited every time (and it leaks process details). Whatever path printed it
# (`|string`, `~`, `%`, `.format`), the address gives it away.
_OBJECT_TEXT: Final = re.compile(r"<[^\n]{1,200}? at 0x[0-9a-fA-F]{4,}>")


def refuse_object_text(value: PlainData) -> None:
    if isinstance(value, str):
        found = _OBJECT_TEXT.search(value)
        if found is not None:
            shown = found.group(0).split(" at 0x")[0] + ">"
            raise Refused(
                f"printed a Python object ({shown}) instead of a value; call it with () "
                "or remove it"
            )
    elif isinstance(value, list):
        for item in value:
            refuse_object_text(item)
    elif isinstance(value, dict):
        for item in value.values():
            refuse_object_text(item)
