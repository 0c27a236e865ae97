"""The locked Jinja box that renders catalog values (RELIABILITY.md invariant 7, "Jinja" list)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator, Mapping
from types import FrameType
from typing import NamedTuple

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from reconciler.domain.templating import (
    PlainData,
    Renderer,
    RenderLimits,
    TemplateProblem,
    deadline,
    needs_rendering,
)
from reconciler.errors import InvalidInput

MONEY = "catalog/macros/money.j2"
TEXT = "catalog/macros/text.j2"
MACROS = {
    MONEY: (
        "{% macro money(cents) %}HK${{ '%.2f'|format(cents / 100) }}{% endmacro %}\n"
        "{% macro _sign(x) %}{{ '-' if x < 0 else '' }}{% endmacro %}\n"
        "{% macro signed(cents) %}{{ _sign(cents) }}{{ money(cents|abs) }}{% endmacro %}\n"
        "top-level text and {{ names_nobody_defined }} are dropped\n"
    ),
    TEXT: (
        "{% macro price_tag(name, cents) %}{{ name|upper }}: {{ money(cents) }}{% endmacro %}\n"
        "{% macro countdown(n) %}{{ n }}{% if n > 0 %} {{ countdown(n - 1) }}{% endif %}"
        "{% endmacro %}\n"
        "{% macro uses_context() %}\n{{ name }}{% endmacro %}\n"
    ),
}
CONTEXT: Mapping[str, PlainData] = {
    "name": "Coffee",
    "price": 3800,
    "prices": [3800, 4200],
    "rate": 0.125,
    "items": ["latte", "mocha"],
    "item": {"price": 5, "title": "Latte"},
    "vip": True,
}
UNDEFINED_FIX = "is undefined; define it in vars.yaml, the entry's vars, or check the spelling"
NOT_PLAIN = "which is not plain data"
FORBIDDEN = (
    "include/import/extends are not allowed in catalog values; use a macro from catalog/macros/"
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(MACROS)


def problem_of(
    renderer: Renderer, source: str, context: Mapping[str, PlainData] = CONTEXT
) -> TemplateProblem:
    with pytest.raises(TemplateProblem) as caught:
        renderer.render(source, context)
    return caught.value


def undefined(name: str, suggestion: str | None = None) -> str:
    tail = f"; did you mean '{suggestion}'?" if suggestion else ""
    return f"'{name}' {UNDEFINED_FIX}{tail}"


class Unsafe(NamedTuple):
    """The sandbox refused an attribute: our prefix, then Jinja's own sentence, which names it."""

    attribute: str


class Theirs(NamedTuple):
    """A refusal worded by Jinja alone: one line that mentions `mentions`, nothing more pinned."""

    mentions: str = ""


def assert_message(message: str, expected: str | Unsafe | Theirs) -> None:
    if isinstance(expected, Unsafe):
        assert message.startswith("not allowed in catalog values: "), message
        assert expected.attribute in message.removeprefix("not allowed in catalog values: ")
    elif isinstance(expected, Theirs):
        assert message.strip(), message
        assert "\n" not in message
        assert expected.mentions in message
    else:
        assert message == expected


# -- happy paths -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", False),
        ("{ not jinja }} {x}", False),
        ("{{ name }}", True),
        ("{% if x %}{% endif %}", True),
        ("{# comment #}", True),
    ],
)
def test_needs_rendering_looks_for_jinja_markers(source: str, expected: bool) -> None:
    assert needs_rendering(source) is expected


def test_plain_strings_come_back_unchanged(renderer: Renderer) -> None:
    assert renderer.render("{ not jinja }} {x}", {}) == "{ not jinja }} {x}"


def test_substitution(renderer: Renderer) -> None:
    assert renderer.render("Hello {{ name }}, {{ price }} cents", CONTEXT) == (
        "Hello Coffee, 3800 cents"
    )


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ name|upper }}", "COFFEE"),
        ("{{ '%05d HKD'|format(price) }}", "03800 HKD"),
        ("{{ '%s costs %d'|format(name, price) }}", "Coffee costs 3800"),
        ("{{ (price / 3)|round(2) }}", 1266.67),
        ("{{ '42'|int + 1 }}", 43),
        ("{{ items|join(', ') }}", "latte, mocha"),
        ("{{ missing|default('n/a') }}", "n/a"),
        ("{{ item.title ~ '!' }}", "Latte!"),
        ("{{ '{} and {}'.format(*items) }}", "latte and mocha"),
        ("{{ prices|map('string')|join('/') }}", "3800/4200"),
        ("{{ prices|sum }}", 8000),
        ("{{ {'b': 1, 'a': 2}|tojson }}", '{"a": 2, "b": 1}'),
        ("{{ range(3)|list }}", [0, 1, 2]),
        ("{{ dict(a=1) }}", {"a": 1}),
        (
            "{% for g in [item, item]|groupby('title') %}{{ g.grouper }} {{ g.list|length }}"
            "{% endfor %}",
            "Latte 2",
        ),
        ("{% for x in items %}{{ loop.index }}{{ loop.cycle('a', 'b') }}{% endfor %}", "1a2b"),
        ("{{ items|batch(1)|list }}", [["latte"], ["mocha"]]),
    ],
)
def test_filters_and_methods(renderer: Renderer, source: str, expected: PlainData) -> None:
    assert renderer.render(source, CONTEXT) == expected


def test_macros_from_two_files_call_each_other(renderer: Renderer) -> None:
    assert renderer.render("{{ money(3800) }}", {}) == "HK$38.00"
    assert renderer.render("Now {{ price_tag(name, price) }}", CONTEXT) == "Now COFFEE: HK$38.00"
    assert renderer.render("{{ signed(-250) }}", {}) == "-HK$2.50"


def test_private_macros_stay_in_their_file(renderer: Renderer) -> None:
    assert problem_of(renderer, "{{ _sign(1) }}").message == undefined("_sign", "signed")


def test_macros_see_arguments_not_the_callers_context(renderer: Renderer) -> None:
    found = problem_of(renderer, "{{ uses_context() }}")
    assert found.message == f"{undefined('name')} (in {TEXT} line 4)"


def test_reserved_names_cover_globals_macros_and_jinja_names(renderer: Renderer) -> None:
    assert {"money", "signed", "price_tag", "range", "dict", "self", "loop"} <= (
        renderer.reserved_names
    )
    assert "_sign" not in renderer.reserved_names


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ price }}", 3800),
        ("{{price}}", 3800),
        ("{{   price * 2   }}", 7600),
        ("{{ rate }}", 0.125),
        ("{{ vip }}", True),
        ("{{ name }}", "Coffee"),
        ("{{ prices }}", [3800, 4200]),
        ("{{ (1, [2, 3]) }}", [1, [2, 3]]),
        ("{{ {'a': (1,), 'b': none} }}", {"a": [1], "b": None}),
        ("{{ item }}", {"price": 5, "title": "Latte"}),
        ("{{ '}}' }}", "}}"),
    ],
)
def test_a_single_expression_gives_native_plain_data(
    renderer: Renderer, source: str, expected: PlainData
) -> None:
    result = renderer.render(source, CONTEXT)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (" {{ price }}", " 3800"),
        ("{{ price }}\n", "3800\n"),
        ("{{ price }}{{ price }}", "38003800"),
        ("{{ price }}{# note #}", "3800"),
        ("{{- price -}}  ", "3800"),
    ],
)
def test_anything_around_the_expression_gives_text(
    renderer: Renderer, source: str, expected: str
) -> None:
    assert renderer.render(source, CONTEXT) == expected


def test_markup_comes_back_as_plain_str(renderer: Renderer) -> None:
    assert type(renderer.render("{{ name|e }}", CONTEXT)) is str


def test_multi_line_template(renderer: Renderer) -> None:
    source = "Menu:\n{% for drink in items %}- {{ drink|title }}\n{% endfor %}Total: {{ price }}"
    assert renderer.render(source, CONTEXT) == "Menu:\n- Latte\n- Mocha\nTotal: 3800"


def test_compiles_each_distinct_source_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = Renderer(fast_path=False)  # the fast path would not compile this value at all
    calls: list[str] = []
    compile_source = fresh._compile  # a private seam: counting compiles needs one

    def counting(source: str) -> object:
        calls.append(source)
        return compile_source(source)

    monkeypatch.setattr(fresh, "_compile", counting)
    results = [fresh.render("{{ n }} x", {"n": n}) for n in range(3)]
    assert results == ["0 x", "1 x", "2 x"]  # the cached template takes each context afresh
    assert calls == ["{{ n }} x"]


# -- the environment ---------------------------------------------------------------------------


def test_environment_is_the_locked_sandbox(renderer: Renderer) -> None:
    sandbox = renderer._sandbox  # configuration is only visible on the private environment
    assert isinstance(sandbox, ImmutableSandboxedEnvironment)
    assert sandbox.undefined is StrictUndefined
    assert sandbox.autoescape is False
    assert sandbox.loader is None
    assert sandbox.keep_trailing_newline is True
    assert sandbox.extensions == {}


def test_globals_are_range_dict_and_the_macros(renderer: Renderer) -> None:
    assert set(renderer._sandbox.globals) == {
        "range",
        "dict",
        "money",
        "signed",
        "price_tag",
        "countdown",
        "uses_context",
    }


def test_filters_drop_random_and_pprint_and_keep_pass_markers(renderer: Renderer) -> None:
    filters = renderer._sandbox.filters
    plain = ImmutableSandboxedEnvironment().filters
    assert set(plain) - set(filters) == {"random", "pprint"}
    for name in ("map", "sum", "join", "upper"):
        marker = getattr(plain[name], "jinja_pass_arg", None)
        assert getattr(filters[name], "jinja_pass_arg", None) is marker


@pytest.mark.parametrize(
    "name",
    ["env", "os", "config", "self", "request", "lipsum", "cycler", "joiner", "namespace", "loop"],
)
def test_nothing_leaks_into_the_context(renderer: Renderer, name: str) -> None:
    found = problem_of(renderer, f"{{{{ {name} }}}}", {})
    assert found.message.startswith(f"'{name}' {UNDEFINED_FIX}")
    assert (found.line, found.column) == (1, 4)


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        ("{% include 'other.yaml' %}", 1, 1),
        ("{% import 'catalog/macros/money.j2' as m %}", 1, 1),
        ("ok\n  {% from 'x' import money %}", 2, 3),
        ("{% extends 'base' %}", 1, 1),
        ("{% if vip %}{% include name %}{% endif %}", 1, 13),
    ],
)
def test_include_import_and_extends_are_refused(
    renderer: Renderer, source: str, line: int, column: int
) -> None:
    found = problem_of(renderer, source)
    assert (found.message, found.line, found.column) == (FORBIDDEN, line, column)


# -- sandbox escapes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", Unsafe("__class__")),
        ("{{ cycler.__init__.__globals__ }}", undefined("cycler")),
        ("{{ ''|attr('__class__') }}", Unsafe("__class__")),
        ("{{ '{0.__class__}'.format(1) }}", Unsafe("__class__")),
        ("{{ '{0.__globals__}'.format(range) }}", Unsafe("__globals__")),
        ("{{ '{x.__class__}'.format_map({'x': 1}) }}", Unsafe("__class__")),
        ("{{ '%s' % ''.__class__ }}", Unsafe("__class__")),
        ("{{ '%s'|format(''.__class__) }}", Unsafe("__class__")),
        ("{{ self._TemplateReference__context }}", undefined("self")),
        ("{{ range.__globals__ }}", Unsafe("__globals__")),
        ("{{ money.__call__ }}", Unsafe("__call__")),
        ("{{ money._environment }}", Unsafe("_environment")),
        ("{{ '\t'.expandtabs(9) }}", Unsafe("expandtabs")),
        ("{{ 'a'.translate({}) }}", Unsafe("translate")),
        ("{{ 'a'.encode() }}", Unsafe("encode")),
        ("{{ ('\t'|safe).expandtabs(10**9) }}", Unsafe("expandtabs")),
    ],
)
def test_sandbox_escape_probes_fail(renderer: Renderer, source: str, message: str | Unsafe) -> None:
    assert_message(problem_of(renderer, source).message, message)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% set x = [1] %}{{ x.append(2) }}", Unsafe("append")),
        ("{{ items.append('tea') }}", Unsafe("append")),
        ("{{ items.sort() }}", Unsafe("sort")),
        ("{{ items.pop() }}", Unsafe("pop")),
        ("{{ item.update({'price': 0}) }}", Unsafe("update")),
        ("{{ item.setdefault('x', 1) }}", Unsafe("setdefault")),
        ("{{ item.clear() }}", Unsafe("clear")),
        ("{% set item.price = 0 %}", Theirs()),
    ],
)
def test_lists_and_dicts_cannot_be_mutated(source: str, message: Unsafe | Theirs) -> None:
    items: list[PlainData] = ["latte", "mocha"]
    item: dict[str, PlainData] = {"price": 5}
    with pytest.raises(TemplateProblem) as caught:
        Renderer().render(source, {"items": items, "item": item})
    assert_message(caught.value.message, message)
    assert (items, item) == (["latte", "mocha"], {"price": 5})


@pytest.mark.parametrize("source", ["{{ v }}", "x {{ v }}", "{{ v ~ '' }}", "{{ v|upper }}"])
def test_rendered_text_is_never_rendered_again(renderer: Renderer, source: str) -> None:
    assert renderer.render(source, {"v": "{{ 7*7 }}"}) in ("{{ 7*7 }}", "x {{ 7*7 }}")


# -- limits ------------------------------------------------------------------------------------


def over(what: str, limit: str, value: object) -> str:
    return f"{what} is over the limit {limit}={value}"


def too_long(what: str, amount: object) -> str:
    return over(f"{what} ({amount})", "max_sequence_len", 10000)


def too_big(what: str, amount: object = "more than 65536") -> str:
    return over(f"{what} ({amount} characters)", "max_output_chars", 65536)


def too_many_bits(what: str, bits: int) -> str:
    return over(f"'{what}' result ({bits} bits)", "max_int_bits", 256)


BIG = "{% set big = 'x' * 10000 %}"
WRAPPED = 200020000  # 10000 characters + (2 * 10000 + 1) breaks of 10000 characters
STAR_WIDTH = "'*' widths in '%' formatting are not allowed in catalog values"
NESTED_LOOPS = "{% for i in range(10000) %}{% for j in range(10000) %}xxxxxxxx{% endfor %}"
HUGE_MACRO = "{% macro m() %}{% for i in range(10000) %}{{ 'x' * 100 }}{% endfor %}{% endmacro %}"
BOMBS = [
    ("{{ 'A' * 10**9 }}", too_long("repetition result length", 1000000000)),
    ("{{ [1] * 10**9 }}", too_long("repetition result length", 1000000000)),
    ("{{ 10**9 * 'A' }}", too_long("repetition result length", 1000000000)),
    ("{{ 'a' * 5000 * 3 }}", too_long("repetition result length", 15000)),
    ("{{ 10**10**10 }}", too_many_bits("**", 331)),
    ("{{ 9**999999 }}", too_many_bits("**", 2999998)),
    ("{{ 2**256 }}", too_many_bits("**", 257)),
    ("{{ 2**200 * 2**200 }}", too_many_bits("*", 401)),
    ("{{ 'a'.ljust(10**9) }}", too_long("ljust() width", 1000000000)),
    ("{{ 'a'.zfill(10**9) }}", too_long("zfill() width", 1000000000)),
    ("{{ 'a'|center(10**9) }}", too_long("center width", 1000000000)),
    ("{{ 'a'|indent(10**9) }}", too_long("indent width", 1000000000)),
    ("{{ 'a'|truncate(10**9) }}", too_long("truncate length", 1000000000)),
    ("{{ 'a'|wordwrap(10**9) }}", too_long("wordwrap width", 1000000000)),
    ("{{ '%999999999s' % 1 }}", too_long("'%' width or precision", 999999999)),
    ("{{ '%.999999999f'|format(1) }}", too_long("'%' width or precision", 999999999)),
    (
        "{{ '%*s' % (10**9, 'a') }}",
        "'*' widths in '%' formatting are not allowed in catalog values",
    ),
    ("{{ '{:>999999999}'.format(1) }}", too_long("format() width or precision", 999999999)),
    ("{{ '{:{}}'.format(1, 10**9) }}", too_long("format() width or precision", 1000000000)),
    ("{% for i in range(10**9) %}{% endfor %}", too_long("range()", "1000000000 items")),
    (NESTED_LOOPS + "{% endfor %}", too_big("output")),
    (HUGE_MACRO + "{% set swallowed = m() %}", too_big("block output")),
    (BIG + "{{ [big] * 10000 }}", too_big("output")),
    (BIG + "{{ 'x' ~ [big] * 7 }}", too_big("'~' result", 70045)),
    (BIG + "{{ big + big + big + big + big + big + big }}", too_big("'+' result", 70000)),
    (BIG + "{{ big|replace('x', big) }}", too_big("replace() result", 100000000)),
    (BIG + "{{ big.replace('x', big) }}", too_big("replace() result", 100000000)),
    (BIG + "{{ ([''] * 10000)|join(big) }}", too_big("join() result", 99990000)),
    (BIG + "{{ big.join([''] * 10000) }}", too_big("join() result", 99990000)),
    (BIG + "{{ ([big] * 10000)|map('upper')|list }}", too_big("a filter's results")),
    (BIG + "{{ ([big] * 10000)|sort|first }}", too_big("input of the sort filter")),
    (BIG + "{{ ('%(a)s' * 2000) % {'a': big} }}", too_big("'%' formatting result", 70000)),
    (BIG + "{{ '%s' % {'a': [big] * 7} }}", too_big("'%' formatting result", 70052)),
    (BIG + "{{ ('{0}' * 2000).format(big) }}", too_big("format() result", 70000)),
    ("{{ (['x'] * 5000)|tojson(indent=10000) }}", too_big("tojson result", 70035)),
    (
        BIG + "{{ ('a ' * 5000)|wordwrap(1, wrapstring=big) }}",
        too_big("wordwrap result", 200020000),
    ),
    (BIG + "{{ ('\\n' * 10000)|indent(big) }}", too_big("indent result", 100020000)),
]


@pytest.mark.parametrize(("source", "message"), BOMBS)
def test_bombs_stop_fast_at_a_named_limit(renderer: Renderer, source: str, message: str) -> None:
    started = time.monotonic()
    found = problem_of(renderer, source)
    assert time.monotonic() - started < 0.5
    assert found.message == message
    assert found.hint == "rendering limits keep a hostile catalog from stalling the pipeline"


def test_values_just_under_the_limits_render(renderer: Renderer) -> None:
    assert renderer.render("{{ 2**255 }}", {}) == 2**255
    assert renderer.render("{{ 1**999999 }}", {}) == 1
    assert renderer.render("{{ ('ab' * 5000)|length }}", {}) == 10000
    assert renderer.render("{{ 'a'|center(10000)|length }}", {}) == 10000
    assert len(str(renderer.render("{{ 'x' * 10000 }}" * 6, {}))) == 60000


def test_self_calling_macro_is_stopped(renderer: Renderer) -> None:
    started = time.monotonic()
    recursive = "{% macro loop_forever(n) %}{{ loop_forever(n + 1) }}{% endmacro %}"
    found = problem_of(renderer, recursive + "{{ loop_forever(0) }}")
    assert time.monotonic() - started < 0.5
    assert found.message == RECURSION


def test_endless_recursive_loops_and_deep_nesting_are_stopped(renderer: Renderer) -> None:
    endless = "{% for x in items recursive %}{{ loop(items) }}{% endfor %}"
    assert problem_of(renderer, endless).message == RECURSION
    assert problem_of(renderer, "{{ " + "(" * 300 + "1" + ")" * 300 + " }}").message == RECURSION


def test_recursive_macros_that_end_are_fine(renderer: Renderer) -> None:
    assert renderer.render("{{ countdown(3) }}", {}) == "3 2 1 0"


RECURSION = "recursion too deep (a macro or recursive loop that never ends?) or nesting too deep"


# -- the deadline ------------------------------------------------------------------------------

SILENT_LOOP = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


def test_a_loop_that_outputs_nothing_hits_the_deadline() -> None:
    started = time.monotonic()
    found = problem_of(Renderer(limits=RenderLimits(deadline_seconds=0.1)), SILENT_LOOP)
    assert time.monotonic() - started < 0.5
    assert found.message == (
        "rendering took longer than the limit deadline_seconds=0.1;"
        " look for a loop that runs too long"
    )
    assert found.line == 1


@pytest.fixture
def outer_alarm() -> Iterator[list[int]]:
    """A handler and a running timer of someone else's on the deadline's own signal (a
    profiler's, say)."""
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        fired.append(signum)

    previous_handler = signal.signal(deadline.SIGNAL, handler)
    previous_timer = signal.setitimer(deadline.TIMER, 30)
    try:
        yield fired
    finally:
        signal.setitimer(deadline.TIMER, *previous_timer)
        signal.signal(deadline.SIGNAL, previous_handler)


def test_the_previous_handler_and_timer_are_restored(outer_alarm: list[int]) -> None:
    handler = signal.getsignal(deadline.SIGNAL)
    renderer = Renderer(limits=RenderLimits(deadline_seconds=0.05))
    assert renderer.render("{{ 1 + 1 }}", {}) == 2
    problem_of(renderer, SILENT_LOOP)
    with renderer.deadline(0.05):
        assert renderer.render("{{ 2 }}", {}) == 2
    assert signal.getsignal(deadline.SIGNAL) is handler
    assert 29 < signal.getitimer(deadline.TIMER)[0] <= 30
    assert outer_alarm == []


def test_an_outer_timer_that_expires_during_a_render_still_fires(outer_alarm: list[int]) -> None:
    signal.setitimer(deadline.TIMER, 0.01)
    problem_of(Renderer(limits=RenderLimits(deadline_seconds=0.05)), SILENT_LOOP)
    spent = deadline.clock()
    while not outer_alarm and deadline.clock() - spent < 1:  # the timer counts CPU time: spend some
        pass
    assert outer_alarm == [deadline.SIGNAL]


def test_the_deadline_counts_cpu_time_and_leaves_sigalrm_alone() -> None:
    """A busy machine (time spent waiting for a core) never fails a valid catalog, and
    pytest-timeout's SIGALRM timer is never touched."""
    before = signal.getsignal(signal.SIGALRM)
    renderer = Renderer(limits=RenderLimits(deadline_seconds=0.2))
    with renderer.deadline(0.2):
        time.sleep(0.4)  # wall time passes, no CPU time: the batch is not spent
        assert renderer.render("{{ 1 + 1 }}", {}) == 2
    assert signal.getsignal(signal.SIGALRM) is before


def test_a_batch_deadline_covers_many_renders() -> None:
    renderer = Renderer(limits=RenderLimits(deadline_seconds=30))
    batch = "rendering took longer than this batch's deadline of 0.1 s (Renderer.deadline)"
    with renderer.deadline(0.1):
        assert renderer.render("{{ 1 }}", {}) == 1
        assert problem_of(renderer, SILENT_LOOP).message == batch
        assert problem_of(renderer, "{{ 2 }}").message == batch  # the budget is spent
    assert renderer.render("{{ 3 }}", {}) == 3


def test_every_render_after_a_spent_batch_deadline_fails_at_once() -> None:
    # A catalog file with two loop bombs: the second must not run for its own full length.
    renderer = Renderer(limits=RenderLimits(deadline_seconds=30))
    batch = "rendering took longer than this batch's deadline of 0.5 s (Renderer.deadline)"
    endless = "{% for i in range(9999) %}" * 3 + "{% endfor %}" * 3  # 10**12 turns, never cached
    started = time.monotonic()
    with renderer.deadline(0.5):
        assert problem_of(renderer, SILENT_LOOP).message == batch
        spent = time.monotonic()
        assert problem_of(renderer, endless).message == batch
        assert problem_of(renderer, SILENT_LOOP).message == batch
        assert problem_of(renderer, "{{ name }}!").message == batch  # the fast path too
        assert time.monotonic() - spent < 0.1
    assert time.monotonic() - started < 2
    assert renderer.render("{{ name }}!", CONTEXT) == "Coffee!"


def test_a_batch_deadline_that_runs_out_between_renders_stops_the_next_one() -> None:
    renderer = Renderer(limits=RenderLimits(deadline_seconds=30))
    batch = "rendering took longer than this batch's deadline of 0.05 s (Renderer.deadline)"
    started = time.monotonic()
    with renderer.deadline(0.05):
        time.sleep(0.1)  # the timer fires here, outside any render
        assert problem_of(renderer, SILENT_LOOP).message == batch
    assert time.monotonic() - started < 1


def test_batch_deadlines_do_not_nest() -> None:
    renderer = Renderer()
    with (
        renderer.deadline(1),
        pytest.raises(RuntimeError, match="do not nest"),
        renderer.deadline(1),
    ):
        pass  # pragma: no cover - never entered


def test_off_the_main_thread_only_counting_limits_apply() -> None:
    renderer = Renderer()
    results: list[object] = []

    def work() -> None:
        with renderer.deadline(0.01):
            results.append(renderer.render("{{ name }}!", {"name": "tea"}))
        try:
            renderer.render("{{ 'A' * 10**9 }}", {})
        except TemplateProblem as problem:
            results.append(problem.message)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert results == ["tea!", too_long("repetition result length", 1000000000)]


# -- errors ------------------------------------------------------------------------------------


def test_undefined_name_with_suggestion_and_location(renderer: Renderer) -> None:
    found = problem_of(renderer, "Total: {{ price_ }}\n")
    assert found.message == undefined("price_", "price")
    assert (found.line, found.column) == (1, 11)
    assert isinstance(found, InvalidInput)


def test_undefined_suggestion_from_macro_names(renderer: Renderer) -> None:
    assert problem_of(renderer, "{{ mony(1) }}").message == undefined("mony", "money")


def test_undefined_on_a_later_line(renderer: Renderer) -> None:
    found = problem_of(renderer, "Name: {{ name }}\n\n{% if vip %}\n  VIP {{ pricez }}{% endif %}")
    assert found.message == undefined("pricez", "price")
    assert (found.line, found.column) == (4, 10)


def test_undefined_attribute_suggests_a_key(renderer: Renderer) -> None:
    found = problem_of(renderer, "{{ item.pricee }}")
    assert "pricee" in found.message  # in Jinja's own sentence
    assert found.message.endswith("; did you mean 'price'?")  # ours
    assert (found.line, found.column) == (1, 9)


def test_undefined_in_an_expression_value(renderer: Renderer) -> None:
    assert problem_of(renderer, "{{ nothing }}").message == undefined("nothing")
    assert problem_of(renderer, "{{ [1, nothing] }}").message == undefined("nothing")


@pytest.mark.parametrize(
    ("source", "line", "column"),
    [
        ("{{ price }", 1, 1),
        ("ok\n{{ a }} {{ b + }}", 2, 9),
        ("{% for x in %}{{ x }}{% endfor %}", 1, 1),
        ("{{ a }}{% foo %}", 1, 8),
        ("one\ntwo {% if a %}{{ b +* }}{% endif %}", 2, 15),
    ],
)
def test_syntax_errors_give_line_and_column(
    renderer: Renderer, source: str, line: int, column: int
) -> None:
    found = problem_of(renderer, source)
    assert found.message.startswith("template syntax error: ")  # then Jinja's own sentence
    assert "\n" not in found.message
    assert (found.line, found.column) == (line, column)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
        ("{{ name + 1 }}", 'TypeError: can only concatenate str (not "int") to str'),
        ("{{ items[5] }}", Theirs("5")),
        ("{{ none }}", "expression gave none (null); a catalog value cannot be null"),
        ("{{ range(3) }}", f"expression gave a range, {NOT_PLAIN}"),
        ("{{ {1: 'a'} }}", "expression gave a dict key of type int; keys must be text"),
        (
            "{{ items|map('upper') }}",
            f"expression gave a generator (add |list), {NOT_PLAIN}",
        ),
        ("x {{ money }}", f"a printed value gave a Macro, {NOT_PLAIN}"),
        (
            "x {{ item.items }}",
            "a printed value gave a builtin_function_or_method, which is not plain data",
        ),
    ],
)
def test_other_failures_are_one_line_problems(
    renderer: Renderer, source: str, message: str | Theirs
) -> None:
    found = problem_of(renderer, source)
    assert_message(found.message, message)
    assert "\n" not in str(found)
    assert "Traceback" not in str(found)


def test_runtime_errors_carry_their_line(renderer: Renderer) -> None:
    found = problem_of(renderer, "fine\n{{ name }}\n{{ 1 // 0 }}")
    assert (found.message, found.line, found.column) == (
        "ZeroDivisionError: integer division or modulo by zero",
        3,
        1,
    )


# -- macro files -------------------------------------------------------------------------------


def test_duplicate_macro_names_name_both_files() -> None:
    with pytest.raises(TemplateProblem) as caught:
        Renderer({"catalog/macros/a.j2": MACROS[MONEY], "catalog/macros/b.j2": MACROS[MONEY]})
    assert caught.value.message == (
        "macro 'money' is defined in both catalog/macros/a.j2 and catalog/macros/b.j2;"
        " rename one of them"
    )
    assert caught.value.line == 1


@pytest.mark.parametrize(
    ("source", "message", "line"),
    [
        ("{% include 'x.j2' %}", f"catalog/macros/bad.j2:1:1: {FORBIDDEN}", 1),
        (
            "\n{% set rate = 1 / 0 %}",
            "catalog/macros/bad.j2:2:1: ZeroDivisionError: division by zero",
            2,
        ),
        (
            "{% macro range() %}{% endmacro %}",
            "catalog/macros/bad.j2: macro 'range' would hide the global range()",
            1,
        ),
    ],
)
def test_broken_macro_files_are_named(source: str, message: str, line: int) -> None:
    with pytest.raises(TemplateProblem) as caught:
        Renderer({"catalog/macros/bad.j2": source})
    assert (caught.value.message, caught.value.line) == (message, line)


def test_a_syntax_error_in_a_macro_file_is_named() -> None:
    with pytest.raises(TemplateProblem) as caught:
        Renderer({"catalog/macros/bad.j2": "{% macro a() %}\n{{ x + }}{% endmacro %}"})
    # After our prefix comes Jinja's own sentence.
    assert caught.value.message.startswith("catalog/macros/bad.j2:2:1: template syntax error: ")
    assert caught.value.line == 2


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'a'.upper|string }}",
        "{{ range|string }}",
        "{{ range ~ '' }}",
        "x {{ [range]|join }}",
        "{{ '{}'.format(range) }}",
        "{{ '%s' % 'a'.upper }}",
        "{{ ['a'.upper|string] }}",
    ],
)
def test_printed_python_objects_are_refused(source: str) -> None:
    # Their text carries a memory address: the payload hash would change on every run.
    with pytest.raises(TemplateProblem, match="printed a Python object"):
        Renderer().render(source, {})


def test_text_that_merely_mentions_an_address_is_kept() -> None:
    assert Renderer().render("{{ 'ok' }} at 0x1F>", {}) == "ok at 0x1F>"


def test_a_deadline_that_falls_inside_a_gc_callback_is_not_lost() -> None:
    """An exception raised in a garbage-collector callback is swallowed by Python; the deadline
    waits for the callback to end instead, so it still stops the render."""
    import gc

    calls: list[int] = []

    def slow_callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            calls.append(1)
            until = time.monotonic() + 0.05  # long enough for the alarm to land in here
            while time.monotonic() < until:
                pass

    gc.callbacks.append(slow_callback)
    threshold = gc.get_threshold()
    gc.set_threshold(50)  # collect often, so the alarm is likely to fall in a callback
    try:
        found = problem_of(Renderer(limits=RenderLimits(deadline_seconds=0.05)), SILENT_LOOP)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(slow_callback)
    assert calls  # the collector did run its callback during the render
    assert found.message.startswith("rendering took longer than the limit deadline_seconds=0.05")
