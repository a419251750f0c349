"""Invite links and Nostr-bound invites."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import invites, nostr_invites, room_members, rooms
from groupchat.schemas import Invite
from groupchat.store.rooms import storable


def _to_invite(row: Any) -> Invite:
    return Invite(
        token=row.token,
        room_id=row.room_id,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        max_uses=row.max_uses,
        uses=row.uses,
        url=f"/invite/{row.token}",
    )


async def insert_invite(conn: AsyncConnection, **values: Any) -> Invite:
    await conn.execute(invites.insert().values(**values))
    invite = await get_invite(conn, values["token"])
    assert invite is not None
    return invite


async def get_invite(conn: AsyncConnection, token: str) -> Invite | None:
    """A live invite by token (see _live), whatever its expiry and uses."""
    if not storable(token):
        return None
    query = invites.select().where(invites.c.token == token, _live())
    row = (await conn.execute(query)).first()
    return _to_invite(row) if row else None


def _creator_may_invite(table: sa.Table) -> sa.ColumnElement[bool]:
    """The creator of a row of `table` (invites, nostr_invites) could still create it now:
    a member of the room, and its owner or an admin unless the room is public."""
    may = sa.or_(room_members.c.role != "member", rooms.c.is_public.is_(True))
    return (
        sa.select(room_members.c.user_id)
        .join(rooms, rooms.c.id == room_members.c.room_id)
        .where(
            room_members.c.room_id == table.c.room_id,
            room_members.c.user_id == table.c.created_by,
            may,
        )
        .correlate(table)
        .exists()
    )


def _live() -> sa.ColumnElement[bool]:
    """Not revoked, and its creator could still create it (checked at every use)."""
    return sa.and_(invites.c.revoked.is_(False), _creator_may_invite(invites))


def _usable(now: str) -> sa.ColumnElement[bool]:
    """Live (see _live), not expired, not used up: the one rule every use of an invite obeys."""
    return sa.and_(
        _live(),
        sa.or_(invites.c.expires_at.is_(None), invites.c.expires_at > now),
        sa.or_(invites.c.max_uses.is_(None), invites.c.uses < invites.c.max_uses),
    )


async def list_active(conn: AsyncConnection, room_id: str, now: str) -> list[Invite]:
    """Invites that can still be used, newest first."""
    query = (
        invites.select()
        .where(invites.c.room_id == room_id, _usable(now))
        .order_by(invites.c.created_at.desc())
    )
    return [_to_invite(row) for row in (await conn.execute(query)).all()]


async def use_invite(conn: AsyncConnection, token: str, now: str) -> bool:
    """Count one use if the invite is still valid (atomic); False if it is not."""
    result = await conn.execute(
        invites.update()
        .where(invites.c.token == token, _usable(now))
        .values(uses=invites.c.uses + 1)
    )
    return result.rowcount == 1


async def revoke_invite(conn: AsyncConnection, token: str) -> None:
    await conn.execute(invites.update().where(invites.c.token == token).values(revoked=True))


async def revoke_invites_by(conn: AsyncConnection, room_id: str, user_id: str) -> None:
    """Revoke every invite the user created for the room (removed, left or demoted)."""
    await conn.execute(
        invites.update()
        .where(invites.c.room_id == room_id, invites.c.created_by == user_id)
        .values(revoked=True)
    )
    await conn.execute(
        nostr_invites.delete().where(
            nostr_invites.c.room_id == room_id, nostr_invites.c.created_by == user_id
        )
    )


async def revoke_member_invites(conn: AsyncConnection, room_id: str) -> None:
    """Revoke the room's invites whose creators are not its owner or an admin (made private)."""
    managers = sa.select(room_members.c.user_id).where(
        room_members.c.room_id == room_id, room_members.c.role.in_(("owner", "admin"))
    )
    await conn.execute(
        invites.update()
        .where(invites.c.room_id == room_id, invites.c.created_by.not_in(managers))
        .values(revoked=True)
    )
    await conn.execute(
        nostr_invites.delete().where(
            nostr_invites.c.room_id == room_id, nostr_invites.c.created_by.not_in(managers)
        )
    )


async def add_nostr_invite(conn: AsyncConnection, **values: Any) -> None:
    """Remember that the holder of a key may join a room (idempotent)."""
    query = sa.select(nostr_invites.c.pubkey).where(
        nostr_invites.c.room_id == values["room_id"], nostr_invites.c.pubkey == values["pubkey"]
    )
    if (await conn.execute(query)).first() is None:
        try:
            async with conn.begin_nested():
                await conn.execute(nostr_invites.insert().values(**values))
        except IntegrityError:
            pass  # a concurrent request stored the same invite first


async def take_nostr_invites(conn: AsyncConnection, pubkey: str) -> list[str]:
    """Room ids waiting for this key whose inviter could still invite; all are consumed."""
    query = sa.select(nostr_invites.c.room_id).where(
        nostr_invites.c.pubkey == pubkey, _creator_may_invite(nostr_invites)
    )
    room_ids = list((await conn.execute(query)).scalars())
    await conn.execute(nostr_invites.delete().where(nostr_invites.c.pubkey == pubkey))
    return room_ids
