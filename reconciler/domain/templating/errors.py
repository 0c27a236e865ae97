"""TemplateProblem, and how a failure inside Jinja becomes one line with a line and column.

Positions are 1-based and inside the template: the catalog loader adds the YAML position.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Final

from jinja2 import Template
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from reconciler.domain.templating.deadline import DeadlineExceeded
from reconciler.domain.templating.limits import Refused, RenderLimits
from reconciler.errors import InvalidInput

VALUE_FILE: Final = "<catalog value>"  # the file name of every compiled catalog value
LIMIT_HINT: Final = "rendering limits keep a hostile catalog from stalling the pipeline"
_OPENER: Final = re.compile(r"\{[{%]")
_FORBIDDEN_TAG: Final = re.compile(r"\{%[-+]?\s*(?:include|import|from|extends)\b")
_UNDEFINED_NAME: Final = re.compile(r"^'(?P<name>[^']+)' is undefined$")
_UNDEFINED_ATTRIBUTE: Final = re.compile(r"has no attribute '(?P<name>[^']+)'$")


class TemplateProblem(InvalidInput):
    """A catalog value cannot be rendered. `line`/`column` are 1-based, inside the template."""

    def __init__(
        self, message: str, *, line: int = 1, column: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.line = line
        self.column = column


def explain(
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
    if isinstance(failure, DeadlineExceeded):
        return (
            f"rendering took longer than the limit deadline_seconds={limits.deadline_seconds};"
            " look for a loop that runs too long"
        )
    if isinstance(failure, Refused):
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
    return LIMIT_HINT if isinstance(failure, Refused | DeadlineExceeded) else None


def batch_deadline_message(seconds: float) -> str:
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
        if filename == VALUE_FILE and template is not None:
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
        return undefined_problem(match["name"], source, line, names)
    if match := _UNDEFINED_ATTRIBUTE.search(message):
        name = match["name"]
        owner = _undefined_owner(failure.__traceback__)
        candidates = [str(key) for key in owner] if isinstance(owner, dict) else []
        line, column = _locate(source, name, line)
        return TemplateProblem(message + _did_you_mean(name, candidates), line=line, column=column)
    return TemplateProblem(message, line=line)


def undefined_problem(
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


def opener_column(source: str, line: int) -> int | None:
    """Column of the `{{` or `{%` on `line`, if it holds only one."""
    return _opener_column(source, line)


def forbidden_tag_column(source: str, line: int) -> int | None:
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
