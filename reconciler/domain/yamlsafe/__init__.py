"""Strict YAML for untrusted catalog files: plain data plus where every value came from.

Anyone who can open a pull request can edit the catalog, and the pipeline that reads it holds the
signing key (RELIABILITY.md, invariant 8). So the loader reads the parser's events and builds the
data itself: anchors, aliases, merge keys and tags are refused instead of interpreted, and plain
scalars go through a small YAML 1.2-core-like table. The YAML 1.1 readings that surprise people
(`NO` -> false, `0777` -> 511, `1_000` -> 1000) are refused with a fix, never passed on.

The names below are the whole interface; the modules behind them are internal:
`loader` (size and encoding checks, parser selection), `builder` (events to data),
`scalars` (what plain scalars mean), `errors` (`YamlError`, parser errors translated) and
`document` (the result and its positions).
"""

from reconciler.domain.yamlsafe.document import PlainData, Position, ScalarSource, YamlDocument
from reconciler.domain.yamlsafe.errors import YamlError
from reconciler.domain.yamlsafe.loader import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_NODES,
    load_yaml_file,
    load_yaml_text,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "PlainData",
    "Position",
    "ScalarSource",
    "YamlDocument",
    "YamlError",
    "load_yaml_file",
    "load_yaml_text",
]
