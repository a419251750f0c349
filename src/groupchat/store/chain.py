"""Chain entries (v2): one per message, edit and deletion of a room, in chain order (id order)."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat import hashchain
from groupchat.db.tables import chain_entries
from groupchat.schemas import ChainEntry

Kind = Literal["message", "edit", "delete"]
ENTRY_COLUMNS = (
    "id",
    "room_id",
    "v",
    "kind",
    "author_type",
    "author_id",
    "target_id",
    "reply_to",
    "image_url",
    "content",
    "salt",
    "content_sha256",
    "created_at",
    "hash",
    "prev_hash",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored chain entry, fields in ENTRY_COLUMNS order."""

    id: str
    room_id: str
    v: int
    kind: Kind
    author_type: str
    author_id: str | None
    target_id: str | None
    reply_to: str | None
    image_url: str | None
    content: str | None
    salt: str | None
    content_sha256: str | None
    created_at: str
    hash: str
    prev_hash: str | None

    def row(self) -> tuple[Any, ...]:
        return astuple(self)


def make_entry(
    *,
    entry_id: str,
    room_id: str,
    kind: Kind,
    author_type: str,
    author_id: str | None,
    target_id: str | None,
    reply_to: str | None,
    image_url: str | None,
    content: str | None,
    salt: str | None,
    created_at: str,
    prev_hash: str | None,
) -> Entry:
    """A v2 entry with its content digest and hash computed (docs/hash-chain.md)."""
    digest = None
    if content is not None and salt is not None:
        digest = hashchain.content_sha256(salt, content)
    entry_hash = hashchain.entry_hash(
        entry_id=entry_id,
        room_id=room_id,
        kind=kind,
        author_type=author_type,
        author_id=author_id,
        target_id=target_id,
        reply_to=reply_to,
        image_url=image_url,
        content_sha256=digest,
        created_at=created_at,
        prev_hash=prev_hash,
    )
    return Entry(
        entry_id, room_id, 2, kind, author_type, author_id, target_id, reply_to, image_url,
        content, salt, digest, created_at, entry_hash, prev_hash,
    )  # fmt: skip


async def insert_entry(conn: AsyncConnection, entry: Entry) -> None:
    await conn.execute(
        chain_entries.insert().values(dict(zip(ENTRY_COLUMNS, entry.row(), strict=True)))
    )


async def page(
    conn: AsyncConnection, room_id: str, *, after: str | None, limit: int
) -> tuple[list[ChainEntry], bool]:
    """Entries of a room in chain order from the oldest (or the first after `after`)."""
    query = chain_entries.select().where(chain_entries.c.room_id == room_id)
    if after is not None:
        query = query.where(chain_entries.c.id > after)
    rows = (await conn.execute(query.order_by(chain_entries.c.id).limit(limit + 1))).all()
    entries = [ChainEntry.model_validate(row, from_attributes=True) for row in rows[:limit]]
    return entries, len(rows) > limit


async def versions(conn: AsyncConnection, message_id: str) -> list[tuple[str, str]]:
    """(content, created_at) of a message's entry and its edits, oldest first."""
    query = (
        sa.select(chain_entries.c.content, chain_entries.c.created_at)
        .where(
            sa.or_(chain_entries.c.id == message_id, chain_entries.c.target_id == message_id),
            chain_entries.c.kind != "delete",
        )
        .order_by(chain_entries.c.id)
    )
    return [(row.content or "", row.created_at) for row in await conn.execute(query)]


async def delete_room_entries(conn: AsyncConnection, room_id: str) -> None:
    await conn.execute(chain_entries.delete().where(chain_entries.c.room_id == room_id))
