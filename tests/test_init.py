"""`ipass init`: a catalog repository that works at once, written without overwriting anything
and never through a symbolic link."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import pytest
from helpers import REPO, run_cli

from reconciler import __version__
from reconciler.cli.main import main
from reconciler.usecases.init import VERSION_MARK, scaffold_files

SCAFFOLD = REPO / "reconciler" / "scaffold" / "files"
EXPECTED = {
    ".github/ipass-requirements.txt",
    ".github/workflows/ipass-apply.yml",
    ".github/workflows/ipass-emergency.yml",
    ".github/workflows/ipass-plan-comment-fork.yml",
    ".github/workflows/ipass-plan.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "README.md",
    "catalog/defaults.yaml",
    "catalog/macros/money.j2",
    "catalog/templates/coupons/coffee-voucher.yaml",
    "catalog/templates/tickets/museum-pass.yaml",
    "catalog/vars.production.yaml",
    "catalog/vars.yaml",
    "ipass.toml",
    "schemas/catalog-defaults.schema.json",
    "schemas/catalog-passes.schema.json",
    "schemas/catalog-template.schema.json",
    "schemas/catalog-vars.schema.json",
    "schemas/plan.schema.json",
    "schemas/state.schema.json",
}


def files_under(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink() and ".ipass" not in path.parts
    }


def test_init_writes_a_repository_that_validates_and_plans_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "cards"
    run = run_cli(capsys, "init", str(root))
    assert run.code == 0, run.err
    written = files_under(root)
    assert set(written) == EXPECTED
    assert {line.removeprefix("wrote ") for line in run.out.splitlines() if "wrote " in line} == (
        EXPECTED
    )
    assert f"{len(EXPECTED)} files written, 0 skipped, in {root}" in run.out
    assert "next steps:" in run.out
    assert run_cli(capsys, "-C", str(root), "validate").code == 0
    plan = run_cli(capsys, "-C", str(root), "plan")
    assert plan.code == 0, plan.err
    assert "2 to create" in plan.out


def test_the_version_is_pinned_where_ipass_is_installed(tmp_path: Path) -> None:
    written = {file.path.as_posix(): file.data for file in scaffold_files()}
    assert written[".github/ipass-requirements.txt"].splitlines()[-1] == (
        f"ipass=={__version__}".encode()
    )
    assert f'"ipass=={__version__}"'.encode() in written[".pre-commit-config.yaml"]
    assert not [name for name, data in written.items() if VERSION_MARK in data]
    assert scaffold_files("9.8.7")[0].data.splitlines()[-1] == b"ipass==9.8.7"


def test_gitignore_keeps_local_data_and_keys_out(tmp_path: Path) -> None:
    written = {file.path.as_posix(): file.data for file in scaffold_files()}
    ignored = {
        line for line in written[".gitignore"].decode().splitlines() if not line.startswith("#")
    }
    assert {".ipass/", "keys/", "*.pem", ".venv/"} <= ignored


def test_the_example_catalog_is_a_copy_of_this_repositorys(tmp_path: Path) -> None:
    """One source: the scaffold's catalog is a byte-identical subset of catalog/."""
    copies = files_under(SCAFFOLD / "catalog")
    assert copies
    for name, data in copies.items():
        assert (REPO / "catalog" / name).read_bytes() == data, f"catalog/{name} differs"


def test_the_production_environment_shows_every_required_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Uncommenting the production block (and nothing else) gives a complete environment."""
    root = tmp_path / "cards"
    assert run_cli(capsys, "init", str(root)).code == 0
    config = root / "ipass.toml"
    text = config.read_text(encoding="utf-8")
    block = text[text.index("# [environments.production]") :]
    config.write_text(
        text.replace(block, re.sub(r"(?m)^# (?=\[|[a-z_]+ = )", "", block)), encoding="utf-8"
    )
    assert "\n[environments.production]\n" in config.read_text(encoding="utf-8")
    plan = run_cli(capsys, "-C", str(root), "plan", "--env", "production")
    assert plan.code == 0, plan.err
    assert "Plan for production: 2 to create." in plan.out


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cards"
    (root / "catalog").mkdir(parents=True)
    mine = {
        "README.md": b"# our own README\n",
        "ipass.toml": b'default_environment = "sandbox"\n',
        "catalog/vars.yaml": b"brand_en: Ours\n",
    }
    for name, data in mine.items():
        (root / name).write_bytes(data)
    run = run_cli(capsys, "init", str(root))
    assert run.code == 0, run.err
    for name, data in mine.items():
        assert (root / name).read_bytes() == data
        assert f"skipped {name} (it exists; left as it is)" in run.out.splitlines()
        assert f"wrote {name}" not in run.out.splitlines()
    assert f"{len(EXPECTED) - len(mine)} files written, {len(mine)} skipped" in run.out

    before = files_under(root)
    again = run_cli(capsys, "init", str(root))
    assert again.code == 0
    assert files_under(root) == before
    assert f"0 files written, {len(EXPECTED)} skipped" in again.out


def test_a_link_where_a_file_goes_is_skipped_not_written_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "cards"
    root.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"untouched\n")
    (root / "README.md").symlink_to(outside)
    (root / ".gitignore").symlink_to(tmp_path / "dangling")
    run = run_cli(capsys, "init", str(root))
    assert run.code == 0, run.err
    assert outside.read_bytes() == b"untouched\n"
    assert not (tmp_path / "dangling").exists()
    assert "skipped README.md (it exists; left as it is)" in run.out
    assert "skipped .gitignore (it exists; left as it is)" in run.out


def test_init_refuses_a_symlinked_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    run = run_cli(capsys, "init", str(link))
    assert run.code == 1
    assert run.err.splitlines()[0] == (
        f"error: {link}: is a symbolic link; ipass init writes only into a real folder"
    )
    assert list(real.iterdir()) == []


def test_init_refuses_a_symlinked_folder_inside_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "cards"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "catalog").symlink_to(elsewhere, target_is_directory=True)
    run = run_cli(capsys, "init", str(root))
    assert run.code == 1
    assert run.err.splitlines()[0].startswith(f"error: {root / 'catalog'}: is a symbolic link")
    assert list(elsewhere.iterdir()) == []
    assert sorted(os.listdir(root)) == ["catalog"]


def test_init_refuses_a_file_as_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cards"
    target.write_bytes(b"x")
    run = run_cli(capsys, "init", str(target))
    assert run.code == 1
    assert run.err.splitlines()[0] == f"error: {target}: is not a folder"


def test_init_defaults_to_the_project_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "-C", str(tmp_path), "init")
    assert run.code == 0, run.err
    assert set(files_under(tmp_path)) == EXPECTED


def test_scaffold_files_are_sorted_relative_paths() -> None:
    paths = [file.path for file in scaffold_files()]
    assert paths == sorted(paths, key=lambda path: path.parts)
    assert all(not path.is_absolute() and ".." not in path.parts for path in paths)
    assert {path.as_posix() for path in paths} == EXPECTED
    assert PurePosixPath("gitignore") not in paths


def test_every_catalog_file_names_a_schema_that_exists_beside_it(tmp_path: Path) -> None:
    """Editors with a YAML language server complete and check fields with no setup."""
    root = tmp_path / "new"
    assert main(["init", str(root)]) == 0
    for base in (REPO, root):
        files = sorted((base / "catalog").rglob("*.yaml"))
        assert files
        for path in files:
            first = path.read_text(encoding="utf-8").splitlines()[0]
            assert first.startswith("# yaml-language-server: $schema="), path
            schema = (path.parent / first.split("=", 1)[1]).resolve()
            assert schema.is_file(), (path, schema)
    for name in ("catalog-template", "catalog-defaults", "catalog-vars"):
        written = (root / "schemas" / f"{name}.schema.json").read_bytes()
        assert written == (REPO / "schemas" / f"{name}.schema.json").read_bytes()
