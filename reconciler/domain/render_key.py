"""What a catalog file's rendered result depends on, as one SHA-256: the key of the render cache.

A file's result (its entries, their payloads and hashes, its intents, keys and every problem
but the start date's) is a function of:

* the file's bytes and the name it is shown by (problems quote it);
* what every file is rendered with (`SharedInputs`): the environment's name and merchant id,
  the variables of `vars.yaml` overlaid with `vars.<env>.yaml`, and `defaults.yaml` (its data,
  and where each value stands in it, since problems may point there);
* the macros (`macros/*.j2`, by name);
* the code that reads, renders and checks it (`code`: the ipass version, the cache's format
  and a digest of that code, given by the caller).

Everything that depends on the time or on the state is checked afresh on every run
(`catalog.check_start_dates`), so it is not part of the key. Each part is written with its
length or as JSON, so no two different inputs give the same text to hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from reconciler.domain.catalog import SharedInputs
from reconciler.domain.yamlsafe import YamlDocument


def context_digest(shared: SharedInputs, macros: Mapping[str, str], code: str) -> str:
    """SHA-256 (hex) of everything but the file itself that a file's result depends on."""
    parts = {
        "code": code,
        "environment": shared.environment,
        "merchant_id": shared.merchant_id,
        # In their own order: a template may iterate over them.
        "variables": shared.variables,
        "defaults": _document(shared.defaults),
        "macros": list(macros.items()),
    }
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def file_key(context: str, shown: str, data: bytes) -> str:
    """SHA-256 (hex) naming one file's result: the context, its shown name, its bytes."""
    name = shown.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256()
    digest.update(f"ipass render key\n{context}\n{len(name)}\n".encode("ascii"))
    digest.update(name)
    digest.update(f"\n{len(data)}\n".encode("ascii"))
    digest.update(data)
    return digest.hexdigest()


def _document(document: YamlDocument | None) -> object:
    if document is None:
        return None
    return {
        "path": document.path,
        "data": document.data,
        "positions": [
            [list(path), where.line, where.column] for path, where in document.positions.items()
        ],
        "strings": [
            [list(path), source.position.line, source.position.column, source.style]
            for path, source in document.strings.items()
        ],
    }
