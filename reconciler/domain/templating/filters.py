"""Every Jinja filter, wrapped to cap its width arguments and the size of what it reads and returns,
and to refuse a number result that is too wide, infinite or NaN.

`random` (a payload must render the same on every run, or its hash changes) and `pprint` (Python
repr, a debugging aid) are removed by the sandbox; all the others go through `guard_filter`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import wraps
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from reconciler.domain.templating.limits import BoundedIterator

if TYPE_CHECKING:
    from reconciler.domain.templating.sandbox import Sandbox

    _Prepare = Callable[[Sandbox, Any, tuple[Any, ...], Mapping[str, Any]], Any]

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


def argument_at(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    if index < len(args):
        return args[index]
    return kwargs.get(name)


def guard_filter(sandbox: Sandbox, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
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
            number = argument_at(rest, kwargs, index, keyword)
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


def _checked_result(sandbox: Sandbox, result: Any, name: str) -> Any:
    if isinstance(result, str | list | tuple):
        sandbox.check_length(len(result), f"{name} filter result")
    elif isinstance(result, Iterator):
        return BoundedIterator(result, sandbox.limits.max_output_chars)
    else:
        # `int`, `float`, `round`, `abs`, `sum`, ...: no wider than max_int_bits, never inf or NaN
        sandbox.check_number(result, f"{name} filter result")
    return result


def _prepare_join(
    sandbox: Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    return sandbox.check_join(value, argument_at(rest, kw, 0, "d") or "")


def _prepare_replace(
    sandbox: Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    old, new = argument_at(rest, kw, 0, "old"), argument_at(rest, kw, 1, "new")
    sandbox.check_replace(value, old, new, argument_at(rest, kw, 2, "count"))
    return value


def _prepare_format(
    sandbox: Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    sandbox.check_printf(str(value), dict(kw) or rest)
    return value


def _prepare_indent(
    sandbox: Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    width = argument_at(rest, kw, 0, "width")
    step = len(str(width)) if isinstance(width, str) else (4 if width is None else int(width))
    text = str(value)
    sandbox.check_length(len(text) + (text.count("\n") + 1) * max(step, 0), "indent result")
    return value


def _prepare_wordwrap(
    sandbox: Sandbox, value: Any, rest: tuple[Any, ...], kw: Mapping[str, Any]
) -> Any:
    width = argument_at(rest, kw, 0, "width")
    wrap = argument_at(rest, kw, 2, "wrapstring") or sandbox.newline_sequence
    text = str(value)
    # Two consecutive wrapped lines together are always longer than `width`.
    lines = 2 * len(text) // max(width if isinstance(width, int) else 79, 1)
    breaks = lines + text.count("\n") + 1
    sandbox.check_length(len(text) + breaks * len(str(wrap)), "wordwrap result")
    return value


_PREPARE: Final[Mapping[str, _Prepare]] = MappingProxyType(
    {
        "join": _prepare_join,
        "replace": _prepare_replace,
        "format": _prepare_format,
        "indent": _prepare_indent,
        "wordwrap": _prepare_wordwrap,
    }
)
