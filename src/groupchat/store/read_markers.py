"""Read markers and what a member has not read yet (unread and mention counts)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import messages, room_members


@dataclass(frozen=True, slots=True)
class CatchUp:
    """One room as one member left it: their marker, counts and the newest message's id."""

    last_read_id: str | None
    unread_count: int
    mention_count: int
    last_message_id: str | None


def _unread_query(user_id: str) -> sa.Select[Any]:
    """One row per room of the member: a single statement whatever the number of rooms.

    Each count is a subquery per membership, so it reads only the messages after that marker
    through the (room_id, id) index (a join would let the planner scan every message). A
    mention is the caller's id in `messages.mentions` (a JSON list of ids) or a reply to them."""
    rm = room_members

    def after_marker(m: Any) -> sa.ColumnElement[bool]:
        return sa.and_(
            m.c.room_id == rm.c.room_id,
            m.c.id > sa.func.coalesce(rm.c.last_read_id, ""),
            m.c.deleted_at.is_(None),
            sa.or_(m.c.author_id.is_(None), m.c.author_id != user_id),
        )

    m, mm, replied, newest = (messages.alias(name) for name in ("m", "mm", "replied", "newest"))
    unread = sa.select(sa.func.count()).where(after_marker(m))
    mentioned = sa.or_(
        sa.cast(mm.c.mentions, sa.Text).like(f'%"{user_id}"%'), replied.c.author_id == user_id
    )
    mentions = (
        sa.select(sa.func.count())
        .select_from(mm.outerjoin(replied, replied.c.id == mm.c.reply_to))
        .where(after_marker(mm), mentioned)
    )
    last_id = sa.select(sa.func.max(newest.c.id)).where(
        newest.c.room_id == rm.c.room_id, newest.c.deleted_at.is_(None)
    )
    return sa.select(
        rm.c.room_id,
        rm.c.last_read_id,
        *(q.correlate(rm).scalar_subquery() for q in (unread, mentions, last_id)),
    ).where(rm.c.user_id == user_id)


async def catch_up(
    conn: AsyncConnection, user_id: str, room_ids: Iterable[str] | None = None
) -> dict[str, CatchUp]:
    """room id -> CatchUp for the member's rooms (all, or those named)."""
    query = _unread_query(user_id)
    if room_ids is not None:
        query = query.where(room_members.c.room_id.in_(sorted(set(room_ids))))
    await no_jit(conn)
    rows = (await conn.execute(query)).all()
    return {
        room_id: CatchUp(last_read, int(unread), int(mentions), last_id)
        for room_id, last_read, unread, mentions, last_id in rows
    }


async def no_jit(conn: AsyncConnection) -> None:
    """PostgreSQL: no JIT for this transaction. The planner's estimates for these many small
    index scans pass jit_above_cost, and compiling takes ~100x longer than running (~5 ms)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SET LOCAL jit = off"))


async def advance(conn: AsyncConnection, room_id: str, user_id: str, message_id: str) -> bool:
    """Move the member's marker forward to `message_id`; False if it was there or beyond."""
    marker = room_members.c.last_read_id
    result = await conn.execute(
        room_members.update()
        .where(
            room_members.c.room_id == room_id,
            room_members.c.user_id == user_id,
            sa.or_(marker.is_(None), marker < message_id),
        )
        .values(last_read_id=message_id)
    )
    return result.rowcount == 1


# The post writer's own SQL (store/post_batch.py): a sender has read what they sent.
SQLITE_ADVANCE = (
    "UPDATE room_members SET last_read_id = ? WHERE room_id = ? AND user_id = ?"
    " AND (last_read_id IS NULL OR last_read_id < ?)"
)
PG_ADVANCE = (
    "UPDATE room_members AS rm SET last_read_id = v.id"
    " FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS v(id, room_id, user_id)"
    " WHERE rm.room_id = v.room_id AND rm.user_id = v.user_id"
    " AND (rm.last_read_id IS NULL OR rm.last_read_id < v.id)"
)


def sent(rows: Iterable[tuple[str, str, str | None]]) -> list[tuple[str, str, str]]:
    """(message id, room id, author id) of new messages -> each author's newest per room."""
    newest: dict[tuple[str, str], str] = {}
    for message_id, room_id, author_id in rows:
        if author_id is not None and message_id > newest.get((room_id, author_id), ""):
            newest[(room_id, author_id)] = message_id
    return [(message_id, room_id, user_id) for (room_id, user_id), message_id in newest.items()]
