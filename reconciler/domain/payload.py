"""From a validated catalog entry to the exact createTemplate request body.

The payload hash decides "modified" (DESIGN.md): it covers everything sent except the
requestId, which is itself derived from the hash, so the same entry retried sends the same
requestId and an edited entry can never reuse an old one.
"""

from __future__ import annotations

from typing import Final

from pydantic import JsonValue

from reconciler.domain.canonical import canonical_json, sha256_hex
from reconciler.domain.vendor.template import TemplateContent, TemplateRequest

_REQUEST_ID_DOMAIN: Final = "ipass/createTemplate/v1"


def content_payload(content: TemplateContent, merchant_id: str) -> dict[str, JsonValue]:
    """The request body without its requestId, as JSON-ready data."""
    body: dict[str, JsonValue] = content.model_dump(mode="json", by_alias=True, exclude_none=True)
    body["merchantId"] = merchant_id
    return body


def payload_hash(content: TemplateContent, merchant_id: str) -> str:
    return sha256_hex(canonical_json(content_payload(content, merchant_id)))


def derive_request_id(merchant_id: str, key: str, content_hash: str, generation: int = 0) -> str:
    """32 hex characters (the vendor's limit), stable for the same entry, content and generation.

    `generation` counts earlier templates of the same key (a `--replace` publishes generation 1),
    so re-publishing identical content under a replaced key is still a new request.
    """
    seed = f"{_REQUEST_ID_DOMAIN}\n{merchant_id}\n{key}\n{content_hash}\n{generation}"
    return sha256_hex(seed.encode("utf-8"))[:32]


def build_request(
    key: str, content: TemplateContent, merchant_id: str, generation: int = 0
) -> TemplateRequest:
    payload = content_payload(content, merchant_id)
    payload["requestId"] = derive_request_id(
        merchant_id, key, sha256_hex(canonical_json(payload)), generation
    )
    return TemplateRequest.model_validate(payload)


def request_body(request: TemplateRequest) -> bytes:
    """The exact bytes sent and signed."""
    return canonical_json(request.model_dump(mode="json", by_alias=True, exclude_none=True))
