"""The catalog pipeline end to end: files -> YAML -> Jinja -> vendor rules, every error located."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest
from helpers import EXAMPLE_CATALOG, REPO, build_tree, copy_example, run_cli

COUPON = textwrap.dedent(
    """\
    type: COUPON
    product: GIFT_CARD
    codeType: barcode
    codeStandard: CODE128
    imageUrl: https://cdn.example.com/c.png
    merchantLogo: https://cdn.example.com/logo.png
    startDate: 2030-01-01
    endDate: 2030-12-31
    stock: 10
    exposure: exposed
    orderPageLink: alipayhk://platformapi/startapp?appId=1&page=buy
    categories: [Food]
    button:
      btnType: usage
      btnUrl: alipayhk://platformapi/startapp?appId=1&page=use
    localeInfo:
      zh_HK:
        name: 咖啡券
        description: 說明
        brandName: 品牌
      en_US:
        name: "{{ title }}"
        description: Usage notes
        brandName: Brand
    """
)


def project(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    return build_tree(tmp_path, {"catalog/vars.yaml": "title: Coffee Voucher\n", **files})


def test_example_catalog_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "-C", str(REPO), "validate", "--no-cache")
    assert run.code == 0, run.out + run.err
    assert run.out.startswith("ok: 10 entries from 8 files are valid for environment sandbox")


def test_example_catalog_render_is_canonical_and_stable(capsys: pytest.CaptureFixture[str]) -> None:
    first = run_cli(capsys, "-C", str(REPO), "render", "--no-cache")
    second = run_cli(capsys, "-C", str(REPO), "render", "--no-cache")
    assert first.code == 0, first.err
    assert first.out == second.out
    bodies = json.loads(first.out)
    assert sorted(bodies) == [
        "bus-shenzhen-bay",
        "cinema",
        "coffee-voucher",
        "ferry-macau",
        "flight-hkg-tpe",
        "gift-card[100]",
        "gift-card[200]",
        "gift-card[500]",
        "museum-pass",
        "rail-guangzhou",
    ]
    coffee = bodies["coffee-voucher"]
    assert coffee["merchantId"] == "2160120000000001"
    assert len(coffee["requestId"]) == 32
    assert coffee["startDate"] == 1798732800000  # 2027-01-01 00:00 in Hong Kong
    assert coffee["currentAmountCent"] == 2800
    assert "HK$28 換取" in coffee["localeInfo"]["zh_HK"]["description"]
    assert bodies["gift-card[500]"]["localeInfo"]["en_US"]["description"].startswith(
        "Yours for HK$475."
    )
    # Every body inside the output is byte for byte the canonical JSON that is signed.
    compact = json.dumps(coffee, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert compact in first.out


def test_render_selected_key_and_unknown_key(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "-C", str(REPO), "render", "--no-cache", "cinema", "--pretty")
    assert run.code == 0
    assert list(json.loads(run.out)) == ["cinema"]
    run = run_cli(capsys, "-C", str(REPO), "render", "--no-cache", "cinma")
    assert run.code == 1
    assert run.err.splitlines() == [
        "error: no catalog entry with key 'cinma'",
        "hint: did you mean 'cinema'?",
    ]


def test_broken_copy_reports_every_problem_with_location(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_example(tmp_path)
    cinema = tmp_path / "catalog/templates/tickets/cinema.yaml"
    text = cinema.read_text(encoding="utf-8")
    text = text.replace("product: MOVIE", "product: MOVIES")
    text = text.replace("imageUrl:", "imageURL:")
    text = text.replace("name: Christmas Movie Ticket", "name: The Christmas Blockbuster Ticket")
    cinema.write_text(text, encoding="utf-8")
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[-1] == f"{len(lines) - 1} problems found"
    shown = "catalog/templates/tickets/cinema.yaml"
    assert any(
        line.startswith(f"{shown}:5:1: product: ") and "MOVIE" in line and "[PARAM_ILLEGAL]" in line
        for line in lines
    ), lines
    assert any(
        line.startswith(f"{shown}:6:1: imageURL: ") and "did you mean 'imageUrl'" in line
        for line in lines
    ), lines
    assert any(
        line.startswith(f"{shown}:21:5: localeInfo.en_US.name: ")
        and "(32)" in line
        and "[PASS_TEMPLATE_NAME_ILLEGAL]" in line
        for line in lines
    ), lines


def test_undefined_variable_points_into_the_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, {"catalog/templates/c.yaml": COUPON.replace("{{ title }}", "{{ titel }}")})
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    line = run.out.splitlines()[0]
    assert line.startswith("catalog/templates/c.yaml:22:15: localeInfo.en_US.name: "), line
    assert "'titel' is undefined" in line
    assert "did you mean 'title'" in line


def test_start_date_in_the_past_has_the_vendor_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, {"catalog/templates/c.yaml": COUPON.replace("2030-01-01", "2020-01-01")})
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    assert "[PASS_TEMPLATE_START_TIME_LESS_CURRENT]" in run.out.splitlines()[0]
    assert run.out.splitlines()[0].startswith("catalog/templates/c.yaml:7:1: startDate: ")


def test_duplicate_keys_across_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(
        tmp_path,
        {
            "catalog/templates/a/coffee.yaml": COUPON,
            "catalog/templates/b/coffee.yaml": COUPON,
            "catalog/templates/c.yaml": "key: coffee\n" + COUPON,
        },
    )
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    # Files are read folder by folder, so the top-level c.yaml claims the key first.
    assert run.out.splitlines() == [
        "catalog/templates/a/coffee.yaml:1:1: key: duplicate key 'coffee': also defined in "
        "catalog/templates/c.yaml; rename one file or set a different `key:`",
        "catalog/templates/b/coffee.yaml:1:1: key: duplicate key 'coffee': also defined in "
        "catalog/templates/c.yaml; rename one file or set a different `key:`",
        "2 problems found",
    ]


def test_for_each_expands_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = "for_each: [small, large]\n" + COUPON.replace("{{ title }}", "{{ each.key }} cup")
    project(tmp_path, {"catalog/templates/cup.yaml": entry})
    run = run_cli(capsys, "-C", str(tmp_path), "render")
    assert run.code == 0, run.err
    bodies = json.loads(run.out)
    assert sorted(bodies) == ["cup[large]", "cup[small]"]
    assert bodies["cup[large]"]["localeInfo"]["en_US"]["name"] == "large cup"
    assert bodies["cup[large]"]["requestId"] != bodies["cup[small]"]["requestId"]


def test_requestid_and_merchantid_are_not_authored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, {"catalog/templates/c.yaml": "requestId: abc\n" + COUPON})
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    assert run.out.splitlines()[0].startswith("catalog/templates/c.yaml:1:1: requestId: ")
    assert "derived" in run.out.splitlines()[0]


def test_hostile_values_fail_fast_with_a_limit_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = 'lol: &a ["x","x","x","x","x","x","x","x","x"]\nlol2: [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
    project(
        tmp_path,
        {
            "catalog/templates/c.yaml": COUPON.replace("{{ title }}", "{{ 'A' * 10**9 }}"),
            "catalog/templates/bomb.yaml": bomb,
        },
    )
    started = time.monotonic()
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    elapsed = time.monotonic() - started
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[0].startswith("catalog/templates/bomb.yaml:1:6: "), lines
    assert lines[1].startswith("catalog/templates/c.yaml:22:12: localeInfo.en_US.name: "), lines
    assert "over the limit" in lines[1]
    assert "Traceback" not in run.out + run.err
    assert elapsed < 30  # generous: a regression would hang or exhaust memory instead


def test_symlink_leaving_the_catalog_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project(tmp_path, {"catalog/templates/c.yaml": COUPON, "secret.yaml": "password: x\n"})
    os.symlink(tmp_path / "secret.yaml", tmp_path / "catalog/templates/leak.yaml")
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    assert run.out.splitlines()[0] == (
        "catalog/templates/leak.yaml:1:1: symlink points outside the catalog"
    )


def test_variable_names_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_tree(
        tmp_path, {"catalog/vars.yaml": "environment: x\n", "catalog/templates/c.yaml": COUPON}
    )
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    assert run.out.startswith("catalog/vars.yaml:1:1: variable name 'environment' is not allowed")


def test_environment_overrides_and_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = COUPON.replace("{{ title }}", "{{ title }} ({{ environment }})")
    project(
        tmp_path,
        {
            "catalog/templates/c.yaml": entry,
            "catalog/vars.staging.yaml": "title: Test Voucher\n",
            "ipass.toml": '[environments.staging]\nendpoint = "https://business.dl.alipaydev.com"\n'
            'merchant_id = "2160120041113167"\nclient_id = "STAGING-1"\n'
            'private_key_env = "STAGING_KEY"\nplatform_public_key_env = "ALIPAYHK_KEY"\n',
        },
    )
    run = run_cli(capsys, "-C", str(tmp_path), "render", "--env", "staging")
    assert run.code == 0, run.err
    body = json.loads(run.out)["c"]
    assert body["localeInfo"]["en_US"]["name"] == "Test Voucher (staging)"
    assert body["merchantId"] == "2160120041113167"


def test_unknown_environment_and_missing_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    assert run.err.startswith("error: no catalog folder at 'catalog'")
    run = run_cli(capsys, "-C", str(REPO), "validate", "--no-cache", "--env", "prod")
    assert run.code == 1
    assert run.err.splitlines()[:2] == [
        "error: unknown environment 'prod'; known: production, sandbox",
        "hint: add [environments.prod] to ipass.toml",
    ]


def test_bad_config_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project(
        tmp_path,
        {
            "catalog/templates/c.yaml": COUPON,
            "ipass.toml": 'catalog = "catalog"\nstate_dir = "x"\n',
        },
    )
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    assert run.err.startswith("error: ")
    assert (
        f"{tmp_path / 'ipass.toml'}:2:1: state_dir: unknown setting; did you mean 'state'?"
        in run.err
    )


def test_usage_errors_exit_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "validate", "--bogus")
    assert run.code == 1
    assert "--bogus" in run.err  # click's own sentence around it


def test_validate_keeps_the_http_stack_out(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from reconciler.cli.main import main; "
        f"rc = main(['-C', {str(REPO)!r}, 'validate', '--no-cache']); "
        "heavy = sorted(m for m in ('requests', 'cryptography', 'deepdiff', 'urllib3') "
        "if m in sys.modules); print(rc, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout
    assert out.strip().splitlines()[-1] == "0 []"


def test_committed_schemas_are_current() -> None:
    from reconciler.usecases.schemas import generated_schemas

    for name, text in generated_schemas().items():
        committed = REPO / "schemas" / name
        assert committed.exists(), f"run `ipass schema export` to create schemas/{name}"
        assert committed.read_text(encoding="utf-8") == text, (
            f"schemas/{name} is stale: run `ipass schema export`"
        )


def test_schema_export_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_cli(capsys, "-C", str(tmp_path), "schema", "export")
    assert run.code == 0
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == [
        "catalog-defaults.schema.json",
        "catalog-passes.schema.json",
        "catalog-template.schema.json",
        "catalog-vars.schema.json",
        "plan.schema.json",
        "state.schema.json",
    ]
    schema = json.loads((tmp_path / "schemas/catalog-template.schema.json").read_text())
    assert "localeInfo" in schema["properties"]


def test_example_catalog_is_where_the_tests_think() -> None:
    assert (EXAMPLE_CATALOG / "templates").is_dir()


def test_parallel_load_matches_serial(tmp_path: Path) -> None:
    from reconciler.usecases.catalog import load_catalog

    files: dict[str, str | bytes] = {
        f"catalog/templates/c{i:02d}.yaml": COUPON.replace("{{ title }}", f"Coupon {i}")
        for i in range(12)
    }
    files["catalog/templates/broken.yaml"] = "type: [\n"
    files["catalog/templates/dup/c03.yaml"] = COUPON
    project(tmp_path, files)
    from reconciler.domain.config import load_project

    target = load_project(tmp_path).target(None)
    serial = load_catalog(target, now_ms=1_700_000_000_000, workers=1)
    parallel = load_catalog(target, now_ms=1_700_000_000_000, workers=2)
    assert parallel.entries == serial.entries
    assert parallel.problems == serial.problems
    assert len(serial.entries) == 13  # the duplicate is an entry too, and a problem
    assert [p.file for p in serial.problems] == [
        "catalog/templates/broken.yaml",
        "catalog/templates/dup/c03.yaml",
    ]


def test_hostile_file_names_are_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "evil\nname\x1b[31m.yaml"
    project(tmp_path, {f"catalog/templates/{name}": "type: [\n"})
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert run.code == 1
    first = run.out.splitlines()[0]
    assert first.startswith("catalog/templates/evil\\nname\\x1b[31m.yaml:2:1: ")
    assert "\x1b" not in run.out
    # The key comes from a name that cannot be a key: it says so instead of guessing.
    project(tmp_path, {f"catalog/templates/{name}": COUPON})
    run = run_cli(capsys, "-C", str(tmp_path), "validate")
    assert "is not a valid key" in run.out
