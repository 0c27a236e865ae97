"""The render cache (`.ipass/cache/render/<env>/results.pack`): a warm run says byte for byte
what a cold one says.

Each test makes a real project in `tmp_path`, runs `ipass` in-process (cold, filling the cache),
changes something, and compares the warm run with a `--no-cache` run of the same inputs.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import REPO, build_tree, copy_example, run_cli

from reconciler.adapters.render_cache import HEADER, PACK
from reconciler.domain.config import load_project
from reconciler.domain.templating import CatalogBudget
from reconciler.usecases.catalog import CatalogResult, load_catalog

Capsys = pytest.CaptureFixture[str]

COFFEE = "catalog/templates/coupons/coffee-voucher.yaml"
CACHE = Path(".ipass/cache/render/sandbox")


def example(tmp_path: Path) -> Path:
    copy_example(tmp_path)
    shutil.copy(REPO / "ipass.toml", tmp_path / "ipass.toml")
    return tmp_path


def records(root: Path, env: str = "sandbox") -> dict[str, bytes]:
    """The pack's record lines by key."""
    data = (root / ".ipass/cache/render" / env / PACK).read_bytes()
    header, *lines = data.removesuffix(b"\n").split(b"\n")
    assert header == HEADER
    return {line[:64].decode(): line for line in lines}


def identity(root: Path, env: str = "sandbox") -> tuple[int, int]:
    """The pack's inode and mtime: a rewritten pack gets a new inode (rename)."""
    status = (root / ".ipass/cache/render" / env / PACK).stat()
    return status.st_ino, status.st_mtime_ns


def plans(capsys: Capsys, root: Path, *args: str) -> tuple[str, str]:
    """`ipass plan` as text and as JSON, with the exit codes."""
    text = run_cli(capsys, "-C", str(root), "plan", *args)
    json = run_cli(capsys, "-C", str(root), "plan", "--format", "json", *args)
    return f"{text.code}\n{text.out}", f"{json.code}\n{json.out}"


def edit(root: Path, name: str, old: str, new: str) -> None:
    path = root / name
    text = path.read_text(encoding="utf-8")
    assert old in text, (name, old)
    path.write_text(text.replace(old, new), encoding="utf-8")


# Each change is made between a cold run and a warm one; the warm one must equal --no-cache.
CHANGES: dict[str, Callable[[Path], None]] = {
    "nothing": lambda root: None,
    "a template file": lambda root: edit(root, COFFEE, "stock: 5000", "stock: 4000"),
    "vars.yaml": lambda root: edit(root, "catalog/vars.yaml", "Pearl River", "Jade River"),
    "a macro": lambda root: edit(root, "catalog/macros/money.j2", "HK${{", "HKD {{"),
    # a line more above every default (problems point there), and another logo
    "defaults.yaml": lambda root: edit(
        root, "catalog/defaults.yaml", "merchantLogo: ", "# moved\nmerchantLogo: /x"
    ),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_warm_plan_matches_cold_byte_for_byte(tmp_path: Path, capsys: Capsys, change: str) -> None:
    root = example(tmp_path)
    cold_before = plans(capsys, root)
    assert len(records(root)) == len(list((root / "catalog/templates").rglob("*.yaml")))
    before, written = records(root), identity(root)
    CHANGES[change](root)
    warm = plans(capsys, root)
    cold = plans(capsys, root, "--no-cache")
    assert warm == cold
    if change == "nothing":
        assert warm == cold_before
        assert identity(root) == written  # every file came from the cache, nothing rewritten
    else:
        assert warm != cold_before, "the change shows in the plan"
    after = records(root)
    assert len(after) == len(before)  # what this run did not use is dropped


def test_a_changed_file_is_the_only_one_rendered_again(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    plans(capsys, root)
    before = records(root)
    edit(root, COFFEE, "stock: 5000", "stock: 4000")
    warm = plans(capsys, root)
    assert warm == plans(capsys, root, "--no-cache")
    after = records(root)
    kept = set(before) & set(after)
    assert len(kept) == len(before) - 1  # one new record; the old one dropped
    assert all(after[key] == before[key] for key in kept)  # the others as they were
    # in catalog order: the new record takes the old one's place
    assert sum(a != b for a, b in zip(after, before, strict=True)) == 1


def test_another_environment_has_its_own_cache(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    plans(capsys, root)
    warm = plans(capsys, root, "--env", "production")
    assert warm == plans(capsys, root, "--env", "production", "--no-cache")
    assert records(root, "production").keys().isdisjoint(records(root, "sandbox"))
    assert plans(capsys, root, "--env", "production") == warm  # warm for production too


def test_validate_and_render_use_it_too(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    for command in (["validate"], ["render", "--pretty"]):
        cold = run_cli(capsys, "-C", str(root), *command, "--no-cache")
        first = run_cli(capsys, "-C", str(root), *command)
        warm = run_cli(capsys, "-C", str(root), *command)
        assert cold == first == warm


def test_no_cache_writes_nothing(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    plans(capsys, root, "--no-cache")
    run_cli(capsys, "-C", str(root), "validate", "--no-cache")
    assert not (root / ".ipass/cache").exists()


# --- the time and the state are checked on every run -------------------------------------------

START = 1_900_000_000_000  # 2030-03-17, the coupon's start below
COUPON = f"""\
type: COUPON
product: GIFT_CARD
codeType: qrcode
codeStandard: QRCODE
imageUrl: https://cdn.example.com/c.png
merchantLogo: https://cdn.example.com/logo.png
startDate: {START}
endDate: 2040-12-31
stock: 10
exposure: exposed
orderPageLink: alipayhk://platformapi/startapp?appId=1&page=buy
categories: [Food]
button:
  btnType: usage
  btnUrl: alipayhk://platformapi/startapp?appId=1&page=use
localeInfo:
  zh_HK: {{name: 咖啡券, description: 說明, brandName: 品牌}}
  en_US: {{name: "{{{{ title }}}}", description: Usage notes, brandName: Brand}}
"""


def coupons(tmp_path: Path) -> Path:
    return build_tree(
        tmp_path,
        {
            "catalog/vars.yaml": "title: Coffee\n",
            "catalog/templates/a.yaml": COUPON,
            "catalog/templates/b.yaml": COUPON.replace("stock: 10", "stock: 11"),
            "catalog/templates/broken.yaml": COUPON.replace("stock: 10", "stock: -1"),
            "catalog/templates/adopted.yaml": COUPON + "adopt: TPL0001\n",
        },
    )


def loaded(
    root: Path, *, cache: bool, now_ms: int, published: frozenset[str] = frozenset()
) -> CatalogResult:
    target = replace(load_project(root).target(None), render_cache=cache)
    return load_catalog(target, now_ms=now_ms, published=published)


def same(warm: CatalogResult, cold: CatalogResult) -> bool:
    return (warm.entries, warm.problems, warm.retirements) == (
        cold.entries,
        cold.problems,
        cold.retirements,
    )


def test_a_start_date_that_passes_between_runs_fires_on_the_warm_run(tmp_path: Path) -> None:
    root = coupons(tmp_path)
    early = loaded(root, cache=True, now_ms=START - 1)
    assert [e.key for e in early.entries] == ["a", "adopted", "b"]
    assert all("startDate" not in p.field for p in early.problems)
    late = loaded(root, cache=True, now_ms=START + 1)
    assert same(late, loaded(root, cache=False, now_ms=START + 1))
    assert [e.key for e in late.entries] == ["adopted"]
    past = [p for p in late.problems if p.code == "PASS_TEMPLATE_START_TIME_LESS_CURRENT"]
    # a and b lose their entries; broken (invalid anyway) is told too; adopted is exempt
    assert sorted(p.file for p in past) == [
        "catalog/templates/a.yaml",
        "catalog/templates/b.yaml",
        "catalog/templates/broken.yaml",
    ]
    assert all(p.line == 7 and p.field == "startDate" for p in past)
    published = frozenset({"a"})
    warm = loaded(root, cache=True, now_ms=START + 1, published=published)
    assert same(warm, loaded(root, cache=False, now_ms=START + 1, published=published))
    assert [e.key for e in warm.entries] == ["a", "adopted"]


def test_the_budget_verdict_does_not_depend_on_the_cache(tmp_path: Path) -> None:
    loop = "{% for i in range(60) %}x{% endfor %}"
    root = coupons(tmp_path)
    build_tree(
        root,
        {
            "catalog/templates/a.yaml": COUPON.replace("Usage notes", f"'{loop}'"),
            "catalog/templates/b.yaml": COUPON.replace("Usage notes", f"'{loop}y'"),
        },
    )
    target = load_project(root).target(None)
    budget = CatalogBudget(loop_iterations=100)
    cold = load_catalog(replace(target, render_cache=False), now_ms=1, budget=budget)
    first = load_catalog(target, now_ms=1, budget=budget)
    warm = load_catalog(target, now_ms=1, budget=budget)
    for result in (cold, first, warm):
        assert any("budget loop_iterations=100 " in p.message for p in result.problems), result
    assert same(first, cold)
    assert same(warm, cold)  # the cached file is charged its 60 iterations again


def test_worker_processes_render_only_the_misses(tmp_path: Path) -> None:
    root = coupons(tmp_path)
    for n in range(6):
        build_tree(root, {f"catalog/templates/more-{n}.yaml": COUPON.replace("10", f"{20 + n}")})
    cold = loaded(root, cache=False, now_ms=1)
    target = load_project(root).target(None)
    first = load_catalog(target, now_ms=1, workers=2)
    edit(root, "catalog/templates/more-3.yaml", "stock: 23", "stock: 99")
    warm = load_catalog(target, now_ms=1, workers=2)
    assert same(first, cold)
    assert same(warm, loaded(root, cache=False, now_ms=1))
    assert not same(warm, cold)


# --- a damaged cache is never trusted ------------------------------------------------------------


def coffee(pack: bytes) -> tuple[int, int]:
    """Where the coffee voucher's record line is in the pack: (start, end)."""
    at = pack.index(b"coffee-voucher.yaml")
    return pack.rindex(b"\n", 0, at) + 1, pack.index(b"\n", at)


def in_coffee(change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """A damage done to the coffee voucher's record line only."""

    def damage(pack: bytes) -> bytes:
        start, end = coffee(pack)
        return pack[:start] + change(pack[start:end]) + pack[end:]

    return damage


DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "a byte of the body": in_coffee(lambda line: line.replace(b'"stock":', b'"stocK":', 1)),
    "a payload value": in_coffee(lambda line: line.replace(b"Pearl", b"Perl", 1)),
    "a byte of the digest": in_coffee(lambda line: line[:65] + b"x" + line[66:]),
    "no digest": in_coffee(lambda line: line[:65] + line[130:]),
    "not JSON": in_coffee(lambda line: line[:130] + b"\x00\xff"),
    "a line cut short": in_coffee(lambda line: line[:-10]),
    "a byte added": in_coffee(lambda line: line + b" "),
    "truncated": lambda pack: pack[: len(pack) // 2],
    "empty": lambda pack: b"",
    "header only": lambda pack: pack.split(b"\n", 1)[0],
    "another format": lambda pack: pack.replace(HEADER, HEADER[:-1] + b"9", 1),
    "no header": lambda pack: pack.split(b"\n", 1)[1],
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_record_is_ignored_and_rewritten(
    tmp_path: Path, capsys: Capsys, damage: str
) -> None:
    root = example(tmp_path)
    cold = plans(capsys, root)
    pack = root / CACHE / PACK
    good = pack.read_bytes()
    damaged = DAMAGES[damage](good)
    assert damaged != good
    pack.write_bytes(damaged)
    assert plans(capsys, root) == cold
    assert timeless(pack.read_bytes()) == timeless(good)  # rewritten
    rewritten = identity(root)
    assert plans(capsys, root) == cold
    assert identity(root) == rewritten  # and used: nothing to write again


def test_only_the_damaged_record_is_rendered_again(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    plans(capsys, root)
    pack = root / CACHE / PACK
    good = pack.read_bytes()
    pack.write_bytes(DAMAGES["a byte of the body"](good))
    plans(capsys, root)
    start, end = coffee(good)
    after = pack.read_bytes()
    assert after[:start] == good[:start]  # the records before it, as they were
    assert after[coffee(after)[1] :] == good[end:]  # and after it


def timeless(pack: bytes) -> bytes:
    """A pack without what the time taken changes: render times and the records' digests."""
    pack = re.sub(rb'"render_microseconds":[0-9]+', b"", pack)
    return re.sub(rb"(?m)^([0-9a-f]{64}) [0-9a-f]{64} ", rb"\1 ", pack)


def test_a_record_under_another_files_key_is_not_used(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    cold = plans(capsys, root)
    pack = root / CACHE / PACK
    header, first, second, *rest = pack.read_bytes().split(b"\n")
    # the digest matches the text, but the result inside names another key
    pack.write_bytes(b"\n".join([header, first, second[:64] + first[64:], *rest]))
    assert plans(capsys, root) == cold
    assert records(root)[second[:64].decode()] != first[:64] + second[64:]


def test_a_consistently_rewritten_record_is_used(tmp_path: Path, capsys: Capsys) -> None:
    """The digest detects damage, not intent: whoever can write the cache with a matching digest
    changes what a warm plan shows. This is why apply in the pipeline runs with --no-cache and
    never restores a cache (README, "The render cache")."""
    import hashlib

    root = example(tmp_path)
    cold = plans(capsys, root)
    pack = root / CACHE / PACK
    data = pack.read_bytes()
    start, end = coffee(data)
    line = data[start:end]
    body = line[130:].replace(b'"stock":', b'"stock":1', 1)
    line = line[:65] + hashlib.sha256(body).hexdigest().encode() + b" " + body
    pack.write_bytes(data[:start] + line + data[end:])
    assert plans(capsys, root) != cold
    assert plans(capsys, root, "--no-cache") == cold


# --- the cache folder itself -------------------------------------------------------------------


def test_a_cache_folder_that_is_a_link_is_not_used(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / CACHE).parent.mkdir(parents=True)
    os.symlink(elsewhere, root / CACHE)
    run = run_cli(capsys, "-C", str(root), "plan")
    assert run.code == 0
    assert "symbolic link" in run.err
    assert "render cache is off" in run.err
    assert list(elsewhere.iterdir()) == []
    assert f"0\n{run.out}" == plans(capsys, root, "--no-cache")[0]


def test_a_file_in_place_of_the_cache_folder_is_not_used(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    (root / CACHE).parent.mkdir(parents=True)
    (root / CACHE).write_text("not a folder")
    run = run_cli(capsys, "-C", str(root), "validate")
    assert run.code == 0
    assert "not a folder" in run.err
    assert "render cache is off" in run.err
    assert (root / CACHE).read_text() == "not a folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads folders whatever their mode")
def test_an_unreadable_cache_folder_is_not_used(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    (root / CACHE).mkdir(parents=True)
    (root / CACHE).chmod(0)
    try:
        run = run_cli(capsys, "-C", str(root), "validate")
    finally:
        (root / CACHE).chmod(0o700)
    assert run.code == 0
    assert "render cache is off" in run.err


def test_the_pack_holds_what_the_run_used_and_older_files_go(
    tmp_path: Path, capsys: Capsys
) -> None:
    root = example(tmp_path)
    plans(capsys, root)
    folder = root / CACHE
    pack = folder / PACK
    used = pack.read_bytes()
    pack.write_bytes(used + b"0" * 64 + b" " + b"1" * 64 + b" {}\n")  # a record no run uses
    old_entry = folder / ("0" * 64 + ".json")  # how ipass kept results before
    old_entry.write_text("a result of an older ipass")
    notes = folder / "notes.txt"
    notes.write_text("mine")
    old_temp = folder / f".{PACK}.abc123.tmp"
    old_temp.write_text("left by a killed writer")
    os.utime(old_temp, (1, 1))
    new_temp = folder / f".{PACK}.def456.tmp"
    new_temp.write_text("another run writing now")
    plans(capsys, root)
    assert pack.read_bytes() == used
    assert not old_entry.exists()
    assert not old_temp.exists()
    assert notes.exists()
    assert new_temp.exists()


def test_a_link_in_place_of_the_pack_is_neither_read_nor_written_through(
    tmp_path: Path, capsys: Capsys
) -> None:
    root = example(tmp_path / "project")
    cold = plans(capsys, root)
    pack = root / CACHE / PACK
    elsewhere = tmp_path / "elsewhere.pack"
    elsewhere.write_bytes(pack.read_bytes())
    pack.unlink()
    os.symlink(elsewhere, pack)
    before = elsewhere.read_bytes()
    run = run_cli(capsys, "-C", str(root), "plan")
    assert f"0\n{run.out}" == cold[0]
    assert "symbolic link" in run.err
    assert "render cache is not updated" in run.err
    assert pack.is_symlink()
    assert elsewhere.read_bytes() == before


def test_the_pack_holds_no_secret_and_is_private(tmp_path: Path, capsys: Capsys) -> None:
    root = example(tmp_path)
    run_cli(capsys, "-C", str(root), "plan")
    assert [path.name for path in (root / CACHE).iterdir()] == [PACK]
    pack = root / CACHE / PACK
    assert pack.stat().st_mode & 0o777 == 0o600
    text = pack.read_text(encoding="utf-8")
    assert "PRIVATE KEY" not in text
    assert text.startswith(HEADER.decode() + "\n")


def test_the_code_digest_covers_every_module_a_result_comes_from() -> None:
    """A change to any module the catalog loader uses gives new keys."""
    import subprocess
    import sys

    import reconciler
    from reconciler.adapters.render_cache import CATALOG_CODE, _sources

    code = (
        "import sys, reconciler.domain.catalog, reconciler.domain.render_key; "
        "print('\\n'.join(m for m in sys.modules if m.startswith('reconciler.domain')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    domain = Path(reconciler.__file__).parent / "domain"
    covered = set(_sources(str(domain), CATALOG_CODE))
    assert all((domain / name).is_file() for name in covered)
    missing = []
    for module in loaded:
        parts = module.split(".")[2:]
        package = domain.joinpath(*parts) / "__init__.py"
        name = package if package.exists() else domain.joinpath(*parts).with_suffix(".py")
        relative = name.relative_to(domain).as_posix()
        if relative not in covered and relative != "__init__.py":
            missing.append(relative)
    assert missing == []
