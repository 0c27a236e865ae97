"""Values that differ only in their text share one compiled template, and render exactly as if
each had been compiled on its own: the same text, or the same problem at the same line and column.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_templating_fast_path import CompileCounter, outcome

from reconciler.domain.templating import PlainData, Renderer, RenderLimits
from reconciler.domain.templating.shapes import shape_of

MACROS = {
    "catalog/macros/money.j2": (
        "{% macro money(cents) -%}\n"
        "HK${{ '{:,}'.format(cents // 100) }}{% if cents % 100 %}"
        ".{{ '%02d' | format(cents % 100) }}{% endif %}\n"
        "{%- endmacro %}"
    )
}
CONTEXT: Mapping[str, PlainData] = {
    "price": 2350,
    "was": 2800,
    "brand": "Pearl River",
    "flag": True,
    "items": ["latte", "mocha"],
}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> tuple[Renderer, CompileCounter]:
    renderer = Renderer(MACROS)
    return renderer, CompileCounter(renderer, monkeypatch)


def test_a_description_of_a_known_shape_is_not_compiled_again(
    counted: tuple[Renderer, CompileCounter],
) -> None:
    renderer, compiles = counted
    first = "Any latte for {{ money(price) }}\n(usually {{ money(was) }}).\n"
    second = "任何咖啡 {{ money(price) }}\n（原價 {{ money(was) }}）。\n"
    assert renderer.render(first, CONTEXT) == "Any latte for HK$23.50\n(usually HK$28).\n"
    assert renderer.render(second, CONTEXT) == "任何咖啡 HK$23.50\n（原價 HK$28）。\n"
    assert compiles.sources == [first]


def test_a_literal_of_its_own_shares_the_template(
    counted: tuple[Renderer, CompileCounter],
) -> None:
    renderer, compiles = counted
    first = "往深圳灣單程 {{ money(15800) }}，{{ items[0] }}"
    second = "To Shenzhen Bay {{ money(990) }}, {{ items[1] }}"
    assert renderer.render(first, CONTEXT) == "往深圳灣單程 HK$158，latte"
    assert renderer.render(second, CONTEXT) == "To Shenzhen Bay HK$9.90, mocha"
    assert compiles.sources == [first]


def test_literals_stay_in_the_shape_under_a_small_number_limit() -> None:
    small = RenderLimits(max_int_bits=8)
    shared, alone = Renderer(MACROS, small), Renderer(MACROS, small, share_shapes=False)
    for source in ("a {{ 200 + 1 }}", "a {{ 300 + 1 }}", "b {{ 1 + 1 }}"):
        assert outcome(shared, source, CONTEXT) == outcome(alone, source, CONTEXT)
    assert outcome(shared, "a {{ 300 + 1 }}", CONTEXT)[1] == (
        "number literal (9 bits) is over the limit max_int_bits=8"
    )


def test_texts_spanning_other_lines_make_another_shape(
    counted: tuple[Renderer, CompileCounter],
) -> None:
    renderer, compiles = counted
    one_line = "For {{ money(price) }}. {{ brand | upper }}"
    two_lines = "For\n{{ money(price) }}. {{ brand | upper }}"
    assert renderer.render(one_line, CONTEXT) == "For HK$23.50. PEARL RIVER"
    assert renderer.render(two_lines, CONTEXT) == "For\nHK$23.50. PEARL RIVER"
    assert compiles.sources == [one_line, two_lines]


def test_a_problem_is_located_in_the_value_that_has_it() -> None:
    shared, alone = Renderer(MACROS), Renderer(MACROS, share_shapes=False)
    shared.render("ab {{ money(price) }} {{ brand }}", CONTEXT)
    source = "a much longer text {{ money(price) }} {{ brand }}"
    context = {"brand": "x"}  # no price: the problem is in the shared template's second value
    assert outcome(shared, source, context) == outcome(alone, source, context)
    assert outcome(shared, source, context)[2:4] == (1, 29)  # where `price` is in this value


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a {{ 1 / 0 }}", "a\n\n{{ 1 / 0 }}"),  # the problem's line
        ("a {{ price }} b", "a{{{ price }} b"),  # a text's `{` makes markup with the tag after it
        ("x{{- price }}", "x \n {{- price }}"),  # whitespace control strips what a text ends with
        ("{{ price -}}y", "{{ price -}} \ny"),
        ("x{%- if flag %}y{% endif %}", "x \n{%- if flag %}y{% endif %}"),
        ("a\nb {{ price }}", "a\r\nb {{ price }}"),
        ("a {{ _ipass_text_0 }} b", "c {{ _ipass_text_0 }} d"),
        ("a {{ 1 }} {{ _ipass_number_0 }}", "a {{ 2 }} {{ _ipass_number_0 }}"),
        ("a {{ items[0] }}", "a {{ items[5] }}"),  # the problem of the second
        ("a {{ 1.5 }}", "a {{ 2.5 }}"),  # floats stay in the shape
    ],
)
def test_a_value_like_one_compiled_before_renders_as_alone(first: str, second: str) -> None:
    shared, alone = Renderer(MACROS), Renderer(MACROS, share_shapes=False)
    outcome(shared, first, CONTEXT)
    assert outcome(shared, second, CONTEXT) == outcome(alone, second, CONTEXT)


def test_the_shape_is_the_markup_and_the_lines_of_each_text() -> None:
    source = (
        "Offer {{ sku | upper }}{{ ' – save }} ' ~ money(d) if d else '' }}.\n第二行 {% if x %}\n"
    )
    shape = shape_of(source)
    assert shape is not None
    assert shape.key == (
        "{{ sku | upper }}",
        "{{ ' – save }} ' ~ money(d) if d else '' }}",
        "{% if x %}",
        0,  # "Offer "
        -1,  # no text between the two tags
        1,
        1,
    )
    assert shape.texts == ("Offer ", ".\n第二行 ", "\n")


@pytest.mark.parametrize(
    "source",
    [
        "a {{- price }} b",  # whitespace control changes the texts around it
        "a {{ price -}} b",
        "a {%- if flag %}y{% endif %}",
        "a {# note #} {{ price }}",
        "{% raw %}{{ x }}{% endraw %} {{ price }}",
        "a {{ {'k': price}['k'] }} b",  # braces inside an expression
        "a{{{ price }}",
        "a\r\n{{ price }}",  # Jinja turns \r\n into \n
        "a {{ _ipass_text_0 }} b",  # the names of the texts are this renderer's own
        "a {{ _ipass_number_0 }} b",
        "{{ price }}",  # no text: an expression keeps its type
    ],
)
def test_no_shape_where_unsure(source: str) -> None:
    assert shape_of(source) is None


# -- the same results as values compiled alone, over a generated corpus -----------------------

# Markup in groups that make whole constructs, so that most skeletons compile; then markup that
# fails, or that the shapes leave to Jinja.
MARKUP: tuple[tuple[str, ...], ...] = (
    ("{{ money(price) }}",),
    ("{{ money(N) }}",),  # N: a whole number drawn for each value
    ("{{ items[N] }}",),
    ("{{ price + N }}",),
    ("{{ -N // 7 }}",),
    ("{{ '%02d' | format(N) }}",),
    ("{% for i in range(N) %}", "{{ i }}", "{% endfor %}"),
    ("{% macro d(a=N) %}", "{{ a }}", "{% endmacro %}", "{{ d() }}"),
    ("{{ N.5 }}",),
    ("{{ 1_00N }}",),
    ("{{ 0x1N }}",),
    ("{{ 2 ** N }}",),
    ("{{ N is divisibleby 3 }}",),
    ("{{ brand | upper }}",),
    ("{{ price // 100 }}",),
    ("{% if flag %}", "{% else %}", "{% endif %}"),
    ("{% if price > 3000 %}", "{% endif %}"),
    ("{% for i in items %}", "{{ i }}", "{{ loop.index }}", "{% endfor %}"),
    ("{% set v = price %}", "{{ v }}"),
    ("{% set b %}", "{% endset %}", "{{ b }}"),
    ("{% macro t(a) %}", "{{ a }}", "{% endmacro %}", "{{ t(brand) }}"),
    ("{% filter upper %}", "{% endfilter %}"),
    ("{{ 'x}}' ~ brand }}",),
    ("{{ '%-4d|' % price }}",),
    ("{{ missing }}",),
    ("{{ brand.missing }}",),
    ("{{ 1 / 0 }}",),
    ("{{ (1 }}", "{{ 2) }}"),
    ("{{- price }}",),
    ("{{ price -}}",),
    ("{# c #}",),
    ("{% raw %}", "{% endraw %}"),
    ("{% include 'x' %}",),
    ("{{ self }}",),
    ("{{ 1e999 }}",),
    ("{{ _ipass_text_0 }}",),
    ("{{",),
    ("}}",),
    ("{%",),
)
# The first value of a skeleton has plain texts (its shape is compiled); the second may also have
# texts that make markup with their neighbours (`{`), or \r, or none at all.
plain_texts = st.text(alphabet="ab \n券%#-}", min_size=1, max_size=4)
texts = plain_texts | st.text(alphabet="ab \n{}%#-券\r", max_size=4)
skeletons = st.lists(st.sampled_from(MARKUP), min_size=1, max_size=3).map(
    lambda groups: [markup for group in groups for markup in group]
)
CORPUS = settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


numbers = st.sampled_from(["0", "3", "7", "250", "1250", "300000000000000000", "0017"])


def weave(skeleton: list[str], filling: list[str], number: str) -> str:
    pairs = zip(filling[:-1], skeleton, strict=True)
    return "".join(text + markup.replace("N", number) for text, markup in pairs) + filling[-1]


@pytest.fixture(scope="module")
def renderers() -> tuple[Renderer, Renderer]:
    # The sharing renderer keeps every shape it met in earlier examples: later values hit them.
    return Renderer(MACROS), Renderer(MACROS, share_shapes=False)


@CORPUS
@given(data=st.data(), skeleton=skeletons)
def test_a_value_renders_as_if_compiled_alone(
    renderers: tuple[Renderer, Renderer], data: st.DataObject, skeleton: list[str]
) -> None:
    shared, alone = renderers
    size = len(skeleton) + 1
    first = data.draw(st.lists(plain_texts, min_size=size, max_size=size))
    second = data.draw(st.lists(texts, min_size=size, max_size=size))
    for filling, number in ((first, data.draw(numbers)), (second, data.draw(numbers))):
        source = weave(skeleton, filling, number)
        assert outcome(shared, source, CONTEXT) == outcome(alone, source, CONTEXT), source
