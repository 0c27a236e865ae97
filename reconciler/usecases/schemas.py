"""Write the catalog JSON Schemas, or check that the written copies are current."""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters.files import write_atomic
from reconciler.domain.schemas import SCHEMAS, schema_text
from reconciler.errors import InvalidInput


def generated_schemas() -> dict[str, str]:
    return {name: schema_text(build()) for name, build in SCHEMAS.items()}


def stale_schemas(folder: Path) -> list[Path]:
    """The schema files in `folder` that are missing or differ from what export would write."""
    stale = []
    for name, text in generated_schemas().items():
        path = folder / name
        try:
            current = path.read_bytes()
        except FileNotFoundError:
            current = None
        except OSError as error:
            raise InvalidInput.refused(path, "read", error) from None
        if current != text.encode("utf-8"):
            stale.append(path)
    return stale


def export_schemas(folder: Path) -> list[Path]:
    written = []
    for name, text in generated_schemas().items():
        path = folder / name
        write_atomic(path, text.encode("utf-8"))
        written.append(path)
    return written
