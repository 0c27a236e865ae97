"""The benchmark catalogs stay valid as the rules change, and are the same bytes every time.

No timing here: the benchmarks in benchmarks/ measure; this only checks what they measure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import REPO, run_cli

sys.path.insert(0, str(REPO / "benchmarks"))
import catalogs  # benchmarks/ is a folder of scripts, put on the path just above


def files_of(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("kind", catalogs.KINDS)
def test_a_generated_catalog_validates_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    catalog = catalogs.generate(tmp_path, 40, kind)
    for environment in ("sandbox", "production"):
        (tmp_path / "ipass.toml").write_text(
            f'default_environment = "{environment}"\n'
            f'[environments.{environment}]\nendpoint = "embedded"\n',
            encoding="utf-8",
        )
        run = run_cli(capsys, "-C", str(tmp_path), "validate")
        assert run.code == 0, run.out
        assert run.out.startswith(
            f"ok: {len(catalog.keys)} entries from {len(catalog.files)} files"
        )


def test_the_realistic_catalog_has_what_the_example_has(tmp_path: Path) -> None:
    catalog = catalogs.generate(tmp_path, 40)
    texts = [path.read_text(encoding="utf-8") for path in catalog.files]
    products = {
        line.split(": ")[1]
        for text in texts
        for line in text.splitlines()
        if line.startswith("product: ")
    }
    assert products == {
        "GIFT_CARD",
        "PASS",
        "MOVIE",
        "AIR_TICKET",
        "TRAIN_TICKET",
        "BUS_TICKET",
        "SHIP_TICKET",
    }
    assert all("zh_HK:" in text and "en_US:" in text for text in texts)
    assert all("money(" in text for text in texts)
    assert any("for_each:" in text for text in texts)
    shared = catalog.catalog_dir
    assert (shared / "defaults.yaml").is_file()
    assert (shared / "macros" / "money.j2").is_file()
    assert (shared / "vars.production.yaml").is_file()
    descriptions = [text.split("description:", 1)[1] for text in texts]
    assert len(set(descriptions)) == len(descriptions)  # each entry's own text


def test_generating_twice_writes_the_same_bytes(tmp_path: Path) -> None:
    catalogs.generate(tmp_path / "a", 30)
    catalogs.generate(tmp_path / "b", 30)
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")


def test_an_edit_changes_one_file_in_a_hundred_and_can_be_undone(tmp_path: Path) -> None:
    catalog = catalogs.generate(tmp_path, 250)
    before = files_of(tmp_path)
    edits = catalogs.edit_prices(catalog)
    changed = {name for name, data in files_of(tmp_path).items() if before[name] != data}
    assert len(changed) == len(edits.before) == len(range(0, len(catalog.files), 100))
    edits.restore()
    assert files_of(tmp_path) == before
