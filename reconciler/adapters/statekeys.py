"""Which keys a state records, read with plain JSON: cheap enough for `ipass validate`.

The full, checked load is `StateStore.load`; this is a best-effort peek (a damaged file yields
what can be read) so catalog checks know which entries are already published.
"""

from __future__ import annotations

import json
from pathlib import Path


def journal_path_for(state_file: Path) -> Path:
    return state_file.with_name(state_file.stem + ".journal.jsonl")


def recorded_keys(state_file: Path) -> frozenset[str]:
    """Keys with a current record in the snapshot, plus keys with a journaled create."""
    keys: set[str] = set()
    try:
        raw = json.loads(state_file.read_bytes())
        entries = raw.get("entries", {}) if isinstance(raw, dict) else {}
        keys.update(k for k, e in entries.items() if isinstance(e, dict) and e.get("current"))
    except (OSError, ValueError, AttributeError):
        pass
    try:
        lines = journal_path_for(state_file).read_bytes().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            event = json.loads(line).get("event", {})
        except (ValueError, AttributeError):
            continue
        if isinstance(event, dict) and event.get("op") == "pending":
            keys.add(str(event.get("key")))
    return frozenset(keys)
