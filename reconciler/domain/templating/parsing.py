"""Parsing a value or macro file: number literals within limits, every loop counted.

A literal is a number the template makes without any operator, so the sandbox's checks on
operators and filters never see it: `{{ 1e309 }}` is infinity, and `{{ 99...9 }}` may be as wide
as the source allows. Both are refused here, at the line that holds them. (Jinja folds constant
expressions at compile time, but only through operators the sandbox does not intercept, and it
intercepts every arithmetic one; a folded filter that refuses is left to run, and fail, at render
time.)
"""

from __future__ import annotations

import re
import sys
from typing import Final

from jinja2 import nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from reconciler.domain.templating.codegen import count_loops
from reconciler.domain.templating.errors import LIMIT_HINT, TemplateProblem, opener_column
from reconciler.domain.templating.limits import Refused, check_number

_DIGITS: Final = re.compile(r"[0-9][0-9_]*")


def parse_value(
    environment: ImmutableSandboxedEnvironment, source: str, filename: str, max_bits: int
) -> nodes.Template:
    try:
        tree = Parser(environment, source, None, filename).parse()
    except ValueError:
        # Python refuses to read an integer literal of thousands of digits (the lexer's `int()`).
        _refuse_long_literal(source, max_bits)
        raise
    for constant in tree.find_all(nodes.Const):
        _check_literal(constant, source, max_bits)
    count_loops(tree)
    return tree


def _check_literal(constant: nodes.Const, source: str, max_bits: int) -> None:
    value = constant.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    try:
        check_number(value, "number literal", max_bits)
    except Refused as refused:
        line = constant.lineno
        raise TemplateProblem(
            str(refused), line=line, column=opener_column(source, line), hint=LIMIT_HINT
        ) from None


def _refuse_long_literal(source: str, max_bits: int) -> None:
    longest = sys.get_int_max_str_digits()
    for number, text in enumerate(source.split("\n"), start=1):
        for found in _DIGITS.finditer(text):
            digits = len(found[0].replace("_", ""))
            if digits > longest:
                raise TemplateProblem(
                    f"number literal ({digits} digits) is over the limit max_int_bits={max_bits}",
                    line=number,
                    column=found.start() + 1,
                    hint=LIMIT_HINT,
                )
