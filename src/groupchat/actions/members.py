"""Membership: leave, remove, change roles. Leaving, removal and demotion revoke the invites
the member created for the room (store/invites.py also refuses them at use time)."""

from __future__ import annotations

from groupchat import events
from groupchat.actions.access import owned_room, visible_room
from groupchat.errors import Conflict, Forbidden, NotFound
from groupchat.realtime.bus import Event
from groupchat.schemas import Member, Role, User
from groupchat.services import Services
from groupchat.store import invites as invite_store
from groupchat.store import rooms as room_store

_RANK: dict[Role | None, int] = {"owner": 3, "admin": 2, "member": 1, None: 0}


async def remove_member(svc: Services, user: User, room_id: str, target_id: str) -> None:
    """Leave (yourself) or remove someone (owner: anyone; admin: members only)."""
    async with svc.db.write() as conn:
        room = await visible_room(conn, room_id, user.id)
        target_role = await room_store.get_role(conn, room_id, target_id)
        if target_id == user.id:
            if room.my_role is None:
                raise NotFound("you are not a member of this room")
            if room.my_role == "owner":
                raise Conflict("the owner cannot leave; delete the room instead")
        else:
            if room.my_role not in ("owner", "admin"):
                raise Forbidden("only the room's owner or admins may remove members")
            if target_role is None:
                raise NotFound("no such member")
            if _RANK[target_role] >= _RANK[room.my_role]:
                raise Forbidden("you may not remove that member")
        await room_store.remove_member(conn, room_id, target_id)
        await invite_store.revoke_invites_by(conn, room_id, target_id)
    frame = events.member_left(room_id, target_id)
    await svc.publish(
        Event(frame=frame, room_id=room_id, user_ids=(target_id,), unjoin_user_ids=(target_id,))
    )


async def set_role(svc: Services, user: User, room_id: str, target_id: str, role: Role) -> Member:
    """Make a member an admin or a plain member again (owner only)."""
    async with svc.db.write() as conn:
        await owned_room(conn, room_id, user.id)
        current = await room_store.get_role(conn, room_id, target_id)
        if current is None:
            raise NotFound("no such member")
        if current == "owner":
            raise Conflict("the owner's role cannot change")
        await room_store.set_role(conn, room_id, target_id, role)
        if _RANK[role] < _RANK[current]:  # a demoted admin's links go with the right to make them
            await invite_store.revoke_invites_by(conn, room_id, target_id)
        member = await room_store.get_member(conn, room_id, target_id)
        room = await room_store.get_room(conn, room_id, None)
    assert member is not None and room is not None
    await svc.publish(Event(frame=events.room_updated(room), room_id=room_id))
    return member
