"""The locked box: Jinja's immutable sandbox with a size check wherever a value can grow.

Operators (`*`, `**`, `+`, `%`), method calls, `str.format`, `tojson`, printed values and the
buffers of blocks are all intercepted here, so a value is refused *before* it is built too big.
Every arithmetic operator is intercepted (which also keeps Jinja from folding it at compile time)
so that no number it makes is wider than `max_int_bits` or infinite or NaN. Loops are charged to
the renderer's `WorkMeter` as they start. Methods of plain data are allow-listed (`_METHODS`):
read-only ones that cannot amplify size.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import BuiltinMethodType, MethodType
from typing import Any, Final

from jinja2 import StrictUndefined
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter

from reconciler.domain.templating.budget import WorkMeter
from reconciler.domain.templating.codegen import BoundedCodeGenerator
from reconciler.domain.templating.filters import argument_at, guard_filter
from reconciler.domain.templating.limits import (
    OutputBuffer,
    PrintfField,
    RenderLimits,
    check_number,
    not_finite,
    over,
    parse_printf,
    text_over,
    text_size,
)
from reconciler.domain.templating.memo import MacroMemo
from reconciler.domain.templating.plain import not_plain

_REMOVED_FILTERS: Final = frozenset({"random", "pprint"})
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
_NUMBER: Final = re.compile(r"\d+")
# What `{{ }}` may print (an Undefined passes so that it raises its own error).
_PRINTABLE: Final = (str, int, float, list, tuple, dict, type(None), Undefined)


def _fail_if_undefined(value: object) -> None:
    """`cycler.__init__` should say "'cycler' is undefined", not that `__init__` of an Undefined
    is unsafe. StrictUndefined raises its own error when turned into text."""
    if isinstance(value, Undefined):
        str(value)


class _BoundedFormatter(SandboxedFormatter):
    """`str.format` that refuses huge widths and stops once its output passes the limit."""

    def __init__(self, sandbox: Sandbox) -> None:
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


class Sandbox(ImmutableSandboxedEnvironment):
    """The locked box: jinja's immutable sandbox plus size checks wherever a value can grow."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "-", "/", "//"})
    code_generator_class = BoundedCodeGenerator

    def __init__(self, limits: RenderLimits, meter: WorkMeter | None = None) -> None:
        self.limits = limits
        self.meter = meter if meter is not None else WorkMeter(None)
        self.memo = MacroMemo(self.meter)
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
            name: guard_filter(self, name, function)
            for name, function in self.filters.items()
            if name not in _REMOVED_FILTERS
        }
        self.policies["json.dumps_function"] = self._dumps_json
        self._printf_cache: dict[str, tuple[PrintfField, ...]] = {}

    # -- checks shared by everything below -------------------------------------------------------

    def check_width(self, number: int, what: str) -> None:
        if number > self.limits.max_sequence_len:
            raise over(what, str(number), "max_sequence_len", self.limits.max_sequence_len)

    def check_length(self, length: int, what: str) -> None:
        if length > self.limits.max_output_chars:
            limit = self.limits.max_output_chars
            raise over(what, f"{length} characters", "max_output_chars", limit)

    def check_text(self, value: object, what: str) -> None:
        limit = self.limits.max_output_chars
        if text_size(value, limit) > limit:
            raise text_over(what, limit)

    def check_bits(self, bits: int, what: str) -> None:
        if bits > self.limits.max_int_bits:
            raise over(what, f"{bits} bits", "max_int_bits", self.limits.max_int_bits)

    def check_number(self, value: object, what: str) -> None:
        check_number(value, what, self.limits.max_int_bits)

    # -- hooks the sandbox and the generated code call -------------------------------------------

    def _finalize(self, value: Any) -> Any:
        if type(value) is not str:
            if not isinstance(value, _PRINTABLE):
                # Their text holds memory addresses: the payload would change on every run.
                raise not_plain(value, "a printed value")
            if type(value) is float and not math.isfinite(value):
                raise not_finite("a printed value", value)  # a last guard: none should get here
            self.check_text(value, "output")
        return value

    def counted(self, items: Any) -> Any:
        """What a `{% for %}` walks, charged to the meter as the loop starts (one addition per
        loop). Lazy results (`map`, `select`, ...) are charged item by item."""
        try:
            length = len(items)
        except TypeError:
            return self._counted_each(items)
        self.meter.charge_loops(length)
        return items

    def _counted_each(self, items: Iterable[Any]) -> Iterator[Any]:
        for item in items:
            self.meter.charge_loops(1)
            yield item

    def bounded_concat(self, parts: tuple[Any, ...]) -> str:
        size = sum(text_size(part, self.limits.max_output_chars) for part in parts)
        self.check_length(size, "'~' result")
        return "".join([str(part) for part in parts])

    def bounded_buffer(self) -> OutputBuffer:
        return OutputBuffer(self.limits.max_output_chars)

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
        self.check_number(result, f"'{operator}' result")
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        key = self.memo.key(obj, args, kwargs)
        if key is None:
            return self._call(context, obj, args, kwargs)
        text = self.memo.answer(key)
        if text is not None:
            return text
        loops = self.meter.loops
        result = self._call(context, obj, args, kwargs)
        self.memo.keep(key, result, loops)
        return result

    def _call(
        self, context: Context, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if isinstance(obj, BuiltinMethodType) and isinstance(obj.__self__, str):
            args = self._check_str_method(obj.__name__, obj.__self__, args, kwargs)
        elif isinstance(obj, LoopContext) and args:
            args = (self.counted(args[0]), *args[1:])  # `loop(items)` of a recursive loop
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
        size = len(template) + (0 if by_key else text_size(args, limit))
        for key, width, precision, extra in self._printf_fields(template):
            self.check_width(max(width, precision), "'%' width or precision")
            size += width + precision + extra
            if by_key:
                size += text_size(args if key is None else args.get(key), limit)
            self.check_length(size, "'%' formatting result")

    def _printf_fields(self, template: str) -> tuple[PrintfField, ...]:
        # Format strings are nearly always short literals, so parsing each once pays off.
        fields = self._printf_cache.get(template)
        if fields is None:
            fields = parse_printf(template)
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
            old, new = argument_at(args, kwargs, 0, "old"), argument_at(args, kwargs, 1, "new")
            self.check_replace(text, old, new, argument_at(args, kwargs, 2, "count"))
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
        size = sum(text_size(item, limit) for item in items)
        self.check_length(size + max(len(items) - 1, 0) * len(str(separator)), "join() result")
        return items


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
            raise over("range()", f"{length} items", "max_sequence_len", limit)
        return numbers

    return range_
