"""A room's chain head, and the entries after a given one: where a process's live stream of a
room stands, and how it fills a hole (realtime/ordering.py)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import chain_entries, messages
from groupchat.schemas import Message
from groupchat.store import chain as chain_store
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
    entries, more = await chain_store.page(conn, room_id, after=after_id, limit=limit)
    if more:
        return None
    found = await message_store.by_ids(conn, sorted({e.target_id or e.id for e in entries}))
    return [
        TailEntry(entry.id, entry.kind, entry.hash, entry.prev_hash, found[target])
        for entry in entries
        if (target := entry.target_id or entry.id) in found  # always: a message of its room
    ]


async def _entry_id(conn: AsyncConnection, room_id: str, entry_hash: str) -> str | None:
    m, e = messages.c, chain_entries.c
    query = sa.union_all(
        sa.select(m.id).where(m.hash == entry_hash, m.room_id == room_id),
        sa.select(e.id).where(e.hash == entry_hash, e.room_id == room_id),
    )
    return (await conn.execute(query)).scalars().first()
