"""Rooms: create, read, change, delete, clear, join."""

from __future__ import annotations

from groupchat import events
from groupchat.actions.access import managed_room, owned_room, visible_room
from groupchat.actions.reading import with_catch_up
from groupchat.actions.uploads import delete_room_images
from groupchat.errors import ROOM_NOT_FOUND, Invalid, NotFound
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.realtime.bus import Event
from groupchat.schemas import Room, RoomCreate, RoomDetail, RoomUpdate, User
from groupchat.services import Services
from groupchat.store import invites as invite_store
from groupchat.store import messages as message_store
from groupchat.store import rooms as room_store
from groupchat.store import uploads as upload_store


async def create_room(svc: Services, user: User, body: RoomCreate) -> Room:
    """Create a room owned by the caller."""
    await _check_model(svc, body.ai_model)
    room_id, now = new_id(), format_ts(utc_now())
    async with svc.db.write() as conn:
        await room_store.insert_room(
            conn, room_id=room_id, created_by=user.id, created_at=now, **body.model_dump()
        )
        await room_store.add_member(conn, room_id, user.id, "owner", now)
        room = await room_store.get_room(conn, room_id, user.id)
    assert room is not None
    return room


async def list_rooms(svc: Services, user: User, scope: str) -> list[Room]:
    async with svc.db.read() as conn:
        found = await room_store.list_rooms(conn, user.id, public=scope == "public")
        return await with_catch_up(conn, user.id, found)


async def get_room(svc: Services, user: User, room_id: str) -> RoomDetail:
    """A room the caller can see, with its members."""
    async with svc.db.read() as conn:
        room = await visible_room(conn, room_id, user.id)
        members = await room_store.list_members(conn, room_id)
        (room,) = await with_catch_up(conn, user.id, [room])
    return RoomDetail(**room.model_dump(), members=members)


async def update_room(svc: Services, user: User, room_id: str, body: RoomUpdate) -> Room:
    """Change settings (owner/admin); members see `room_updated`."""
    values = body.model_dump(include=body.model_fields_set)
    if "ai_model" in values:
        await _check_model(svc, values["ai_model"])
    async with svc.db.write() as conn:
        await managed_room(conn, room_id, user.id)
        if values:  # an empty UPDATE is a syntax error; an empty PATCH changes nothing
            await room_store.update_room(conn, room_id, **values)
        if values.get("is_public") is False:  # plain members may no longer invite
            await invite_store.revoke_member_invites(conn, room_id)
        room = await room_store.get_room(conn, room_id, user.id)
    assert room is not None
    if values:
        await svc.publish(Event(frame=events.room_updated(room), room_id=room_id))
    return room


async def delete_room(svc: Services, user: User, room_id: str) -> None:
    """Delete the room and everything in it (owner only)."""
    async with svc.db.read() as conn:
        await owned_room(conn, room_id, user.id)
    # Stop the AI first, so no answer can be stored between the delete and the stop.
    await svc.ai.stop_room(room_id, "The room was deleted.")
    async with svc.db.write() as conn:
        await owned_room(conn, room_id, user.id)
        member_ids = await room_store.member_ids(conn, room_id)
        images = await upload_store.room_image_names(conn, room_id)
        await room_store.delete_room(conn, room_id)
    await delete_room_images(svc, images)
    frame = events.room_deleted(room_id)
    await svc.publish(
        Event(frame=frame, room_id=room_id, user_ids=tuple(member_ids), unjoin_all=True)
    )


async def clear_room(svc: Services, user: User, room_id: str) -> None:
    """Delete every message (owner/admin); the chain starts again from null."""
    async with svc.db.read() as conn:
        await managed_room(conn, room_id, user.id)
    # Stop the AI first, so no answer can be stored between the clear and the stop.
    await svc.ai.stop_room(room_id, "The room was cleared.")
    async with svc.db.write() as conn:
        await managed_room(conn, room_id, user.id)
        images = await upload_store.room_image_names(conn, room_id)
        await message_store.delete_room_messages(conn, room_id)
        await room_store.update_room(conn, room_id, head_hash=None)
    await delete_room_images(svc, images)
    await svc.publish(Event(frame=events.room_cleared(room_id), room_id=room_id))


async def join_room(svc: Services, user: User, room_id: str) -> Room:
    """Join a public room (a no-op for members); private rooms are 404."""
    async with svc.db.write() as conn:
        await visible_room(conn, room_id, user.id)
        joined = await room_store.add_member(conn, room_id, user.id, "member", format_ts(utc_now()))
        room = await room_store.get_room(conn, room_id, user.id)
    if room is None:
        raise NotFound(ROOM_NOT_FOUND)
    if joined:
        await publish_member_joined(svc, room_id, user)
    return room


async def publish_member_joined(svc: Services, room_id: str, user: User) -> None:
    frame = events.member_joined(room_id, user)
    await svc.publish(Event(frame=frame, room_id=room_id, user_ids=(user.id,)))


async def _check_model(svc: Services, model_id: str | None) -> None:
    """Refuse a model the provider's list does not know (when the list is available)."""
    catalog = getattr(svc.ai, "catalog", None)
    if model_id is None or catalog is None:
        return
    if await catalog.knows(model_id) is False:
        raise Invalid(f"unknown model: {model_id}")
