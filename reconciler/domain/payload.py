"""From a validated catalog entry to the exact createTemplate request body.

The payload hash decides "modified" (DESIGN.md): it covers everything sent except the
requestId, which is itself derived from the hash, so the same entry retried sends the same
requestId and an edited entry can never reuse an old one. `ipass render` and `ipass apply` both
build the body with `with_request_id`, so what render prints is what apply sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pydantic import JsonValue

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.contract.template import TemplateContent

_REQUEST_ID_DOMAIN: Final = "ipass/createTemplate/v1"


def content_payload(content: TemplateContent, merchant_id: str) -> dict[str, JsonValue]:
    """The request body without its requestId, as JSON-ready data."""
    body: dict[str, JsonValue] = content.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["merchantId"] = merchant_id
    return body


def payload_digest(payload: Mapping[str, JsonValue]) -> str:
    """SHA-256 of the canonical JSON of a body without its requestId."""
    return sha256_hex(canonical_json({k: v for k, v in payload.items() if k != "requestId"}))


def derive_request_id(
    merchant_id: str, key: str, content_hash: str, generation: int = 0, revision: int = 1
) -> str:
    """32 hex characters (the vendor's limit), stable for the same entry, content, generation
    and revision.

    `generation` counts earlier templates of the same key (a new revision publishes generation
    1), so re-publishing identical content under a replaced key is still a new request; the
    catalog's `revision:` is part of the seed too (left out at revision 1, so requestIds from
    before revisions existed are unchanged).
    """
    seed = f"{_REQUEST_ID_DOMAIN}\n{merchant_id}\n{key}\n{content_hash}\n{generation}"
    if revision != 1:
        seed += f"\nrevision {revision}"
    return sha256_hex(seed.encode("utf-8"))[:32]


def with_request_id(
    key: str,
    payload: Mapping[str, JsonValue],
    payload_hash: str,
    generation: int = 0,
    revision: int = 1,
) -> dict[str, JsonValue]:
    """The body apply sends for this entry: its payload plus the derived requestId."""
    body = dict(payload)
    merchant = body.get("merchantId")
    body["requestId"] = derive_request_id(
        merchant if isinstance(merchant, str) else "", key, payload_hash, generation, revision
    )
    return body
