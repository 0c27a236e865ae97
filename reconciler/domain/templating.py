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
* Methods of plain data are allow-listed (`_METHODS`): read-only ones that cannot amplify size.
* `{% include %}`, `{% import %}`, `{% from %}` and `{% extends %}` are refused before compiling.
* Work is bounded by `RenderLimits`: sizes are checked *before* a big value is built (repetition,
  `**`, widths, concatenation, `%` and `str.format`, `join`, `replace`, ...), output is counted as
  it streams, and a wall-clock deadline backs up everything else. The deadline uses SIGALRM, so it
  only works in the main thread; elsewhere only the counting limits apply.
* Rendered text is never rendered again.

This is the only module allowed to import jinja2 (an import-linter contract enforces it).
"""

from __future__ import annotations

import difflib
import json
import re
import signal
import threading
import time
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial, wraps
from types import BuiltinMethodType, FrameType, MappingProxyType, MethodType, TracebackType
from typing import Any, Final, TypeVar

from jinja2 import StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import (
    SecurityError,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.parser import Parser
from jinja2.runtime import Context, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter

from reconciler.errors import InvalidInput

PlainData = None | bool | int | float | str | list["PlainData"] | dict[str, "PlainData"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class RenderLimits:
    """Budgets for one rendered value. Defaults are far above what a wallet card needs."""

    max_output_chars: int = 65_536
    max_sequence_len: int = 10_000
    max_int_bits: int = 256
    deadline_seconds: float = 1.0  # 0 arms no timer; the counting limits still apply


class TemplateProblem(InvalidInput):
    """A catalog value cannot be rendered. `line`/`column` are 1-based, inside the template."""

    def __init__(
        self, message: str, *, line: int = 1, column: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.line = line
        self.column = column


def needs_rendering(source: str) -> bool:
    """True iff `source` holds Jinja markup; plain strings are never compiled."""
    return "{{" in source or "{%" in source or "{#" in source


_DEFAULT_LIMITS: Final = RenderLimits()
_NO_MACROS: Final[Mapping[str, str]] = MappingProxyType({})
_VALUE_FILE: Final = "<catalog value>"
_RESULT: Final = "__ipass_result"
_FORBIDDEN_TAGS: Final = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)
_FORBIDDEN_MESSAGE: Final = (
    "include/import/extends are not allowed in catalog values; use a macro from catalog/macros/"
)
_LIMIT_HINT: Final = "rendering limits keep a hostile catalog from stalling the pipeline"
_REMOVED_FILTERS: Final = frozenset({"random", "pprint"})
# Filters that only pick from what they are given, never copy or print it, so they need no
# input size check. (`sort`, `unique`, `groupby`, `dictsort`, `min`, `max` are not among them:
# they lowercase every string by default.)
_STRUCTURAL_FILTERS: Final = frozenset(
    {"abs", "attr", "batch", "count", "d", "default", "first", "float", "int", "items", "last"}
    | {"length", "list", "map", "reject", "rejectattr", "reverse", "round", "select"}
    | {"selectattr", "slice"}
)
# (position after the filtered value, keyword) of arguments that set a width or a count.
_WIDTH_ARGUMENTS: Final[Mapping[str, tuple[tuple[int, str], ...]]] = MappingProxyType(
    {
        "center": ((0, "width"),),
        "indent": ((0, "width"),),
        "truncate": ((0, "length"), (3, "leeway")),
        "wordwrap": ((0, "width"),),
        "batch": ((0, "linecount"),),
        "slice": ((0, "slices"),),
        "urlize": ((0, "trim_url_limit"),),
        "tojson": ((0, "indent"),),
    }
)
_WIDTH_METHODS: Final = frozenset({"center", "ljust", "rjust", "zfill"})
_STR_METHODS: Final = frozenset(
    {"capitalize", "casefold", "center", "count", "endswith", "find", "format", "format_map"}
    | {"index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "islower", "isnumeric"}
    | {"isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "partition"}
    | {"removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition"}
    | {"rsplit", "rstrip", "split", "splitlines", "startswith", "strip", "swapcase", "title"}
    | {"upper", "zfill"}
)
_METHODS: Final[tuple[tuple[type, frozenset[str]], ...]] = (
    (str, _STR_METHODS),
    (bool, frozenset()),
    (int, frozenset()),
    (float, frozenset({"is_integer"})),
    (list, frozenset({"count", "index"})),
    (tuple, frozenset({"count", "index"})),
    (dict, frozenset({"get", "items", "keys", "values"})),
)
# Concrete types first: isinstance against the ABCs at the end is slow.
_CONTAINERS: Final = (list, tuple, dict, set, frozenset, KeysView, ValuesView, ItemsView)
_PRINTF_FIELD: Final = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d*))?[hlL]?"
    r"(?P<kind>.?)",
    re.DOTALL,
)
_FLOAT_DIGITS: Final = 320  # '%f' of 1e308 prints 309 digits before the point
_NUMBER: Final = re.compile(r"\d+")
_OPENER: Final = re.compile(r"\{[{%]")
_FORBIDDEN_TAG: Final = re.compile(r"\{%[-+]?\s*(?:include|import|from|extends)\b")
_UNDEFINED_NAME: Final = re.compile(r"^'(?P<name>[^']+)' is undefined$")
_UNDEFINED_ATTRIBUTE: Final = re.compile(r"has no attribute '(?P<name>[^']+)'$")
_GLOBALS: Final = frozenset({"range", "dict"})
_MACRO_FILE_NODES: Final = (nodes.Macro, nodes.Assign, nodes.AssignBlock)
# What `{{ }}` may print (an Undefined passes so that it raises its own error).
_PRINTABLE: Final = (str, int, float, list, tuple, dict, type(None), Undefined)
# Names Jinja gives a meaning of its own, so a variable by that name would be shadowed or unusable.
_JINJA_NAMES: Final = frozenset(
    {"self", "loop", "caller", "varargs", "kwargs"}
    | {"true", "false", "none", "True", "False", "None"}
)


class _Refused(Exception):
    """A limit stopped the render; becomes a located TemplateProblem at the boundary."""


class _DeadlineExceeded(BaseException):
    """Raised from the SIGALRM handler. A BaseException so no `except Exception` inside Jinja or a
    filter can swallow it."""


def _over(what: str, amount: str, limit: str, value: float) -> _Refused:
    return _Refused(f"{what} ({amount}) is over the limit {limit}={value}")


def _text_over(what: str, limit: int) -> _Refused:
    return _over(what, f"more than {limit} characters", "max_output_chars", limit)


def _text_size(value: object, budget: int) -> int:
    """Upper estimate of `len(str(value))` that stops counting once it passes `budget`.

    Lists can share one big string many times over ([big] * 10000) at almost no memory cost; only
    turning them into text is expensive, so every place that does so asks here first. Each element
    is charged before it is queued, which keeps the queue itself smaller than `budget`.
    """
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, _CONTAINERS):
        return _scalar_size(value)
    total = 0
    pending: list[object] = [value]
    while pending and total <= budget:
        item = pending.pop()
        if isinstance(item, str):
            total += len(item) + 4  # quotes, comma and space of a nested repr
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            if total <= budget:
                pending.extend(item.keys())
                pending.extend(item.values())
        elif isinstance(item, _CONTAINERS):
            total += 2 + 2 * len(item)
            if total <= budget:
                pending.extend(item)
        else:
            total += _scalar_size(item)
    return total


def _scalar_size(value: object) -> int:
    if isinstance(value, int):
        return value.bit_length() // 3 + 2
    return 26 if isinstance(value, float) else 80  # reprs of floats and objects are short


def _fail_if_undefined(value: object) -> None:
    """`cycler.__init__` should say "'cycler' is undefined", not that `__init__` of an Undefined
    is unsafe. StrictUndefined raises its own error when turned into text."""
    if isinstance(value, Undefined):
        str(value)


def _argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    if index < len(args):
        return args[index]
    return kwargs.get(name)


class _OutputBuffer(list[str]):
    """Output of a macro, `{% set %}` block, `{% filter %}` or `{% call %}`, capped as it grows."""

    __slots__ = ("_left", "_limit")

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._left = limit

    def append(self, text: str) -> None:
        self._left -= len(text)
        if self._left < 0:
            raise _text_over("block output", self._limit)
        super().append(text)

    def extend(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.append(text)


class _BoundedIterator(Iterator[Any]):
    """Wraps the lazy results of filters (`map`, `select`, ...) so materialising them is capped:
    `[big] * 10000 | map('upper') | list` would otherwise build 10000 fresh copies of `big`."""

    __slots__ = ("_items", "_left", "_limit")

    def __init__(self, items: Iterator[Any], limit: int) -> None:
        self._items = items
        self._limit = limit
        self._left = limit

    def __next__(self) -> Any:
        item = next(self._items)
        self._left -= _text_size(item, self._left)
        if self._left < 0:
            raise _text_over("a filter's results", self._limit)
        return item


class _CodeGenerator(CodeGenerator):
    """Routes the two ways compiled templates build strings without calling us through checks."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.bounded_buffer()")

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class _BoundedFormatter(SandboxedFormatter):
    """`str.format` that refuses huge widths and stops once its output passes the limit."""

    def __init__(self, sandbox: _Sandbox) -> None:
        super().__init__(sandbox)
        self._sandbox = sandbox
        self._written = 0

    def get_field(self, field_name: str, args: Any, kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        value, first = super().get_field(field_name, args, kwargs)
        self._sandbox.check_text(value, "a format() field")
        return value, first

    def format_field(self, value: Any, format_spec: str) -> Any:
        for number in _NUMBER.findall(format_spec):
            self._sandbox.check_width(int(number), "format() width or precision")
        text = super().format_field(value, format_spec)
        self._written += len(text)
        self._sandbox.check_length(self._written, "format() result")
        return text


class _Sandbox(ImmutableSandboxedEnvironment):
    """The locked box: jinja's immutable sandbox plus size checks wherever a value can grow."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _CodeGenerator

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        super().__init__(
            undefined=StrictUndefined,
            autoescape=False,  # values are JSON payload text, never HTML
            keep_trailing_newline=True,
            loader=None,
            extensions=(),
            finalize=self._finalize,
        )
        self.globals.clear()
        self.globals.update(range=_bounded_range(limits.max_sequence_len), dict=dict)
        self.filters = {
            name: _guard_filter(self, name, function)
            for name, function in self.filters.items()
            if name not in _REMOVED_FILTERS
        }
        self.policies["json.dumps_function"] = self._dumps_json
        self._printf_cache: dict[str, tuple[_PrintfField, ...]] = {}

    # -- checks shared by everything below -------------------------------------------------------

    def check_width(self, number: int, what: str) -> None:
        if number > self.limits.max_sequence_len:
            raise _over(what, str(number), "max_sequence_len", self.limits.max_sequence_len)

    def check_length(self, length: int, what: str) -> None:
        if length > self.limits.max_output_chars:
            limit = self.limits.max_output_chars
            raise _over(what, f"{length} characters", "max_output_chars", limit)

    def check_text(self, value: object, what: str) -> None:
        limit = self.limits.max_output_chars
        if _text_size(value, limit) > limit:
            raise _text_over(what, limit)

    def check_bits(self, bits: int, what: str) -> None:
        if bits > self.limits.max_int_bits:
            raise _over(what, f"{bits} bits", "max_int_bits", self.limits.max_int_bits)

    # -- hooks the sandbox and the generated code call -------------------------------------------

    def _finalize(self, value: Any) -> Any:
        if type(value) is not str:
            if not isinstance(value, _PRINTABLE):
                # Their text holds memory addresses: the payload would change on every run.
                raise _not_plain(value, "a printed value")
            self.check_text(value, "output")
        return value

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        size = sum(_text_size(part, self.limits.max_output_chars) for part in parts)
        self.check_length(size, "'~' result")
        return "".join([str(part) for part in parts])

    def bounded_buffer(self) -> _OutputBuffer:
        return _OutputBuffer(self.limits.max_output_chars)

    def _dumps_json(self, value: Any, **options: Any) -> str:
        chunks: list[str] = []
        size = 0
        for chunk in json.JSONEncoder(**options).iterencode(value):
            size += len(chunk)
            self.check_length(size, "tojson result")
            chunks.append(chunk)
        return "".join(chunks)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _fail_if_undefined(obj)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _fail_if_undefined(obj)
        return super().getitem(obj, argument)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        for kind, allowed in _METHODS:
            if isinstance(obj, kind):
                # Fields of named tuples, such as `grouper` and `list` of groupby's groups.
                return attr in allowed or attr in getattr(type(obj), "_fields", ())
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # Replaces jinja's own hook (the successor of `format_string` since 3.1.5) with one whose
        # formatter checks widths and output size.
        if not isinstance(value, MethodType | BuiltinMethodType):
            return None
        text = value.__self__
        if value.__name__ not in ("format", "format_map") or not isinstance(text, str):
            return None
        self.check_text(text, "format string")
        is_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if not is_map:
                return str(_BoundedFormatter(self).vformat(text, args, kwargs))
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            return str(_BoundedFormatter(self).vformat(text, (), args[0]))

        return bounded_format

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            self._check_multiply(left, right)
        elif operator == "**":
            self._check_power(left, right)
        elif operator == "+":
            self._check_add(left, right)
        elif isinstance(left, str):
            self.check_printf(left, right)
        result = self.binop_table[operator](left, right)
        if operator != "+" and isinstance(result, int):
            self.check_bits(result.bit_length(), f"'{operator}' result")
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, BuiltinMethodType) and isinstance(obj.__self__, str):
            args = self._check_str_method(obj.__name__, obj.__self__, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(result, str):
            self.check_length(len(result), "method result")
        return result

    # -- operators and methods that can grow a value ---------------------------------------------

    def _check_multiply(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and isinstance(right, int):
            self.check_bits(left.bit_length() + right.bit_length() - 1, "'*' result")
        elif isinstance(left, str | list | tuple) and isinstance(right, int):
            self.check_width(len(left) * right, "repetition result length")
        elif isinstance(right, str | list | tuple) and isinstance(left, int):
            self.check_width(len(right) * left, "repetition result length")

    def _check_power(self, base: Any, exponent: Any) -> None:
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
            # |base| >= 2 ** (bit_length - 1), so the result has at least this many bits
            self.check_bits((base.bit_length() - 1) * exponent + 1, "'**' result")

    def _check_add(self, left: Any, right: Any) -> None:
        if isinstance(left, str) and isinstance(right, str):
            self.check_length(len(left) + len(right), "'+' result")
        elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
            self.check_width(len(left) + len(right), "'+' result length")

    def check_printf(self, template: str, args: Any) -> None:
        """Refuses `'%999999999s' % x`, and estimates the output before Python builds it."""
        limit = self.limits.max_output_chars
        by_key = isinstance(args, dict)
        # Positional arguments are each printed once; a mapping's values once per field.
        size = len(template) + (0 if by_key else _text_size(args, limit))
        for key, width, precision, extra in self._printf_fields(template):
            self.check_width(max(width, precision), "'%' width or precision")
            size += width + precision + extra
            if by_key:
                size += _text_size(args if key is None else args.get(key), limit)
            self.check_length(size, "'%' formatting result")

    def _printf_fields(self, template: str) -> tuple[_PrintfField, ...]:
        # Format strings are nearly always short literals, so parsing each once pays off.
        fields = self._printf_cache.get(template)
        if fields is None:
            fields = _parse_printf(template)
            if len(template) <= 200 and len(self._printf_cache) < 4096:
                self._printf_cache[template] = fields
        return fields

    def _check_str_method(
        self, name: str, text: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Any, ...]:
        if name in _WIDTH_METHODS:
            for number in (*args, *kwargs.values()):
                if isinstance(number, int):
                    self.check_width(number, f"{name}() width")
        elif name == "replace":
            old, new = _argument(args, kwargs, 0, "old"), _argument(args, kwargs, 1, "new")
            self.check_replace(text, old, new, _argument(args, kwargs, 2, "count"))
        elif name == "join" and args:
            return (self.check_join(args[0], text), *args[1:])
        return args

    def check_replace(self, text: Any, old: Any, new: Any, count: Any) -> None:
        text, old, new = str(text), str(old), str(new)
        hits = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        self.check_length(len(text) + hits * max(0, len(new) - len(old)), "replace() result")

    def check_join(self, items: Any, separator: Any) -> Any:
        """Materialises `items` (lazy results are capped) and checks the joined length first."""
        if not isinstance(items, list | tuple | str):
            items = list(items)
        limit = self.limits.max_output_chars
        size = sum(_text_size(item, limit) for item in items)
        self.check_length(size + max(len(items) - 1, 0) * len(str(separator)), "join() result")
        return items


_PrintfField = tuple[str | None, int, int, int]


def _parse_printf(template: str) -> tuple[_PrintfField, ...]:
    """(mapping key, width, precision, extra digits) of each `%` field."""
    fields = []
    for field in _PRINTF_FIELD.finditer(template):
        if field["kind"] == "%":
            continue
        if "*" in (field["width"] or "") + (field["precision"] or ""):
            raise _Refused("'*' widths in '%' formatting are not allowed in catalog values")
        extra = _FLOAT_DIGITS if field["kind"] in "fF" else 0
        width, precision = int(field["width"] or 0), int(field["precision"] or 0)
        fields.append((field["key"], width, precision, extra))
    return tuple(fields)


def _bounded_range(limit: int) -> Callable[..., range]:
    """A `range` global that holds nothing but its limit (a bound method would carry the
    environment along, out of reach only thanks to the underscore rule)."""

    def range_(*args: int) -> range:
        numbers = range(*args)
        try:
            length = len(numbers)
        except OverflowError:  # longer than sys.maxsize
            length = limit + 1
        if length > limit:
            raise _over("range()", f"{length} items", "max_sequence_len", limit)
        return numbers

    return range_


def _guard_filter(sandbox: _Sandbox, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a jinja filter with the checks of `sandbox`. `wraps` copies `jinja_pass_arg`, so
    pass_context / pass_environment / pass_eval_context filters keep receiving what they expect."""
    skip = 1 if hasattr(function, "jinja_pass_arg") else 0
    widths = _WIDTH_ARGUMENTS.get(name, ())
    reads_text = name not in _STRUCTURAL_FILTERS
    prepare = _PREPARE.get(name)

    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value, rest = args[skip], args[skip + 1 :]
        for index, keyword in widths:
            number = _argument(rest, kwargs, index, keyword)
            if isinstance(number, int):
                sandbox.check_width(number, f"{name} {keyword}")
        if reads_text:
            for argument in (value, *rest, *kwargs.values()):
                sandbox.check_text(argument, f"input of the {name} filter")
        if prepare is not None:
            value = prepare(sandbox, value, rest, kwargs)
        result = function(*args[:skip], value, *rest, **kwargs)
        return _checked_result(sandbox, result, name)

    return guarded


def _checked_result(sandbox: _Sandbox, result: Any, name: str) -> Any:
    if isinstance(result, str | list | tuple):
        sandbox.check_length(len(result), f"{name} filter result")
    elif isinstance(result, Iterator):
        return _BoundedIterator(result, sandbox.limits.max_output_chars)
    return result


def _prepare_join(
    sandbox: _Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    return sandbox.check_join(value, _argument(rest, kw, 0, "d") or "")


def _prepare_replace(
    sandbox: _Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    old, new = _argument(rest, kw, 0, "old"), _argument(rest, kw, 1, "new")
    sandbox.check_replace(value, old, new, _argument(rest, kw, 2, "count"))
    return value


def _prepare_format(
    sandbox: _Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    sandbox.check_printf(str(value), dict(kw) or rest)
    return value


def _prepare_indent(
    sandbox: _Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    width = _argument(rest, kw, 0, "width")
    step = len(str(width)) if isinstance(width, str) else (4 if width is None else int(width))
    text = str(value)
    sandbox.check_length(len(text) + (text.count("\n") + 1) * max(step, 0), "indent result")
    return value


def _prepare_wordwrap(
    sandbox: _Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    width = _argument(rest, kw, 0, "width")
    wrap = _argument(rest, kw, 2, "wrapstring") or sandbox.newline_sequence
    text = str(value)
    # Two consecutive wrapped lines together are always longer than `width`.
    lines = 2 * len(text) // max(width if isinstance(width, int) else 79, 1)
    breaks = lines + text.count("\n") + 1
    sandbox.check_length(len(text) + breaks * len(str(wrap)), "wordwrap result")
    return value


_Prepare = Callable[[_Sandbox, Any, tuple[Any, ...], Mapping[str, Any]], Any]
_PREPARE: Final[Mapping[str, _Prepare]] = MappingProxyType(
    {
        "join": _prepare_join,
        "replace": _prepare_replace,
        "format": _prepare_format,
        "indent": _prepare_indent,
        "wordwrap": _prepare_wordwrap,
    }
)


class _Alarm:
    """A wall-clock budget on SIGALRM. Python runs signal handlers in the main thread only, so off
    it the alarm is never armed and only the counting limits apply."""

    def __init__(self) -> None:
        self.rendering = False
        self.expired = False
        self.batch_seconds: float | None = None
        self._saved: tuple[Any, tuple[float, float], float] | None = None

    @staticmethod
    def available() -> bool:
        return threading.current_thread() is threading.main_thread()

    def arm(self, seconds: float) -> None:
        self.expired = False
        handler = signal.signal(signal.SIGALRM, self._on_alarm)
        previous = signal.setitimer(signal.ITIMER_REAL, seconds)
        self._saved = (handler, previous, time.monotonic() if previous[0] else 0.0)

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if self._saved is None:
            return
        handler, (delay, interval), started = self._saved
        self._saved = None
        # A handler installed from C reads back as None and cannot be put back from Python.
        signal.signal(signal.SIGALRM, signal.SIG_DFL if handler is None else handler)
        if delay:
            # An outer timer that ran out meanwhile fires right away instead of never.
            left = delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), interval)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        self.expired = True
        if self.rendering:
            self.rendering = False  # one shot: the cleanup after a render is never interrupted
            raise _DeadlineExceeded


@dataclass(frozen=True, slots=True)
class _Compiled:
    template: Template
    expression: bool


class Renderer:
    """Renders catalog string values. Compiled templates are cached by source text, which is safe
    because the context is only given at render time.

    Macro names and the globals are reserved (`reserved_names`): a context variable with the same
    name would silently hide them, so the catalog loader refuses such variables. Macros see their
    arguments, the globals and every other macro, never the caller's context. Names starting with
    `_` stay private to their macro file. Top-level text and expressions in a macro file are
    dropped unrendered; only `{% macro %}` and `{% set %}` are kept.

    Not thread-safe; meant to be used by one thread.
    """

    def __init__(
        self, macro_sources: Mapping[str, str] = _NO_MACROS, limits: RenderLimits = _DEFAULT_LIMITS
    ) -> None:
        self._limits = limits
        self._sandbox = _Sandbox(limits)
        self._alarm = _Alarm()
        self._compiled: dict[str, _Compiled] = {}
        self._macro_files: dict[str, tuple[str, Template]] = {}
        self._scope: dict[str, Any] = dict(self._sandbox.globals)
        self._macros = self._load_macros(macro_sources)
        self._sandbox.globals.update(self._macros)
        self._scope.update(self._macros)
        self._reserved = frozenset(self._scope) | _JINJA_NAMES

    @property
    def reserved_names(self) -> frozenset[str]:
        """Names a context variable must not use: globals, macros and Jinja's own names."""
        return self._reserved

    def render(self, source: str, context: Mapping[str, PlainData]) -> PlainData:
        """Renders one value. A value that is exactly `{{ expr }}` gives the expression's native
        plain data (int, float, bool, str, list, dict); anything else gives a string."""
        if not needs_rendering(source):
            return source
        compiled = self._compiled.get(source)
        if compiled is None:
            compiled = self._guarded(lambda: self._compile(source), source, None, context)
            self._compiled[source] = compiled
        done = compiled
        return self._guarded(lambda: self._execute(done, context), source, done.template, context)

    @contextmanager
    def deadline(self, seconds: float | None = None) -> Iterator[None]:
        """Arms one timer around many renders (a whole catalog file) instead of one per render.

        Inside the block `deadline_seconds` is not applied per value; the block's own budget
        (`seconds`, by default `deadline_seconds`) covers all of them. Off the main thread this does
        nothing. Blocks do not nest.
        """
        alarm = self._alarm
        if alarm.batch_seconds is not None:
            raise RuntimeError("Renderer.deadline() blocks do not nest")
        if not alarm.available():
            yield
            return
        budget = self._limits.deadline_seconds if seconds is None else seconds
        alarm.arm(budget)
        alarm.batch_seconds = budget
        try:
            yield
        finally:
            alarm.batch_seconds = None
            alarm.disarm()

    # -- compiling -------------------------------------------------------------------------------

    def _parse(self, source: str, filename: str) -> nodes.Template:
        tree = Parser(self._sandbox, source, None, filename).parse()
        for node in tree.find_all(_FORBIDDEN_TAGS):
            column = _forbidden_tag_column(source, node.lineno)
            raise TemplateProblem(_FORBIDDEN_MESSAGE, line=node.lineno, column=column)
        for name in tree.find_all(nodes.Name):
            if name.name == "self":
                raise _undefined_problem("self", source, name.lineno, self._scope)
        return tree

    def _build(self, tree: nodes.Template, filename: str) -> Template:
        code = self._sandbox.compile(tree, filename=filename)
        # Names come from the scope passed as shared vars at render time; empty template globals
        # spare jinja from copying the environment's globals into every new context.
        return self._sandbox.template_class.from_code(self._sandbox, code, {})

    def _compile(self, source: str) -> _Compiled:
        tree = self._parse(source, _VALUE_FILE)
        expression = _single_expression(source, tree)
        if expression is not None:
            target = nodes.Name(_RESULT, "store", lineno=expression.lineno)
            tree = nodes.Template([nodes.Assign(target, expression, lineno=expression.lineno)])
            tree.set_environment(self._sandbox)
        return _Compiled(self._build(tree, _VALUE_FILE), expression is not None)

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
        jinja_context = template.new_context({**self._scope, **context}, shared=True)
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
                raise _text_over("output", limit)
            parts.append(chunk)
        return "".join(parts)

    def _plain_result(self, value: Any) -> PlainData:
        if isinstance(value, Undefined):
            str(value)  # raises the undefined error with jinja's own message
        if value is None:
            raise _Refused("expression gave none (null); a catalog value cannot be null")
        self._sandbox.check_text(value, "expression result")
        return _plain(value)

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
            raise TemplateProblem(_batch_deadline_message(alarm.batch_seconds), hint=_LIMIT_HINT)
        own_timer = alarm.batch_seconds is None and alarm.available()
        if own_timer:
            alarm.arm(self._limits.deadline_seconds)
        alarm.rendering = True
        try:
            return work()
        except (Exception, _DeadlineExceeded) as raised:  # noqa: BLE001 - the one boundary
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
        problem = _explain(
            failure,
            source=source,
            template=template,
            macro_files=self._macro_files,
            names=names,
            limits=self._limits,
        )
        if isinstance(failure, _DeadlineExceeded) and self._alarm.batch_seconds is not None:
            problem = TemplateProblem(
                _batch_deadline_message(self._alarm.batch_seconds),
                line=problem.line,
                hint=_LIMIT_HINT,
            )
        if display is None:
            return problem
        where = f"{display}:{problem.line}" + (f":{problem.column}" if problem.column else "")
        return TemplateProblem(
            f"{where}: {problem.message}",
            line=problem.line,
            column=problem.column,
            hint=problem.hint,
        )


# -- results -------------------------------------------------------------------------------------


def _single_expression(source: str, tree: nodes.Template) -> nodes.Expr | None:
    """The expression of a value that is exactly `{{ expr }}`, else None."""
    if not (source.startswith("{{") and source.endswith("}}")) or len(tree.body) != 1:
        return None
    output = tree.body[0]
    if not isinstance(output, nodes.Output) or len(output.nodes) != 1:
        return None
    expression = output.nodes[0]
    return None if isinstance(expression, nodes.TemplateData) else expression


def _plain(value: Any) -> PlainData:
    """Copies an expression's result into plain lists and dicts, refusing anything else."""
    if value is None or type(value) in (bool, int, float):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        return str(value)  # a Markup becomes a plain str
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain_key(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Undefined):
        str(value)  # raises the undefined error
    raise _not_plain(value, "expression")


def _not_plain(value: object, what: str) -> _Refused:
    kind = "generator (add |list)" if isinstance(value, Iterator) else type(value).__name__
    return _Refused(f"{what} gave a {kind}, which is not plain data")


def _plain_key(key: Any) -> str:
    if not isinstance(key, str):
        kind = type(key).__name__
        raise _Refused(f"expression gave a dict key of type {kind}; keys must be text")
    return str(key)


def _check_macro_name(name: str, display: str, line: int, owners: Mapping[str, str]) -> None:
    if name in owners:
        raise TemplateProblem(
            f"macro '{name}' is defined in both {owners[name]} and {display}; rename one of them",
            line=line,
        )
    if name in _GLOBALS:
        message = f"{display}: macro '{name}' would hide the global {name}()"
        raise TemplateProblem(message, line=line)


# -- explaining failures -------------------------------------------------------------------------


def _explain(
    failure: BaseException,
    *,
    source: str,
    template: Template | None,
    macro_files: Mapping[str, tuple[str, Template]],
    names: Mapping[str, Any],
    limits: RenderLimits,
) -> TemplateProblem:
    if isinstance(failure, TemplateProblem):
        return failure
    if isinstance(failure, TemplateSyntaxError):
        line = failure.lineno
        return TemplateProblem(
            f"template syntax error: {failure.message}",
            line=line,
            column=_opener_column(source, line, failure.message),
        )
    line, macro_site = _failure_location(failure.__traceback__, template, macro_files)
    if isinstance(failure, UndefinedError) and not isinstance(failure, SecurityError):
        problem = _undefined_from(failure, source, line, names)
    else:
        column = _opener_column(source, line)
        problem = TemplateProblem(
            _one_line(failure, limits), line=line, column=column, hint=_hint_for(failure)
        )
    if macro_site:
        problem = TemplateProblem(
            f"{problem.message} ({macro_site})",
            line=problem.line,
            column=problem.column,
            hint=problem.hint,
        )
    return problem


_FIXED_MESSAGES: Final = (
    (
        RecursionError,
        "recursion too deep (a macro or recursive loop that never ends?) or nesting too deep",
    ),
    (MemoryError, "ran out of memory while rendering"),
)


def _one_line(failure: BaseException, limits: RenderLimits) -> str:
    if isinstance(failure, _DeadlineExceeded):
        return (
            f"rendering took longer than the limit deadline_seconds={limits.deadline_seconds};"
            " look for a loop that runs too long"
        )
    if isinstance(failure, _Refused):
        return str(failure)
    if isinstance(failure, SecurityError):
        return f"not allowed in catalog values: {failure}"
    for kind, message in _FIXED_MESSAGES:
        if isinstance(failure, kind):
            return message
    text = str(failure).strip().splitlines()
    detail = text[0][:300] if text else ""
    if isinstance(failure, TemplateError):
        return detail or type(failure).__name__
    return f"{type(failure).__name__}: {detail}" if detail else type(failure).__name__


def _hint_for(failure: BaseException) -> str | None:
    return _LIMIT_HINT if isinstance(failure, _Refused | _DeadlineExceeded) else None


def _batch_deadline_message(seconds: float) -> str:
    return f"rendering took longer than this batch's deadline of {seconds} s (Renderer.deadline)"


def _failure_location(
    trace: TracebackType | None,
    template: Template | None,
    macro_files: Mapping[str, tuple[str, Template]],
) -> tuple[int, str]:
    """The line in the value where it failed, and 'in <macro file> line N' if inside a macro.
    Without a value `template` (loading a macro file) the line is the macro file's."""
    line, macro_site = 1, ""
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if filename == _VALUE_FILE and template is not None:
            line, macro_site = template.get_corresponding_lineno(trace.tb_lineno), ""
        elif filename in macro_files:
            display, macro_template = macro_files[filename]
            macro_line = macro_template.get_corresponding_lineno(trace.tb_lineno)
            if template is None:
                line = macro_line
            else:
                macro_site = f"in {display} line {macro_line}"
        trace = trace.tb_next
    return line, macro_site


def _undefined_from(
    failure: UndefinedError, source: str, line: int, names: Mapping[str, Any]
) -> TemplateProblem:
    message = failure.message or str(failure)
    if match := _UNDEFINED_NAME.match(message):
        return _undefined_problem(match["name"], source, line, names)
    if match := _UNDEFINED_ATTRIBUTE.search(message):
        name = match["name"]
        owner = _undefined_owner(failure.__traceback__)
        candidates = [str(key) for key in owner] if isinstance(owner, dict) else []
        line, column = _locate(source, name, line)
        return TemplateProblem(message + _did_you_mean(name, candidates), line=line, column=column)
    return TemplateProblem(message, line=line)


def _undefined_problem(
    name: str, source: str, line: int, names: Mapping[str, Any]
) -> TemplateProblem:
    line, column = _locate(source, name, line)
    message = (
        f"'{name}' is undefined; define it in vars.yaml, the entry's vars, or check the spelling"
    )
    return TemplateProblem(message + _did_you_mean(name, names), line=line, column=column)


def _undefined_owner(trace: TracebackType | None) -> Any:
    """The object whose attribute was missing: the innermost frame is the Undefined's method."""
    last = None
    while trace is not None:
        last, trace = trace, trace.tb_next
    undefined = last.tb_frame.f_locals.get("self") if last is not None else None
    return getattr(undefined, "_undefined_obj", None) if isinstance(undefined, Undefined) else None


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, [c for c in candidates if c != name], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _locate(source: str, name: str, line: int) -> tuple[int, int | None]:
    """Line and 1-based column of `name` as a whole word: on `line` if there, else anywhere."""
    pattern = re.compile(rf"(?<![\w]){re.escape(name)}(?!\w)")
    lines = source.split("\n")
    if 1 <= line <= len(lines) and (found := pattern.search(lines[line - 1])):
        return line, found.start() + 1
    for number, text in enumerate(lines, start=1):
        if found := pattern.search(text):
            return number, found.start() + 1
    return line, None


def _opener_column(source: str, line: int, message: str | None = None) -> int | None:
    """Column of the `{{` or `{%` on `line` that holds an error: the tag that, parsed on its own,
    fails with the same `message`, or the only tag on the line."""
    lines = source.split("\n")
    if not 1 <= line <= len(lines):
        return None
    text = lines[line - 1]
    openers = [found.start() for found in _OPENER.finditer(text)]
    for start in openers if message is not None else ():
        if _syntax_error(text[start : _closer(text, start)]) == message:
            return start + 1
    return openers[0] + 1 if len(openers) == 1 else None


def _forbidden_tag_column(source: str, line: int) -> int | None:
    lines = source.split("\n")
    found = _FORBIDDEN_TAG.search(lines[line - 1]) if 1 <= line <= len(lines) else None
    return found.start() + 1 if found else None


def _closer(text: str, start: int) -> int:
    end = text.find("}}" if text.startswith("{{", start) else "%}", start + 2)
    return len(text) if end < 0 else end + 2


def _syntax_error(segment: str) -> str | None:
    try:
        Parser(ImmutableSandboxedEnvironment(), segment).parse()
    except TemplateSyntaxError as error:
        return error.message
    return None
