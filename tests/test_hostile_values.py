"""Hostile catalog values through the real command line (issue 9, classes 8, 9, 13a and 13b).

* 8: work is bounded across the whole catalog, not only per file: loop iterations, output
  characters and time, summed over every file (and split across worker processes);
* 9: numbers stay numbers AlipayHK can take: no integer beyond a Java long and no inf or NaN,
  whichever route made it, refused where it was made with its file, line and field;
* 13a: image and logo URLs are https, in the rules and in the committed JSON Schema;
* 13b: a value that fails to render hides none of the entry's other problems.

Tests assert the exact lines a user sees; budgets are set small (never wall-clock thresholds).
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import REPO, run_cli
from test_catalog import COUPON, project
from test_contract_pass import TICKET_PASS, changed
from test_contract_template import TICKET

from reconciler.domain import catalog as cat
from reconciler.domain.canonical import canonical_json
from reconciler.domain.config import load_project
from reconciler.domain.contract.codes import ResultCode
from reconciler.domain.contract.rules import (
    Violation,
    check_pass_request,
    check_template_request,
)
from reconciler.domain.problems import Problem
from reconciler.domain.templating import CatalogBudget, RenderCost, Renderer, TemplateProblem
from reconciler.errors import InvalidInput
from reconciler.usecases import catalog as catalog_usecase

MOVIE = textwrap.dedent(
    """\
    type: TICKET
    product: MOVIE
    codeType: qrcode
    codeStandard: QRCODE
    imageUrl: https://cdn.example.com/c.png
    startDate: 2030-01-01
    endDate: 2030-12-31
    exposure: exposed
    orderPageLink: alipayhk://platformapi/startapp?appId=1&page=buy
    detailLink: alipayhk://platformapi/startapp?appId=1&page=detail
    categories: [Concert]
    button:
      btnType: none
    localeInfo:
      en_US:
        name: "{{ title }}"
    passExtInfo:
      seats: 120
    """
)
# passExtInfo of a MOVIE has no known fields (any JSON object), so only our number rule guards it.
SEATS_LINE = 18
JAVA_LONG = "(a Java long: at most 9223372036854775807 either way) [PARAM_ILLEGAL]"
NOT_FINITE = "not a finite number; AlipayHK takes finite numbers only"


def validate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, files: dict[str, str | bytes]
) -> list[str]:
    project(tmp_path, files)
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert "Traceback" not in run.out + run.err
    assert run.code == (1 if "problem" in run.out.splitlines()[-1] else 0), run.out + run.err
    return run.out.splitlines()


def seats(value: str) -> str:
    """MOVIE with passExtInfo.seats set to `value` (YAML text)."""
    return MOVIE.replace("seats: 120", f"seats: {value}")


# --- class 9: numbers ---------------------------------------------------------------------------

BITS = "is over the limit max_int_bits=256"
# (value of passExtInfo.seats, message) for every route that makes a number. Each value is quoted
# from column 10, so the problem points at its `{{` in column 11.
RENDERED_NUMBERS = [
    # filters
    ("'{{ (\"9\" * 4300) | int }}'", f"int filter result (14285 bits) {BITS}"),
    ('\'{{ ("0x" ~ "f" * 100) | int(0, 16) }}\'', f"int filter result (400 bits) {BITS}"),
    ("'{{ \"1e999\" | float }}'", f"float filter result is inf, {NOT_FINITE}"),
    ("'{{ \"nan\" | float }}'", f"float filter result is nan, {NOT_FINITE}"),
    ("'{{ [1e308, 1e308] | sum }}'", f"sum filter result is inf, {NOT_FINITE}"),
    ("'{{ [2**255, 2**255] | sum }}'", f"sum filter result (257 bits) {BITS}"),
    # arithmetic
    ('"{{ 1e308 * 10 }}"', f"'*' result is inf, {NOT_FINITE}"),
    ('"{{ 2**300 }}"', f"'**' result (301 bits) {BITS}"),
    ('"{{ 2**255 + 2**255 }}"', f"'+' result (257 bits) {BITS}"),
    ('"{{ -1e308 - 1e308 }}"', f"'-' result is -inf, {NOT_FINITE}"),
    ('"{{ 1e308 / 0.1 }}"', f"'/' result is inf, {NOT_FINITE}"),
    ('"{{ 1e308 // 1e-10 }}"', f"'//' result is inf, {NOT_FINITE}"),
    ('"{{ 7 - 1e308 * 10 }}"', f"'*' result is inf, {NOT_FINITE}"),
    # literals
    ('"{{ 1e309 }}"', f"number literal is inf, {NOT_FINITE}"),
    ('"{{ -1e309 }}"', f"number literal is inf, {NOT_FINITE}"),
    ('"{{ ' + "9" * 100 + ' }}"', f"number literal (333 bits) {BITS}"),
    # printed inside text: refused where it is made, never printed as "inf"
    ('"{{ (1e308 * 10) | string }} seats"', f"'*' result is inf, {NOT_FINITE}"),
    ("\"{{ '%f' % (1e308 * 10) }}\"", f"'*' result is inf, {NOT_FINITE}"),
]


@pytest.mark.parametrize(("value", "message"), RENDERED_NUMBERS)
def test_every_route_to_a_number_is_bounded_where_it_is_made(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str, message: str
) -> None:
    lines = validate(capsys, tmp_path, {"catalog/templates/m.yaml": seats(value)})
    assert lines == [
        f"catalog/templates/m.yaml:{SEATS_LINE}:11: passExtInfo.seats: {message}",
        "1 problem found",
    ]


def test_a_literal_too_long_for_python_is_located_at_its_first_digit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    value = '"{{ 1 + ' + "9" * 5000 + ' }}"'
    lines = validate(capsys, tmp_path, {"catalog/templates/m.yaml": seats(value)})
    assert lines == [
        f"catalog/templates/m.yaml:{SEATS_LINE}:18: passExtInfo.seats: number literal "
        f"(5000 digits) {BITS}",
        "1 problem found",
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('"{{ 2**62 * 4 }}"', "the integer 18446744073709551616"),
        ('"{{ 9223372036854775807 + 1 }}"', "the integer 9223372036854775808"),
        ('"{{ -(2**63) }}"', "the integer -9223372036854775808"),
        ('"{{ 2**255 }}"', "an integer of 77 digits"),
        ('"{{ big }}"', "the integer 99999999999999999999"),  # from vars.yaml
        ('"{{ big_here }}"', "the integer 88888888888888888888"),  # from the entry's vars
        ("99999999999999999999", "the integer 99999999999999999999"),  # plain YAML
    ],
)
def test_integers_beyond_a_java_long_are_refused_at_their_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, value: str, shown: str
) -> None:
    entry = "vars:\n  big_here: 88888888888888888888\n" + seats(value)
    lines = validate(
        capsys,
        tmp_path,
        {
            "catalog/vars.yaml": "title: Film\nbig: 99999999999999999999\n",
            "catalog/templates/m.yaml": entry,
        },
    )
    assert lines == [
        f"catalog/templates/m.yaml:{SEATS_LINE + 2}:3: passExtInfo.seats: {shown} is beyond what "
        f"AlipayHK takes in any number field {JAVA_LONG}",
        "1 problem found",
    ]


def test_the_widest_java_long_is_accepted_and_sent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project(tmp_path, {"catalog/templates/m.yaml": seats('"{{ 2**63 - 1 }}"')})
    run = run_cli(capsys, "-C", str(tmp_path), "render")
    assert run.code == 0, run.err
    assert json.loads(run.out)["m"]["passExtInfo"] == {"seats": 2**63 - 1}


def test_a_field_with_its_own_limit_says_that_limit_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entry = COUPON.replace("stock: 10", 'stock: "{{ 2**70 }}"')
    lines = validate(capsys, tmp_path, {"catalog/templates/c.yaml": entry})
    assert lines == [
        "catalog/templates/c.yaml:9:1: stock: must be at most 1000000, not the number "
        "1180591620717411303424 [PARAM_ILLEGAL]",
        "1 problem found",
    ]


def test_render_refuses_what_validate_refuses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    project(tmp_path, {"catalog/templates/m.yaml": seats('"{{ 1e308 * 10 }}"')})
    run = run_cli(capsys, "-C", str(tmp_path), "render")
    assert run.code == 1
    assert run.out == ""
    assert run.err.splitlines() == [
        f"error: catalog/templates/m.yaml:{SEATS_LINE}:11: passExtInfo.seats: '*' result is inf, "
        f"{NOT_FINITE}",
        "1 problem found",
        "hint: fix each line above; `ipass validate` checks everything again",
    ]


def test_the_rules_refuse_numbers_in_bodies_from_anywhere() -> None:
    """The sandbox server checks bodies it receives with the same rules: JSON may say Infinity."""
    body = {**TICKET, "requestId": "R-1", "merchantId": "2160120041113167"}
    body["passExtInfo"] = {"a": [float("inf"), 2**64]}  # any object, for an AIR_TICKET
    checked = check_template_request(body, now_ms=None)
    assert checked.value is None
    assert checked.violations == (
        Violation(("passExtInfo", "a", 0), f"inf is {NOT_FINITE}", ResultCode.PARAM_ILLEGAL),
        Violation(
            ("passExtInfo", "a", 1),
            "the integer 18446744073709551616 is beyond what AlipayHK takes in any number field "
            "(a Java long: at most 9223372036854775807 either way)",
            ResultCode.PARAM_ILLEGAL,
        ),
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"a": {"b": [1, float("nan")]}}, f"a.b[1]: nan is {NOT_FINITE}"),
        ({"x": -float("inf")}, f"x: -inf is {NOT_FINITE}"),
        (
            {"x": 2**63},
            "x: the integer 9223372036854775808 is beyond what AlipayHK takes in any number "
            "field (a Java long: at most 9223372036854775807 either way)",
        ),
        (
            {"x": [10**5000]},
            "x[0]: an integer of about 5000 digits is beyond what AlipayHK takes in any number "
            "field (a Java long: at most 9223372036854775807 either way)",
        ),
    ],
)
def test_canonical_json_is_the_last_guard(body: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        canonical_json(body)
    assert caught.value.message == message
    assert caught.value.hint == (
        "nothing was sent with this value; `ipass validate` shows where it comes from"
    )


def test_canonical_json_keeps_long_digit_text_and_the_widest_longs() -> None:
    body = {"a": ":12345678901234567890", "b": [2**63 - 1, -(2**63) + 1], "c": 1e300}
    assert canonical_json(body) == (
        b'{"a":":12345678901234567890","b":[9223372036854775807,-9223372036854775807],"c":1e+300}'
    )


# --- class 13a: https only ----------------------------------------------------------------------

HTTPS_ONLY = "plain http is refused, use https://"


@pytest.mark.parametrize(
    ("written", "line", "code"),
    [
        ("imageUrl: http://cdn.example.com/c.png", 5, "PASS_TEMPLATE_IMAGE_URL_ILLEGAL"),
        ("merchantLogo: http://cdn.example.com/logo.png", 6, "PARAM_ILLEGAL"),
    ],
)
def test_image_urls_must_be_https(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, written: str, line: int, code: str
) -> None:
    https = written.replace("http://", "https://")
    lines = validate(capsys, tmp_path, {"catalog/templates/c.yaml": COUPON.replace(https, written)})
    field, url = written.split(": ", 1)
    assert lines == [
        f"catalog/templates/c.yaml:{line}:1: {field}: must start with https://, not '{url}'; "
        f"{HTTPS_ONLY} [{code}]",
        "1 problem found",
    ]


def test_a_rendered_image_url_must_be_https_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entry = COUPON.replace("imageUrl: https://cdn.example.com/c.png", 'imageUrl: "{{ cdn }}/c.png"')
    lines = validate(
        capsys,
        tmp_path,
        {
            "catalog/vars.yaml": "title: Coffee\ncdn: http://cdn.example.com\n",
            "catalog/templates/c.yaml": entry,
        },
    )
    assert lines == [
        "catalog/templates/c.yaml:5:1: imageUrl: must start with https://, not "
        f"'http://cdn.example.com/c.png'; {HTTPS_ONLY} [PASS_TEMPLATE_IMAGE_URL_ILLEGAL]",
        "1 problem found",
    ]


def test_button_links_keep_alipayhk_and_https_but_not_http(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = "btnUrl: alipayhk://platformapi/startapp?appId=1&page=use"
    files: dict[str, str | bytes] = {
        "catalog/templates/app.yaml": COUPON,
        "catalog/templates/web.yaml": COUPON.replace(app, "btnUrl: https://shop.example.com/use"),
        "catalog/templates/plain.yaml": COUPON.replace(app, "btnUrl: http://shop.example.com/use"),
    }
    lines = validate(capsys, tmp_path, files)
    assert lines == [
        "catalog/templates/plain.yaml:15:3: button.btnUrl: must start with alipayhk:// or "
        f"https://, not 'http://shop.example.com/use'; {HTTPS_ONLY} "
        "[PASS_TEMPLATE_BTN_URL_ILLEGAL]",
        "1 problem found",
    ]


def test_pass_platform_logos_must_be_https() -> None:
    body = changed(TICKET_PASS, "dataInfo.$platformLogo_en_US$", "http://cdn.example.com/l.png")
    assert check_pass_request(body).violations == (
        Violation(
            ("dataInfo", "$platformLogo_en_US$"),
            f"must start with https://, not 'http://cdn.example.com/l.png'; {HTTPS_ONLY}",
            ResultCode.PARAM_ILLEGAL,
        ),
    )


def shape(node: object) -> object:
    """The pattern a field's schema asks for, beside the `{{ ... }}` form Jinja may take."""
    found = re.findall(r'"pattern": "([^"]*)"', json.dumps(node))
    shapes = [p.replace("\\\\", "\\") for p in found if p != r"\\{\\{"]
    assert len(shapes) == 1, found
    return shapes[0]


def test_the_committed_schema_says_https_for_every_image_url() -> None:
    for name in ("catalog-template.schema.json", "catalog-defaults.schema.json"):
        schema = json.loads((REPO / "schemas" / name).read_text(encoding="utf-8"))
        properties = schema["properties"]
        assert shape(properties["imageUrl"]) == "^https://"
        assert shape(properties["merchantLogo"]) == "^https://"
        assert shape(properties["orderPageLink"]) == "^alipayhk://"
        assert shape(schema["$defs"]["Button"]["properties"]["btnUrl"]) == "^(alipayhk://|https://)"
        patterns = re.findall(r'"pattern": "(\^[^"]*)"', json.dumps(schema, indent=0))
        assert not [p for p in patterns if "http://" in p], patterns


# --- class 13b: one failed value hides nothing else ---------------------------------------------


def test_an_undefined_name_hides_no_other_problem_of_the_entry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    entry = (
        COUPON.replace("{{ title }}", "{{ titel }}")
        .replace("name: 咖啡券", "name: 咖啡券咖啡券咖啡券咖啡券咖啡券")
        .replace("codeType: barcode", "codeType: barcodes")
    )
    lines = validate(capsys, tmp_path, {"catalog/templates/c.yaml": entry})
    assert lines == [
        "catalog/templates/c.yaml:3:1: codeType: 'barcodes' is not allowed; use one of barcode, "
        "qrcode, promocode, none [PARAM_ILLEGAL]",
        "catalog/templates/c.yaml:18:5: localeInfo.zh_HK.name: longer than 12 characters (15) "
        "[PASS_TEMPLATE_NAME_ILLEGAL]",
        "catalog/templates/c.yaml:22:15: localeInfo.en_US.name: 'titel' is undefined; define it "
        "in vars.yaml, the entry's vars, or check the spelling; did you mean 'title'?",
        "3 problems found",
    ]


def test_a_field_that_failed_to_render_is_not_also_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """stock, orderPageLink and exposure are required for a COUPON; categories needs an item; a
    value that failed is reported once, for what it is."""
    entry = (
        COUPON.replace("stock: 10", 'stock: "{{ stok }}"')
        .replace("exposure: exposed", 'exposure: "{{ 1 / 0 }}"')
        .replace("categories: [Food]", 'categories: ["{{ kind }}"]')
    )
    lines = validate(capsys, tmp_path, {"catalog/templates/c.yaml": entry})
    undefined = "is undefined; define it in vars.yaml, the entry's vars, or check the spelling"
    assert lines == [
        f"catalog/templates/c.yaml:9:12: stock: 'stok' {undefined}",
        "catalog/templates/c.yaml:10:12: exposure: ZeroDivisionError: division by zero",
        f"catalog/templates/c.yaml:12:18: categories[0]: 'kind' {undefined}",
        "3 problems found",
    ]


def test_a_failed_default_counts_only_where_the_entry_does_not_replace_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """defaults.yaml is rendered for each entry: its failure is reported for each, and the rest of
    each entry is still checked (`own` replaces the default, `inherits` does not)."""
    own = COUPON.replace("name: 咖啡券", "name: 咖啡券咖啡券咖啡券咖啡券咖啡券")
    inherits = COUPON.replace("merchantLogo: https://cdn.example.com/logo.png\n", "")
    inherits = inherits.replace("stock: 10", "stock: 0")
    lines = validate(
        capsys,
        tmp_path,
        {
            "catalog/defaults.yaml": 'merchantLogo: "{{ logo }}"\n',
            "catalog/templates/own.yaml": own,
            "catalog/templates/inherits.yaml": inherits,
        },
    )
    undefined = "is undefined; define it in vars.yaml, the entry's vars, or check the spelling"
    assert lines == [
        f"catalog/defaults.yaml:1:19: merchantLogo: 'logo' {undefined}",
        "catalog/templates/inherits.yaml:8:1: stock: must be at least 1, not the number 0 "
        "[PARAM_ILLEGAL]",
        "catalog/templates/own.yaml:18:5: localeInfo.zh_HK.name: longer than 12 characters (15) "
        "[PASS_TEMPLATE_NAME_ILLEGAL]",
        "3 problems found",
    ]


# --- class 8: the whole catalog's budget --------------------------------------------------------


def looping(count: int) -> str:
    """A coupon whose English name loops `count` times, printing nothing."""
    name = f'"{{% for i in range({count}) %}}{{% endfor %}}{{{{ title }}}}"'
    return COUPON.replace('"{{ title }}"', name)


STOPPED = "catalog/templates/c04.yaml:22:11: localeInfo.en_US.name: rendering stopped here"


def test_twelve_files_under_every_per_file_limit_are_stopped_by_the_catalog_budget(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The default budget (10,000,000 loop iterations) against twelve files of a million each."""
    nested = '"{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}x"'
    files: dict[str, str | bytes] = {
        f"catalog/templates/c{n:02d}.yaml": COUPON.replace('"{{ title }}"', nested)
        for n in range(1, 13)
    }
    lines = validate(capsys, tmp_path, files)
    assert lines == [
        "catalog/templates/c10.yaml:22:11: localeInfo.en_US.name: rendering stopped here: the "
        "catalog's budget loop_iterations=10000000 (all files together) is spent; heaviest "
        "files: catalog/templates/c01.yaml (1001000 loop iterations), catalog/templates/c02.yaml "
        "(1001000 loop iterations), catalog/templates/c03.yaml (1001000 loop iterations); "
        "2 files not rendered",
        "1 problem found",
    ]


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        catalog_usecase,
        "CATALOG_BUDGET",
        CatalogBudget(loop_iterations=1000, output_chars=100, render_seconds=60),
    )


@pytest.mark.usefixtures("small_budget")
def test_the_loop_budget_names_the_heaviest_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files: dict[str, str | bytes] = {
        "catalog/templates/c01.yaml": looping(200),
        "catalog/templates/c02.yaml": looping(300),
        "catalog/templates/c03.yaml": looping(250),
        "catalog/templates/c04.yaml": looping(260),
        "catalog/templates/c05.yaml": looping(1),
        "catalog/templates/c06.yaml": COUPON,
    }
    lines = validate(capsys, tmp_path, files)
    assert lines == [
        f"{STOPPED}: the catalog's budget loop_iterations=1000 (all files together) is spent; "
        "heaviest files: catalog/templates/c02.yaml (300 loop iterations), "
        "catalog/templates/c04.yaml (260 loop iterations), catalog/templates/c03.yaml "
        "(250 loop iterations); 2 files not rendered",
        "1 problem found",
    ]


@pytest.mark.usefixtures("small_budget")
def test_the_output_budget_counts_every_rendered_value(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each entry renders its English name on the fast path ('Coffee Voucher', 14 characters) and
    its description through Jinja (30): the third file passes 100."""
    wide = COUPON.replace("description: Usage notes", "description: \"{{ 'x' * 30 }}\"")
    files: dict[str, str | bytes] = {f"catalog/templates/c{n:02d}.yaml": wide for n in range(1, 5)}
    lines = validate(capsys, tmp_path, files)
    assert lines == [
        "catalog/templates/c03.yaml:22:11: localeInfo.en_US.name: rendering stopped here: the "
        "catalog's budget output_chars=100 (all files together) is spent; heaviest files: "
        "catalog/templates/c01.yaml (44 characters), catalog/templates/c02.yaml (44 characters), "
        "catalog/templates/c03.yaml (14 characters); 1 file not rendered",
        "1 problem found",
    ]


def test_the_time_budget_stops_a_loop_under_every_count(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hundred million silent iterations would take seconds; the catalog gets 0.2 s."""
    budget = CatalogBudget(loop_iterations=10**12, output_chars=10**12, render_seconds=0.2)
    monkeypatch.setattr(catalog_usecase, "CATALOG_BUDGET", budget)
    nested = '"{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"'
    files: dict[str, str | bytes] = {
        "catalog/templates/a.yaml": COUPON,
        "catalog/templates/b.yaml": COUPON.replace('"{{ title }}"', nested),
        "catalog/templates/c.yaml": COUPON,
    }
    lines = validate(capsys, tmp_path, files)
    assert len(lines) == 2
    assert lines[1] == "1 problem found"
    found = re.fullmatch(
        r"catalog/templates/b\.yaml:22:11: localeInfo\.en_US\.name: rendering stopped here: the "
        r"catalog's budget render_seconds=0\.2 \(all files together\) is spent; heaviest files: "
        r"(?P<files>.*); 1 file not rendered",
        lines[0],
    )
    assert found is not None, lines[0]
    heaviest = [re.fullmatch(r"(.*) \(\d+\.\d\d s\)", part) for part in found["files"].split(", ")]
    assert all(heaviest), found["files"]
    assert next(match[1] for match in heaviest if match) == "catalog/templates/b.yaml"


@pytest.mark.usefixtures("small_budget")
def test_loading_the_macro_files_is_not_charged_to_the_budget(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each process loads the macro files once, before any catalog file: their top-level loops are
    bounded by the limits on one value, and calling a macro is charged like any other loop."""
    macros = (
        "{% set stars %}{% for i in range(5000) %}{% endfor %}*{% endset %}"
        "{% macro starred(text) %}{% for i in range(3) %}{{ stars }}{% endfor %}{{ text }}"
        "{% endmacro %}"
    )
    entry = COUPON.replace('"{{ title }}"', '"{{ starred(title) }}"')
    lines = validate(
        capsys, tmp_path, {"catalog/macros/stars.j2": macros, "catalog/templates/c.yaml": entry}
    )
    assert lines == ["ok: 1 entries from 1 files are valid for environment sandbox"]


def test_a_budget_spent_between_values_stops_before_the_next_file() -> None:
    """When the time runs out after a file's last value, the next file is not rendered."""
    results = [
        cat.LoadedCatalog(file="catalog/templates/a.yaml", cost=RenderCost(render_seconds=2.5)),
        cat.LoadedCatalog(file="catalog/templates/b.yaml", skipped="render_seconds"),
    ]
    assert cat.budget_problem(results, CatalogBudget(render_seconds=2)) == Problem(
        "catalog/templates/b.yaml",
        1,
        1,
        "",
        "rendering stopped before this file: the catalog's budget render_seconds=2 (all files "
        "together) is spent; heaviest files: catalog/templates/a.yaml (2.50 s); "
        "1 file not rendered",
    )


def test_worker_processes_share_the_budget(tmp_path: Path) -> None:
    """Two processes: each renders three of the six files with half the budget (500 iterations),
    so both stop at their second file; the problem is reported where the first one stopped and
    names the heaviest files of both."""
    files: dict[str, str | bytes] = {
        f"catalog/templates/c{n:02d}.yaml": looping(300) for n in range(1, 7)
    }
    project(tmp_path, files)
    # Both runs render every file: the render cache would spare the second one the first's work.
    target = replace(load_project(tmp_path).target(None), render_cache=False)
    budget = CatalogBudget(loop_iterations=1000, output_chars=10**9, render_seconds=60)
    serial = catalog_usecase.load_catalog(target, now_ms=1, workers=1, budget=budget)
    parallel = catalog_usecase.load_catalog(target, now_ms=1, workers=2, budget=budget)
    heaviest = (
        "heaviest files: catalog/templates/c01.yaml (300 loop iterations), "
        "catalog/templates/c02.yaml (300 loop iterations), catalog/templates/c03.yaml "
        "(300 loop iterations); 2 files not rendered"
    )
    spent = "the catalog's budget loop_iterations=1000 (all files together) is spent"
    assert [str(p) for p in serial.problems] == [f"{STOPPED}: {spent}; {heaviest}"]
    assert [str(p) for p in parallel.problems] == [
        "catalog/templates/c03.yaml:22:11: localeInfo.en_US.name: rendering stopped here: "
        f"{spent}; {heaviest}"
    ]


# --- the counters themselves --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "loops"),
    [
        ("{% for i in range(10) %}{{ i }}{% endfor %}", 10),
        ("{% for i in range(4) %}{% for j in 'abc' %}{% endfor %}{% endfor %}", 4 + 4 * 3),
        ("{% for i in range(10) if i > 5 %}{% endfor %}", 10),  # the filtered-out ones too
        ("{% for i in [1, 2, 3] | map('string') %}{% endfor %}", 3),  # lazy: item by item
        ("{% for k in {'a': 1, 'b': 2} %}{% endfor %}", 2),
        (
            "{% for i in [[1, [2]], [3]] recursive %}"
            "{% if i is sequence %}{{ loop(i) }}{% endif %}{% endfor %}",
            2 + 2 + 1 + 1,  # each loop(...) of a recursive loop is charged too
        ),
        (
            "{% macro m(n) %}{% for i in range(n) %}{% endfor %}{% endmacro %}{{ m(5) }}{{ m(6) }}",
            11,
        ),
        ("{{ range(1000) | sum }}", 0),  # no loop: bounded by max_sequence_len instead
    ],
)
def test_loops_are_charged_when_they_start(source: str, loops: int) -> None:
    renderer = Renderer(budget=CatalogBudget())
    renderer.render(source, {})
    assert renderer.cost.loop_iterations == loops


def test_once_a_budget_is_spent_every_render_fails_at_once() -> None:
    renderer = Renderer(budget=CatalogBudget(loop_iterations=10))
    with pytest.raises(TemplateProblem) as caught:
        renderer.render("{% for i in range(11) %}{% endfor %}", {})
    spent = "the whole catalog's budget loop_iterations=10 is spent"
    assert caught.value.message == spent
    assert renderer.budget_spent == "loop_iterations"
    with pytest.raises(TemplateProblem) as again:
        renderer.render("{{ name }}", {"name": "plain substitution"})
    assert again.value.message == spent


def test_without_a_budget_the_renderer_only_counts() -> None:
    renderer = Renderer()
    renderer.render(
        "{% for i in range(10000) %}{% for j in range(100) %}{% endfor %}{% endfor %}", {}
    )
    assert renderer.cost.loop_iterations == 10000 + 10000 * 100
    assert renderer.budget_spent is None
