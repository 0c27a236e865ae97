"""Write the catalog JSON Schemas (a test fails when the committed copies are stale)."""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters.files import write_atomic
from reconciler.domain.schemas import SCHEMAS, schema_text


def generated_schemas() -> dict[str, str]:
    return {name: schema_text(build()) for name, build in SCHEMAS.items()}


def export_schemas(folder: Path) -> list[Path]:
    written = []
    for name, text in generated_schemas().items():
        path = folder / name
        write_atomic(path, text.encode("utf-8"))
        written.append(path)
    return written
