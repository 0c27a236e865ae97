"""Calls of catalog macros are remembered by their arguments: the same texts and problems as
calling them every time, and the same work charged to the catalog's budget."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from test_templating_fast_path import outcome

from reconciler.domain.templating import CatalogBudget, PlainData, Renderer

MACROS = {
    "catalog/macros/money.j2": (
        "{% macro money(cents) -%}\n"
        "HK${{ '{:,}'.format(cents // 100) }}{% if cents % 100 %}"
        ".{{ '%02d' | format(cents % 100) }}{% endif %}\n"
        "{%- endmacro %}"
    ),
    "catalog/macros/text.j2": (
        "{% macro show(value, suffix='') %}{{ value }}{{ suffix }}|{{ value is string }}"
        "{% endmacro %}\n"
        "{% macro stars(n) %}{% for i in range(n) %}*{% endfor %}{% endmacro %}\n"
        "{% macro framed() %}[{{ caller() }}]{% endmacro %}"
    ),
}
CONTEXT: Mapping[str, PlainData] = {"price": 2350, "n": 3, "items": [1, 2], "label": "x"}


@pytest.mark.parametrize(
    "source",
    [
        "{{ money(price) }} {{ money(price) }} {{ money(2350) }}",
        "{{ show(1) }} {{ show(1.0) }} {{ show(true) }} {{ show('1') }} {{ show(1) }}",
        "{{ show(0.0) }} {{ show(-0.0) }} {{ show(none) }}",
        "{{ show(1, suffix='a') }} {{ show(1, suffix='b') }} {{ show(1, 'a') }}",
        "{{ show(items) }} {{ show(items) }}",
        "{{ stars(n) }}{{ stars(n) }}",
        "{% call framed() %}{{ label }}{% endcall %}{% call framed() %}y{% endcall %}",
        "{{ money('12') }}",  # fails the same way every time
        "{{ money() }}",
        "{{ money(1, 2) }}",
        "{{ money(cents=250) }} {{ money(cents=250) }} {{ money(250) }}",
        "{% macro own() %}{{ label }}{% endmacro %}{{ own() }} {{ own() }}",
    ],
)
def test_remembered_calls_render_as_calls(source: str) -> None:
    remembering, calling = Renderer(MACROS), Renderer(MACROS, remember_calls=False)
    other: Mapping[str, PlainData] = {**CONTEXT, "label": "other", "items": [3]}
    for context in (CONTEXT, other):
        assert outcome(remembering, source, context) == outcome(calling, source, context)


def test_a_value_defined_macro_sees_its_context_every_time() -> None:
    renderer = Renderer(MACROS)
    source = "{% macro own() %}{{ label }}{% endmacro %}{{ own() }}"
    assert renderer.render(source, {"label": "a"}) == "a"
    assert renderer.render(source, {"label": "b"}) == "b"


def test_a_remembered_call_charges_its_loops_again() -> None:
    remembering, calling = Renderer(MACROS), Renderer(MACROS, remember_calls=False)
    for renderer in (remembering, calling):
        for _ in range(3):
            assert renderer.render("{{ stars(4) }}", {}) == "****"
    assert remembering.cost.loop_iterations == calling.cost.loop_iterations == 12


def test_the_loop_budget_runs_out_at_the_same_value() -> None:
    budget = CatalogBudget(loop_iterations=10)
    remembering = Renderer(MACROS, budget=budget)
    calling = Renderer(MACROS, budget=budget, remember_calls=False)
    seen = []
    for renderer in (remembering, calling):
        seen.append([outcome(renderer, "a {{ stars(4) }}", {}) for _ in range(4)])
    assert seen[0] == seen[1]
    assert [result[0] for result in seen[0]] == ["value", "value", "problem", "problem"]
    assert "loop_iterations=10 is spent" in str(seen[0][2][1])
