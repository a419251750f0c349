"""Catching up: read markers, and the unread and mention counts a member's rooms show."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat import events
from groupchat.actions.access import visible_room
from groupchat.errors import ROOM_NOT_FOUND, Invalid, NotFound
from groupchat.realtime.bus import Event
from groupchat.schemas import Room, User
from groupchat.services import Services
from groupchat.store import messages as message_store
from groupchat.store import read_markers


async def with_catch_up(conn: AsyncConnection, user_id: str, rooms: list[Room]) -> list[Room]:
    """The rooms with the member's marker, counts and newest message filled in (members only);
    three statements whatever the number of rooms."""
    mine = [room.id for room in rooms if room.my_role is not None]
    if not mine:
        return rooms
    found = await read_markers.catch_up(conn, user_id, None if len(mine) > 1 else mine)
    newest = [c.last_message_id for c in found.values() if c.last_message_id is not None]
    last = await message_store.by_ids(conn, newest)
    filled = []
    for room in rooms:
        seen = found.get(room.id) if room.my_role is not None else None
        if seen is not None:
            room = room.model_copy(
                update={
                    "unread_count": seen.unread_count,
                    "mention_count": seen.mention_count,
                    "last_read_id": seen.last_read_id,
                    "last_message": last.get(seen.last_message_id or ""),
                }
            )
        filled.append(room)
    return filled


async def mark_read(svc: Services, user: User, room_id: str, message_id: str) -> None:
    """Move the caller's marker forward; their every socket hears `read_updated`."""
    async with svc.db.write() as conn:
        room = await visible_room(conn, room_id, user.id)
        if room.my_role is None:
            raise NotFound(ROOM_NOT_FOUND)
        if await message_store.message_room(conn, message_id) != room_id:
            raise Invalid("message_id is not a message of this room")
        moved = await read_markers.advance(conn, room_id, user.id, message_id)
    if moved:
        frame = events.read_updated(room_id, message_id)
        await svc.publish(Event(frame=frame, user_ids=(user.id,)))
