"""One message: read it, edit it, read its versions, delete it (edits and deletes are chain
entries, stored through the post writer so they take their place in the room's chain)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat import events
from groupchat.actions.access import visible_room
from groupchat.actions.messages import check_text, find_mentions, take_posting_budget
from groupchat.actions.uploads import delete_room_images
from groupchat.errors import ROOM_NOT_FOUND, Forbidden, Gone, NotFound
from groupchat.ids import parse_ts, utc_now
from groupchat.realtime.bus import Event
from groupchat.rendering import render_markdown
from groupchat.schemas import Message, MessageHistory, MessageVersion, Room, User, public
from groupchat.services import Services
from groupchat.store import chain as chain_store
from groupchat.store import messages as message_store
from groupchat.store import rooms as room_store
from groupchat.store.post_batch import NewPost, Posted
from groupchat.store.uploads import chat_image_name

MESSAGE_NOT_FOUND = "message not found"
DELETED = "the message was deleted"


async def readable(conn: AsyncConnection, user: User, message_id: str) -> tuple[Message, Room]:
    """The message and its room if the caller can see the room (else 404); 410 once deleted."""
    found = await message_store.get_message(conn, message_id)
    if found is None:
        raise NotFound(MESSAGE_NOT_FOUND)
    message, deleted = found
    try:
        room = await visible_room(conn, message.room_id, user.id)
    except NotFound:
        raise NotFound(MESSAGE_NOT_FOUND) from None
    if deleted:
        raise Gone(DELETED)
    return message, room


async def get_message(svc: Services, user: User, message_id: str) -> Message:
    async with svc.db.read() as conn:
        message, _ = await readable(conn, user, message_id)
    return message


async def history(svc: Services, user: User, message_id: str) -> MessageHistory:
    """Every version, the original first; each rendered as the message was."""
    async with svc.db.read() as conn:
        await readable(conn, user, message_id)
        found = await chain_store.versions(conn, message_id)
    versions = [
        MessageVersion(content=content, content_html=render_markdown(content), at=at)
        for content, at in found
    ]
    return MessageHistory(versions=versions)


async def edit_message(svc: Services, user: User, message_id: str, content: str) -> Message:
    """The author's new text, as an edit entry; broadcast as `message_updated`."""
    take_posting_budget(svc, user)  # each edit is a chain entry: no flooding the chain
    async with svc.db.read() as conn:
        message, room = await readable(conn, user, message_id)
        if message.author_type != "user" or message.author is None or message.author.id != user.id:
            raise Forbidden("only its author may edit a message")
        if room.my_role is None:
            raise Forbidden("join the room first")
        _check_edit_window(svc, message)
        content = check_text(svc, content, has_image=message.image_url is not None)
        mentions = await find_mentions(conn, room.id, content)

    def announce(posted: Posted) -> None:
        frame = events.message_updated(posted.message)  # type: ignore[arg-type]
        svc.publish_soon(Event(frame, room_id=room.id, chain=posted.chain))  # live order

    post = NewPost(
        room.id,
        "user",
        content,
        render_markdown(content),
        author=public(user),
        member_id=user.id,
        announce=announce,
        kind="edit",
        target=message,
        mentions=mentions,
    )
    return await _submit(svc, post)  # an edit never wakes the AI


async def delete_message(svc: Services, user: User, message_id: str) -> None:
    """Erase a message (author, owner, or an admin within their rights); a delete entry."""
    async with svc.db.read() as conn:
        message, room = await readable(conn, user, message_id)
        if room.my_role is None:
            raise Forbidden("join the room first")
        if not await _may_delete(conn, user, room, message):
            raise Forbidden("you may not delete this message")

    def announce(posted: Posted) -> None:
        frame = events.message_deleted(room.id, message.id)
        svc.publish_soon(Event(frame, room_id=room.id, chain=posted.chain))

    post = NewPost(
        room.id,
        "user",
        "",
        "",
        author=public(user),
        member_id=user.id,
        announce=announce,
        kind="delete",
        target=message,
    )
    await _submit(svc, post)
    image = chat_image_name(message.image_url)
    if image is not None:
        await delete_room_images(svc, {image})


async def _may_delete(conn: AsyncConnection, user: User, room: Room, message: Message) -> bool:
    """Its author; the owner any; an admin any but the owner's and other admins'."""
    if message.author is not None and message.author.id == user.id:
        return True
    if room.my_role == "owner":
        return True
    if room.my_role != "admin":
        return False
    if message.author is None:  # the AI's and system messages
        return True
    author = await room_store.get_member(conn, room.id, message.author.id)
    return author is None or author.role == "member"


def _check_edit_window(svc: Services, message: Message) -> None:
    seconds = svc.settings.message_edit_seconds
    if seconds and utc_now() - parse_ts(message.created_at) > timedelta(seconds=seconds):
        raise Forbidden(f"messages can be edited for {seconds} seconds after posting")


async def _submit(svc: Services, post: NewPost) -> Message:
    """Store an edit or delete entry; why not, when refused at commit time."""
    posted = await svc.posts.submit(post)
    if posted.message is not None:
        return posted.message
    if posted.room is None:
        raise NotFound(ROOM_NOT_FOUND)
    if posted.room.my_role is None:
        raise Forbidden("join the room first")
    raise Gone(DELETED)
