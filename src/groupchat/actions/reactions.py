"""Reactions: one emoji per reaction, at most MAX_EMOJIS distinct per message; not chain entries."""

from __future__ import annotations

import emoji as emoji_data

from groupchat import events
from groupchat.actions.message_edits import readable
from groupchat.errors import Forbidden, Invalid
from groupchat.realtime.bus import Event
from groupchat.schemas import User
from groupchat.services import Services
from groupchat.store import reactions as reaction_store

MAX_EMOJIS = 20  # distinct emojis on one message (API.md)


def check_emoji(value: str) -> str:
    """Exactly one emoji (a ZWJ sequence, a flag or a skin tone counts as one), else 422."""
    if not emoji_data.is_emoji(value):
        raise Invalid("emoji must be exactly one emoji")
    return value


async def add_reaction(svc: Services, user: User, message_id: str, emoji: str) -> None:
    """A member's reaction (again: nothing changes); broadcast as `reaction_added`."""
    emoji = check_emoji(emoji)
    async with svc.db.write() as conn:
        message, room = await readable(conn, user, message_id)
        if room.my_role is None:
            raise Forbidden("join the room first")
        present = await reaction_store.emojis(conn, message_id)
        if emoji not in present and len(present) >= MAX_EMOJIS:
            raise Invalid(f"a message has at most {MAX_EMOJIS} different reactions")
        added = await reaction_store.add(conn, message_id, user.id, emoji)
    if added:
        frame = events.reaction("added", room.id, message.id, emoji, user.id)
        await svc.publish(Event(frame, room_id=room.id))


async def remove_reaction(svc: Services, user: User, message_id: str, emoji: str) -> None:
    """Remove the caller's own reaction (nothing to remove: nothing happens)."""
    emoji = check_emoji(emoji)
    async with svc.db.write() as conn:
        message, room = await readable(conn, user, message_id)
        removed = await reaction_store.remove(conn, message_id, user.id, emoji)
    if removed:
        frame = events.reaction("removed", room.id, message.id, emoji, user.id)
        await svc.publish(Event(frame, room_id=room.id))
