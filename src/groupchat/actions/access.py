"""Who may see and change a room. Invisible rooms are 404, exactly like missing ones."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.engine import Database
from groupchat.db.point_reads import PointReader
from groupchat.errors import ROOM_NOT_FOUND, Forbidden, NotFound
from groupchat.schemas import Role, Room
from groupchat.store import rooms as room_store


async def visible_room(conn: AsyncConnection, room_id: str, user_id: str) -> Room:
    """The room if the user is a member or it is public."""
    room = await room_store.get_room(conn, room_id, user_id)
    if room is None or (room.my_role is None and not room.is_public):
        raise NotFound(ROOM_NOT_FOUND)
    return room


async def member_room(conn: AsyncConnection, room_id: str, user_id: str) -> Room:
    """The room if the user is a member (a public room's visitor gets 403)."""
    room = await visible_room(conn, room_id, user_id)
    if room.my_role is None:
        raise Forbidden("join the room first")
    return room


async def strict_member(
    db: Database, reader: PointReader | None, room_id: str, user_id: str
) -> Role:
    """The user's role if a member; anything else is 404 (WebSocket frames)."""
    role = await room_store.read_role(db, reader, room_id, user_id)
    if role is None:
        raise NotFound(ROOM_NOT_FOUND)
    return role


async def managed_room(conn: AsyncConnection, room_id: str, user_id: str) -> Room:
    """The room if the user is its owner or an admin."""
    room = await visible_room(conn, room_id, user_id)
    if room.my_role not in ("owner", "admin"):
        raise Forbidden("only the room's owner or admins may do that")
    return room


async def owned_room(conn: AsyncConnection, room_id: str, user_id: str) -> Room:
    """The room if the user owns it."""
    room = await visible_room(conn, room_id, user_id)
    if room.my_role != "owner":
        raise Forbidden("only the room's owner may do that")
    return room
