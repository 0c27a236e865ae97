"""Values rendered once for every context that agrees on the names they read
(`Renderer.render_shared`, used for the catalog defaults): the same values and problems as
rendering each time, and the same work charged to the catalog's budget."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from test_templating_fast_path import outcome
from test_templating_memo import MACROS

from reconciler.domain.templating import CatalogBudget, PlainData, Renderer, TemplateProblem

CONTEXTS: tuple[Mapping[str, PlainData], ...] = (
    {"cdn": "https://a", "key": "k1", "n": 2, "label": "x", "items": [1, 2]},
    {"cdn": "https://a", "key": "k2", "n": 2, "label": "x", "items": [1, 2]},
    {"cdn": "https://b", "key": "k2", "n": 3, "label": "y", "items": [2, 1]},
    {"cdn": "https://b", "key": "k2", "n": 3.0, "label": "y", "items": {"a": 1}},
    {"cdn": "https://b", "key": "k2", "n": True, "label": 1, "items": {"b": 1, "a": 2}},
    {"cdn": "https://b", "key": "k2", "n": "3", "label": "1", "items": {"a": 2, "b": 1}},
    {"key": "k3"},
)
SOURCES = (
    "{{ cdn }}/logo.png",
    "{{ ('key=' ~ key) | urlencode }}",
    "{{ n }}",
    "{{ n * 2 }}",
    "{{ items }}",
    "{% for k in items %}{{ k }}{% endfor %}",
    "{{ money(250 * n) }}",
    "{{ stars(n) }}",
    "{% set x = label %}{{ x }}-{{ x }}",
    "{% macro own() %}{{ label }}{% endmacro %}{{ own() }}",
    "{% if cdn is defined %}{{ cdn }}{% else %}none{% endif %}",
    "{{ undefined_name }}",
    "{{ oops",
    "plain text",
)


@pytest.mark.parametrize("source", SOURCES)
def test_shared_renders_render_as_renders(source: str) -> None:
    shared, every = Renderer(MACROS), Renderer(MACROS)
    for _ in range(2):
        for context in CONTEXTS:
            expected = outcome(every, source, context)
            assert outcome_shared(shared, source, context) == expected, context
    assert shared.cost.loop_iterations == every.cost.loop_iterations
    assert shared.cost.output_chars == every.cost.output_chars


def outcome_shared(
    renderer: Renderer, source: str, context: Mapping[str, PlainData]
) -> tuple[object, ...]:
    """`outcome` of `render_shared`."""
    try:
        value = renderer.render_shared(source, context)
    except TemplateProblem as problem:
        return ("problem", problem.message, problem.line, problem.column, problem.hint)
    return ("value", type(value), value)


def test_reads_names_what_a_value_reads() -> None:
    renderer = Renderer(MACROS)
    assert renderer.reads("{{ cdn }}/a?{{ ('key=' ~ key) | urlencode }}") == ("cdn", "key")
    assert renderer.reads("{% set x = label %}{{ x }}{{ each.key }}") == ("each", "label")
    assert renderer.reads("no markup") == ()
    assert renderer.reads("{{ oops") is None


def test_a_shared_value_renders_once_per_distinct_reading() -> None:
    renderer = Renderer(MACROS)
    source = "{{ cdn }}/{{ stars(2) }}"
    for key in ("a", "b", "c"):
        assert renderer.render_shared(source, {"cdn": "x", "key": key}) == "x/**"
    # Three answers, all charged; only the first one rendered the value.
    assert renderer.cost.loop_iterations == 6
    assert renderer.cost.output_chars == 12


def test_the_budget_runs_out_at_the_same_value_with_the_same_problem() -> None:
    budget = CatalogBudget(loop_iterations=10)
    shared, every = Renderer(MACROS, budget=budget), Renderer(MACROS, budget=budget)
    source = "a {{ stars(4) }}"
    seen_every = [outcome(every, source, {}) for _ in range(4)]
    seen_shared = [outcome_shared(shared, source, {}) for _ in range(4)]
    assert seen_shared == seen_every
    assert [result[0] for result in seen_every] == ["value", "value", "problem", "problem"]
