"""The durable AI queue (table ai_triggers): add, claim with a lease, renew, hand back, finish."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import ai_triggers as t
from groupchat.db.tables import rooms


@dataclass(frozen=True)
class Trigger:
    """A question the AI must answer."""

    id: int
    room_id: str
    message_id: str
    user_id: str | None


async def add(
    conn: AsyncConnection,
    room_id: str,
    message_id: str,
    user_id: str | None,
    message_at: str,
    limit: int,
) -> bool:
    """Queue a question; False when `limit` already wait in the room (the one being answered
    does not count)."""
    # lock the room's row so two processes cannot both see room for one more (PostgreSQL;
    # SQLite's writers are serialized already)
    await conn.execute(
        sa.select(rooms.c.id).where(rooms.c.id == room_id).with_for_update(key_share=True)
    )
    waiting = await conn.scalar(
        sa.select(sa.func.count()).where(t.c.room_id == room_id, t.c.claimed_by.is_(None))
    )
    if (waiting or 0) >= limit:
        return False
    await conn.execute(
        t.insert().values(
            room_id=room_id, message_id=message_id, user_id=user_id, message_at=message_at
        )
    )
    return True


async def claim(
    conn: AsyncConnection, room_id: str, owner: str, now: float, lease: float
) -> Trigger | None:
    """Claim the room's oldest question unless another process holds it (one at a time)."""
    row = (
        await conn.execute(
            sa.select(t).where(t.c.room_id == room_id).order_by(t.c.message_at, t.c.id).limit(1)
        )
    ).first()
    if row is None or (row.claimed_by is not None and (row.lease_until or 0) > now):
        return None
    free = sa.or_(t.c.claimed_by.is_(None), t.c.lease_until <= now)
    result = await conn.execute(
        t.update().where(t.c.id == row.id, free).values(claimed_by=owner, lease_until=now + lease)
    )
    if result.rowcount != 1:  # another process claimed it first
        return None
    return Trigger(row.id, row.room_id, row.message_id, row.user_id)


async def renew(conn: AsyncConnection, trigger_id: int, owner: str, until: float) -> bool:
    """Extend our claim; False when it is gone (cleared, or taken over after it ran out)."""
    result = await conn.execute(
        t.update().where(t.c.id == trigger_id, t.c.claimed_by == owner).values(lease_until=until)
    )
    return result.rowcount == 1


async def finish(conn: AsyncConnection, trigger_id: int, owner: str) -> bool:
    """Remove our claimed question (in the answer's transaction); False if it is not ours."""
    result = await conn.execute(t.delete().where(t.c.id == trigger_id, t.c.claimed_by == owner))
    return result.rowcount == 1


async def hand_back(conn: AsyncConnection, trigger_id: int, owner: str) -> None:
    """Give our claim up at once: another process answers the question (shutting down)."""
    await conn.execute(
        t.update()
        .where(t.c.id == trigger_id, t.c.claimed_by == owner)
        .values(claimed_by=None, lease_until=None)
    )


async def drop_room(conn: AsyncConnection, room_id: str) -> None:
    """Forget every question of a room (cleared or deleted)."""
    await conn.execute(t.delete().where(t.c.room_id == room_id))


async def claimable_rooms(conn: AsyncConnection, now: float) -> list[str]:
    """Rooms whose questions wait with nobody answering (new, handed back, or lease run out)."""
    free = sa.or_(t.c.claimed_by.is_(None), t.c.lease_until <= now)
    rows = await conn.execute(sa.select(t.c.room_id).where(free).distinct())
    return [row.room_id for row in rows]
