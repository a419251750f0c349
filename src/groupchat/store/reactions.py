"""Reactions: one row per (message, emoji, user); ids sort in order of use. Not chain entries."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import message_reactions
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.schemas import Reaction

_r = message_reactions.c


async def for_messages(
    conn: AsyncConnection, message_ids: Sequence[str]
) -> dict[str, list[Reaction]]:
    """Each message's reactions, emojis in order of first use, reactors in order of reacting."""
    if not message_ids:
        return {}
    query = (
        sa.select(_r.message_id, _r.emoji, _r.user_id)
        .where(_r.message_id.in_(message_ids))
        .order_by(_r.message_id, _r.id)
    )
    found: dict[str, dict[str, list[str]]] = {}
    for message_id, emoji, user_id in await conn.execute(query):
        found.setdefault(message_id, {}).setdefault(emoji, []).append(user_id)
    return {
        message_id: [Reaction(emoji=e, count=len(ids), user_ids=ids) for e, ids in emojis.items()]
        for message_id, emojis in found.items()
    }


async def emojis(conn: AsyncConnection, message_id: str) -> set[str]:
    """The distinct emojis on a message."""
    query = sa.select(_r.emoji).where(_r.message_id == message_id).distinct()
    return set((await conn.execute(query)).scalars())


async def add(conn: AsyncConnection, message_id: str, user_id: str, emoji: str) -> bool:
    """Add a reaction; False if this user already reacted so (even at the same instant)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = {"id": new_id(), "message_id": message_id, "user_id": user_id, "emoji": emoji}
    query = (
        insert(message_reactions)
        .values(**values, created_at=format_ts(utc_now()))
        .on_conflict_do_nothing(index_elements=["message_id", "emoji", "user_id"])
    )
    return (await conn.execute(query)).rowcount == 1


async def remove(conn: AsyncConnection, message_id: str, user_id: str, emoji: str) -> bool:
    """Remove the user's reaction; False if there was none."""
    query = message_reactions.delete().where(
        _r.message_id == message_id, _r.user_id == user_id, _r.emoji == emoji
    )
    return (await conn.execute(query)).rowcount == 1
