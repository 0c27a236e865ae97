"""Use cases over the catalog: validate it, render the exact request bodies, export schemas."""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.domain import catalog as cat
from reconciler.domain.canonical import canonical_json
from reconciler.domain.config import Project, load_project
from reconciler.domain.payload import build_request
from reconciler.domain.problems import Problem, ProblemsFound, format_field_path
from reconciler.domain.templating import Renderer
from reconciler.domain.yamlsafe import YamlError, load_yaml_file
from reconciler.errors import InvalidInput


# Wall-clock budget for rendering all values of one file: a backstop for loop bombs.
FILE_RENDER_SECONDS = 2.0


@dataclass(frozen=True)
class CatalogResult:
    """The catalog for one environment: its valid entries and every problem found."""

    project: Project
    environment: str
    merchant_id: str
    files: int
    entries: tuple[cat.CatalogEntry, ...]
    problems: tuple[Problem, ...]


def load_catalog(
    project_dir: Path,
    environment: str | None,
    *,
    now_ms: int | None = None,
    published: frozenset[str] = frozenset(),
) -> CatalogResult:
    """Load, render and validate every catalog file; collect all problems, raise none of them.

    `published` names entries already live at AlipayHK: their start date may lie in the past.
    """
    project = load_project(project_dir)
    env_name, env = project.environment(environment)
    root, catalog_dir = project.root, project.catalog_dir
    if not catalog_dir.is_dir():
        raise InvalidInput(
            f"no catalog folder at {cat.display(catalog_dir, root)!r}",
            hint="create catalog/templates/ with one YAML file per template, or use -C",
        )
    problems: list[Problem] = []
    files, file_problems = cat.template_files(catalog_dir, root)
    problems += file_problems
    try:
        shared = cat.SharedInputs(
            environment=env_name,
            variables=cat.load_variables(catalog_dir, root, env_name),
            defaults=cat.load_mapping(catalog_dir / "defaults.yaml", root),
            now_ms=now_ms if now_ms is not None else int(time.time() * 1000),
            published=published,
        )
    except YamlError as error:
        # Without its variables or defaults no entry can be rendered: report this alone.
        return CatalogResult(
            project, env_name, env.merchant_id, len(files), (), (*problems, _yaml_problem(error))
        )
    renderer = Renderer(cat.load_macros(catalog_dir, root))
    loaded = cat.LoadedCatalog()
    for path in files:
        shown = cat.display(path, root)
        try:
            document = load_yaml_file(path, path=shown)
        except YamlError as error:
            loaded.problems.append(_yaml_problem(error))
            continue
        # One timer per file, not per value: arming costs more than a cached render.
        with renderer.deadline(FILE_RENDER_SECONDS):
            result = cat.load_file(shown, document, shared, renderer)
        loaded.entries += result.entries
        loaded.problems += result.problems
        loaded.keys += result.keys
    problems += loaded.problems
    problems += cat.iter_duplicate_keys(loaded.keys)
    entries = sorted(loaded.entries, key=lambda e: e.key)
    return CatalogResult(
        project, env_name, env.merchant_id, len(files), tuple(entries), tuple(sorted(set(problems)))
    )


def _yaml_problem(error: YamlError) -> Problem:
    return Problem(
        error.path, error.line, error.column, format_field_path(error.field), error.reason
    )


def render_bodies(
    project_dir: Path, environment: str | None, keys: Sequence[str]
) -> dict[str, object]:
    """The exact createTemplate bodies apply would send, keyed by catalog key."""
    result = load_catalog(project_dir, environment)
    if result.problems:
        raise ProblemsFound(result.problems)
    by_key = {entry.key: entry for entry in result.entries}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        guesses = difflib.get_close_matches(unknown[0], list(by_key), n=1)
        hint = f"did you mean {guesses[0]!r}?" if guesses else "`ipass validate` lists the keys"
        raise InvalidInput(f"no catalog entry with key {unknown[0]!r}", hint=hint)
    chosen = [by_key[k] for k in keys] if keys else list(result.entries)
    return {
        entry.key: build_request(entry.key, entry.content, result.merchant_id).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        for entry in chosen
    }


def bodies_json(bodies: dict[str, object], *, pretty: bool) -> str:
    """Canonical JSON, so each body inside is byte for byte what is signed and sent."""
    if pretty:
        import json

        return json.dumps(bodies, ensure_ascii=False, sort_keys=True, indent=2)
    return canonical_json(bodies).decode("utf-8")
