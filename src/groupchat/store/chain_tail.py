"""A room's chain head, and the entries after a given one: where a process's live stream of a
room stands, and how it fills a hole (realtime/ordering.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import chain_entries, messages
from groupchat.schemas import Message
from groupchat.store import messages as message_store
from groupchat.store import rooms as room_store

MAX_ENTRIES = 2000  # more behind than this: the sockets resync instead


@dataclass(frozen=True, slots=True)
class TailEntry:
    """One chain entry; `message` is the message itself, or the one an edit or deletion names,
    as it reads now."""

    id: str
    kind: str  # "message", "edit" or "delete"
    hash: str
    prev_hash: str | None
    message: Message


async def head(conn: AsyncConnection, room_id: str) -> tuple[str | None, str | None]:
    """The room's chain head (hash, entry id); Nones when it has no entry (or no room)."""
    return await room_store.get_head_and_id(conn, room_id)


async def entries_after(
    conn: AsyncConnection, room_id: str, head_hash: str | None, limit: int = MAX_ENTRIES
) -> list[TailEntry] | None:
    """The entries after the one with `head_hash` (None: from the chain's start), oldest first.

    Chain order is id order: every entry's id sorts after its predecessor's (store/post_batch.py
    draws it with `new_id(after=<the head's id>)`), and a clear deletes every entry. None when
    that entry is no longer stored in the room (a clear) or more than `limit` follow it."""
    after_id = None
    if head_hash is not None:
        after_id = await _entry_id(conn, room_id, head_hash)
        if after_id is None:
            return None
    m, e = messages.c, chain_entries.c
    own = sa.select(
        m.id, sa.literal("message").label("kind"), m.hash, m.prev_hash, m.id.label("target")
    )
    own = own.where(m.room_id == room_id)
    other = sa.select(e.id, e.kind, e.hash, e.prev_hash, e.target_id.label("target"))
    other = other.where(e.room_id == room_id)
    if after_id is not None:
        own, other = own.where(m.id > after_id), other.where(e.id > after_id)
    both = sa.union_all(own, other).subquery()
    query = sa.select(both).order_by(both.c.id).limit(limit + 1)
    rows: list[Any] = list((await conn.execute(query)).all())
    if len(rows) > limit:
        return None
    found = await message_store.by_ids(conn, sorted({row.target for row in rows if row.target}))
    return [
        TailEntry(row.id, row.kind, row.hash, row.prev_hash, found[row.target])
        for row in rows
        if row.target in found  # always: an edit or deletion names a message of its room
    ]


async def _entry_id(conn: AsyncConnection, room_id: str, entry_hash: str) -> str | None:
    m, e = messages.c, chain_entries.c
    query = sa.union_all(
        sa.select(m.id).where(m.hash == entry_hash, m.room_id == room_id),
        sa.select(e.id).where(e.hash == entry_hash, e.room_id == room_id),
    )
    return (await conn.execute(query)).scalars().first()
