"""JSON Schemas for catalog files, generated from the vendor models (editor completion)."""

from __future__ import annotations

import json
from typing import Final

from reconciler.domain.contract.rules import template_json_schema

SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_JINJA_STRING: Final = {"type": "string", "pattern": r"\{\{", "description": "a Jinja expression"}
_DATE_FORMS: Final = [
    {"type": "integer", "description": "epoch milliseconds"},
    {"type": "string", "format": "date-time", "description": "ISO-8601 with offset"},
    {
        "type": "string",
        "format": "date",
        "description": "a date in Hong Kong: its start for startDate, its end for endDate",
    },
]
_DATE_FIELDS: Final = ("startDate", "endDate")


def _allow_jinja(node: object) -> object:
    """Any non-text leaf may also be written as `{{ expression }}` in the catalog."""
    if isinstance(node, list):
        return [_allow_jinja(item) for item in node]
    if not isinstance(node, dict):
        return node
    updated = {key: _allow_jinja(value) for key, value in node.items()}
    if updated.get("type") in ("integer", "number", "boolean", "array"):
        return {"anyOf": [updated, _JINJA_STRING]}
    # Text with a shape (an https URL, an enum) may be built by Jinja too: `{{ cdn }}/x.png`.
    if updated.get("type") == "string" and ("pattern" in updated or "enum" in updated):
        return {"anyOf": [updated, _JINJA_STRING]}
    return updated


def _properties(schema: dict[str, object]) -> dict[str, object]:
    found = schema.get("properties")
    return dict(found) if isinstance(found, dict) else {}


def _with_jinja(schema: dict[str, object]) -> dict[str, object]:
    widened = _allow_jinja(schema)
    return widened if isinstance(widened, dict) else schema


# What an entry says about its own life (domain/catalog_intents.py); never sent to AlipayHK.
_KEY_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(\[[A-Za-z0-9][A-Za-z0-9 ._:/+-]{0,63}\])?$"
_INTENTS: Final[dict[str, object]] = {
    "revision": {
        "type": "integer",
        "minimum": 1,
        "maximum": 10_000,
        "default": 1,
        "description": "Raise it to publish a new template for a published entry (the old one "
        "stays live until its end date). Never lowered. Not sent to AlipayHK.",
    },
    "moved_from": {
        "description": "The key (or keys) this entry was published under: a rename that keeps "
        "the published template. No API call.",
        "anyOf": [
            {"type": "string", "pattern": _KEY_PATTERN},
            {"type": "array", "items": {"type": "string", "pattern": _KEY_PATTERN}, "minItems": 1},
        ],
    },
    "adopt": {
        "type": "string",
        "pattern": "^[\\x21-\\x7e]{1,64}$",
        "description": "The templateCode of a template that already exists at AlipayHK (made "
        "by hand): recorded with this entry's content, nothing is sent.",
    },
    "retired": {
        "type": "boolean",
        "description": "Retire this entry: it is not rendered; its template stays live at "
        "AlipayHK until its end date. Its key is never used again.",
    },
    "tags": {
        "type": "array",
        "maxItems": 20,
        "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,31}$"},
        "description": "Labels for `--select tag:NAME`. Not sent to AlipayHK.",
    },
}


def catalog_template_schema() -> dict[str, object]:
    base = template_json_schema()
    properties = _properties(base)
    for name in _DATE_FIELDS:
        if name in properties:
            properties[name] = {"anyOf": [*_DATE_FORMS, _JINJA_STRING]}
    properties["key"] = {
        "type": "string",
        "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        "description": "The entry's identity; defaults to the file name without .yaml.",
    }
    properties["vars"] = {"type": "object", "description": "Variables for this entry only."}
    properties["for_each"] = {
        "description": "Expand this file into one entry per item; keys become name[item].",
        "anyOf": [
            {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1},
            {"type": "object", "minProperties": 1},
        ],
    }
    properties.update(_INTENTS)
    schema = dict(base)
    schema["properties"] = properties
    schema = _with_jinja(schema)
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = "ipass catalog template (catalog/templates/*.yaml)"
    schema.pop("required", None)  # defaults.yaml may supply any field
    return schema


def catalog_defaults_schema() -> dict[str, object]:
    schema = catalog_template_schema()
    properties = _properties(schema)
    for meta in ("key", "vars", "for_each", *_INTENTS):
        properties.pop(meta)
    schema["properties"] = properties
    schema["title"] = "ipass catalog defaults (catalog/defaults.yaml)"
    return schema


def catalog_vars_schema() -> dict[str, object]:
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "ipass catalog variables (catalog/vars.yaml, catalog/vars.<env>.yaml)",
        "type": "object",
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
        "description": "Plain data available by name in every Jinja expression.",
    }


def catalog_passes_schema() -> dict[str, object]:
    from reconciler.domain.campaign import Campaign

    schema: dict[str, object] = Campaign.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = "ipass pass campaign (catalog/passes/*.yaml)"
    return schema


def plan_schema() -> dict[str, object]:
    # plan_document takes the dialect from here: import it only when the schema is wanted.
    from reconciler.domain.plan_document import plan_json_schema

    return plan_json_schema()


def state_schema() -> dict[str, object]:
    from reconciler.domain.state import State

    schema: dict[str, object] = State.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = "ipass state file (state/<env>.json)"
    return schema


SCHEMAS: Final = {
    "catalog-template.schema.json": catalog_template_schema,
    "catalog-defaults.schema.json": catalog_defaults_schema,
    "catalog-vars.schema.json": catalog_vars_schema,
    "catalog-passes.schema.json": catalog_passes_schema,
    "plan.schema.json": plan_schema,
    "state.schema.json": state_schema,
}


def schema_text(schema: dict[str, object]) -> str:
    """Deterministic: sorted keys, two-space indent, trailing newline (readable git diffs)."""
    return json.dumps(schema, ensure_ascii=False, sort_keys=True, indent=2) + "\n"
