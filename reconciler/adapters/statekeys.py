"""Where an environment's journal lives, beside its state snapshot."""

from __future__ import annotations

from pathlib import Path


def journal_path_for(state_file: Path) -> Path:
    return state_file.with_name(state_file.stem + ".journal.jsonl")
