"""Invite links: create, list, preview, accept, revoke."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.actions.access import visible_room
from groupchat.actions.rooms import publish_member_joined
from groupchat.errors import ROOM_NOT_FOUND, Forbidden, Gone, NotFound
from groupchat.ids import format_ts, utc_now
from groupchat.schemas import Invite, InviteCreate, InvitePreview, InviteRoom, Room, User
from groupchat.services import Services
from groupchat.store import invites as invite_store
from groupchat.store import rooms as room_store

INVITE_NOT_FOUND = "invite not found"


def _may_invite(room: Room) -> bool:
    return room.my_role in ("owner", "admin") or (room.is_public and room.my_role is not None)


async def create_invite(svc: Services, user: User, body: InviteCreate) -> Invite:
    """A new link (owner/admin; any member of a public room)."""
    now = utc_now()
    expires = None
    if body.expires_in_hours is not None:
        expires = format_ts(now + timedelta(hours=body.expires_in_hours))
    async with svc.db.write() as conn:
        room = await visible_room(conn, body.room_id, user.id)
        if not _may_invite(room):
            raise Forbidden("only the room's owner or admins may create invites")
        return await invite_store.insert_invite(
            conn,
            token=secrets.token_urlsafe(24),
            room_id=room.id,
            created_by=user.id,
            created_at=format_ts(now),
            expires_at=expires,
            max_uses=body.max_uses,
        )


async def list_invites(svc: Services, user: User, room_id: str) -> list[Invite]:
    """Active invites of a room (owner/admin)."""
    async with svc.db.read() as conn:
        room = await visible_room(conn, room_id, user.id)
        if room.my_role not in ("owner", "admin"):
            raise Forbidden("only the room's owner or admins may list invites")
        return await invite_store.list_active(conn, room_id, format_ts(utc_now()))


async def preview_invite(svc: Services, token: str) -> InvitePreview:
    """What a link leads to; the token itself is the secret, so no sign-in is needed."""
    async with svc.db.read() as conn:
        invite = await _usable_invite(conn, token)
        room = await room_store.get_room(conn, invite.room_id, None)
    if room is None:
        raise NotFound(INVITE_NOT_FOUND)
    summary = InviteRoom(
        id=room.id, name=room.name, description=room.description, member_count=room.member_count
    )
    return InvitePreview(room=summary, expires_at=invite.expires_at)


async def accept_invite(svc: Services, user: User, token: str) -> Room:
    """Join through a link; a member accepting again changes nothing and uses nothing."""
    now = format_ts(utc_now())
    async with svc.db.write() as conn:
        invite = await invite_store.get_invite(conn, token)
        if invite is None:
            raise NotFound(INVITE_NOT_FOUND)
        if await room_store.get_role(conn, invite.room_id, user.id) is not None:
            joined = False
        else:
            if not await invite_store.use_invite(conn, token, now):
                raise Gone("this invite has expired or been used up")
            joined = await room_store.add_member(conn, invite.room_id, user.id, "member", now)
        room = await room_store.get_room(conn, invite.room_id, user.id)
    if room is None:
        raise NotFound(ROOM_NOT_FOUND)
    if joined:
        await publish_member_joined(svc, room.id, user)
    return room


async def revoke_invite(svc: Services, user: User, token: str) -> None:
    """Revoke a link (its creator, or the room's owner/admin)."""
    async with svc.db.write() as conn:
        invite = await invite_store.get_invite(conn, token)
        if invite is None:
            raise NotFound(INVITE_NOT_FOUND)
        try:  # a room the caller cannot see hides its invites too (API.md: no leaks)
            room = await visible_room(conn, invite.room_id, user.id)
        except NotFound:
            raise NotFound(INVITE_NOT_FOUND) from None
        if invite.created_by != user.id and room.my_role not in ("owner", "admin"):
            raise Forbidden("only its creator or the room's owner/admins may revoke an invite")
        await invite_store.revoke_invite(conn, token)


async def _usable_invite(conn: AsyncConnection, token: str) -> Invite:
    invite = await invite_store.get_invite(conn, token)
    if invite is None:
        raise NotFound(INVITE_NOT_FOUND)
    now = format_ts(utc_now())
    expired = invite.expires_at is not None and invite.expires_at <= now
    used_up = invite.max_uses is not None and invite.uses >= invite.max_uses
    if expired or used_up:
        raise Gone("this invite has expired or been used up")
    return invite
