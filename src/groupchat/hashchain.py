"""The per-room hash chain: canonical message bytes and their SHA-256 (see docs/hash-chain.md)."""

from __future__ import annotations

import hashlib
import json

CHAIN_VERSION = 1


def canonical_bytes(
    *,
    message_id: str,
    room_id: str,
    author_type: str,
    author_id: str | None,
    content: str,
    image_url: str | None,
    created_at: str,
    prev_hash: str | None,
) -> bytes:
    """The exact bytes hashed for one message: compact JSON, sorted keys, UTF-8."""
    fields = {
        "v": CHAIN_VERSION,
        "id": message_id,
        "room_id": room_id,
        "author_type": author_type,
        "author_id": author_id,
        "content": content,
        "image_url": image_url,
        "created_at": created_at,
        "prev_hash": prev_hash,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def message_hash(**fields: str | None) -> str:
    """Lowercase hex SHA-256 of canonical_bytes(**fields)."""
    return hashlib.sha256(canonical_bytes(**fields)).hexdigest()  # type: ignore[arg-type]
