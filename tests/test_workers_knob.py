"""IPASS_WORKERS: the hidden knob benchmarks use to load a catalog in one process."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_example, run_cli


@pytest.mark.parametrize("value", ["1", "2"])
def test_a_worker_count_gives_the_same_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    root = copy_example(tmp_path)
    monkeypatch.delenv("IPASS_WORKERS", raising=False)
    default = run_cli(capsys, "-C", str(root), "validate")
    monkeypatch.setenv("IPASS_WORKERS", value)
    chosen = run_cli(capsys, "-C", str(root), "validate")
    assert (chosen.code, chosen.out) == (default.code, default.out) == (0, default.out)
    assert default.out.startswith("ok: 10 entries from 8 files")
    rendered = run_cli(capsys, "-C", str(root), "render", "cinema")
    assert rendered.code == 0
    assert '"product":"MOVIE"' in rendered.out


@pytest.mark.parametrize("value", ["0", "two", "-1", "65"])
def test_a_wrong_worker_count_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    root = copy_example(tmp_path)
    monkeypatch.setenv("IPASS_WORKERS", value)
    for command in ("validate", "render", "plan", "apply"):
        run = run_cli(capsys, "-C", str(root), command)
        assert run.code == 1, run
        assert "IPASS_WORKERS must be a whole number from 1 to 64" in run.err
