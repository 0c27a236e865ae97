"""Finding and reading a catalog's files: templates, shared variables, defaults and macros.

Symlinks that leave the catalog are refused; paths are shown relative to the project with
control characters escaped, because file names are untrusted input too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from reconciler.domain.problems import FieldPath, Problem
from reconciler.domain.templating import PlainData
from reconciler.domain.yamlsafe import YamlDocument, YamlError, load_yaml_file

# Names ipass puts in every render context; variables may not take them.
CONTEXT_NAMES: Final = frozenset({"environment", "key", "each"})
_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
YAML_SUFFIXES: Final = (".yaml", ".yml")


def display(path: Path, root: Path) -> str:
    """A path as users see it: relative to the project, control characters escaped."""
    try:
        text = str(path.relative_to(root))
    except ValueError:
        text = str(path)
    if any(ord(c) < 32 or c == "\x7f" for c in text):
        text = text.encode("unicode_escape").decode("ascii")
    return text


def template_files(catalog_dir: Path, root: Path) -> tuple[list[Path], list[Problem]]:
    """Every template file, sorted; symlinks that leave the catalog are refused."""
    base = catalog_dir / "templates"
    found: list[Path] = []
    problems: list[Problem] = []
    if not base.is_dir():
        return found, [
            Problem(display(base, root), 1, 1, "", "no templates folder; create it and add files")
        ]
    inside = catalog_dir.resolve()
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith(".") or not name.endswith(YAML_SUFFIXES):
                continue
            if path.is_symlink() and not path.resolve().is_relative_to(inside):
                problems.append(
                    Problem(display(path, root), 1, 1, "", "symlink points outside the catalog")
                )
                continue
            found.append(path)
    return found, problems


def load_mapping(path: Path, root: Path) -> YamlDocument | None:
    """An optional YAML file whose top level must be a mapping (or empty)."""
    if not path.exists():
        return None
    document = load_yaml_file(path, path=display(path, root))
    if document.data is not None and not isinstance(document.data, dict):
        raise YamlError(document.path, 1, 1, "the top level must be a mapping of names to values")
    return document


def load_variables(catalog_dir: Path, root: Path, environment: str) -> dict[str, PlainData]:
    """`vars.yaml` overlaid with `vars.<environment>.yaml`."""
    merged: dict[str, PlainData] = {}
    for name in ("vars.yaml", f"vars.{environment}.yaml"):
        document = load_mapping(catalog_dir / name, root)
        if document is None or not isinstance(document.data, dict):
            continue
        for var, value in document.data.items():
            check_var_name(document, (var,), var)
            merged[var] = value
    return merged


def load_macros(catalog_dir: Path, root: Path) -> dict[str, str]:
    sources: dict[str, str] = {}
    folder = catalog_dir / "macros"
    if folder.is_dir():
        for path in sorted(folder.glob("*.j2")):
            try:
                sources[display(path, root)] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise YamlError(display(path, root), 1, 1, f"cannot read: {error}") from None
    return sources


def check_var_name(document: YamlDocument, path: FieldPath, name: str) -> None:
    if not _VAR.match(name) or name in CONTEXT_NAMES:
        where = document.position_of(path)
        raise YamlError(
            document.path,
            where.line,
            where.column,
            f"variable name {name!r} is not allowed: use letters, digits and _, "
            f"not one of {', '.join(sorted(CONTEXT_NAMES))}",
        )
