"""The per-room hash chain: canonical bytes of v1 messages and v2 entries (docs/hash-chain.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic_core import to_json

from groupchat.ids import RandomPool

CHAIN_VERSION = 1  # the v1 message form, kept for messages stored before v2
SALT_HEX = 32


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


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
    """The exact bytes hashed for one v1 message: compact JSON, sorted keys, UTF-8."""
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
    return _canonical(fields)


def message_hash(**fields: str | None) -> str:
    """Lowercase hex SHA-256 of canonical_bytes(**fields) (v1)."""
    return hashlib.sha256(canonical_bytes(**fields)).hexdigest()  # type: ignore[arg-type]


def new_salt() -> str:
    """32 random lowercase hex characters: one per v2 entry that carries content."""
    return _SALTS.take().hex()


_SALTS = RandomPool(SALT_HEX // 2)  # drawn by the post writer's thread and the event loop


def content_sha256(salt: str, content: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of salt + content."""
    return hashlib.sha256((salt + content).encode()).hexdigest()


def entry_hash(
    *,
    entry_id: str,
    room_id: str,
    kind: str,
    author_type: str,
    author_id: str | None,
    target_id: str | None,
    reply_to: str | None,
    image_url: str | None,
    content_sha256: str | None,
    created_at: str,
    prev_hash: str | None,
) -> str:
    """Lowercase hex SHA-256 of a v2 entry's canonical JSON."""
    fields = {  # already in sorted key order: json.dumps need not sort (once per post)
        "author_id": author_id,
        "author_type": author_type,
        "content_sha256": content_sha256,
        "created_at": created_at,
        "id": entry_id,
        "image_url": image_url,
        "kind": kind,
        "prev_hash": prev_hash,
        "reply_to": reply_to,
        "room_id": room_id,
        "target_id": target_id,
        "v": 2,
    }
    # compact, keys as given, non-ASCII as UTF-8: json.dumps's bytes, in a quarter of the time
    return hashlib.sha256(to_json(fields)).hexdigest()
