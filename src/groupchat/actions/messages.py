"""Messages: post (stored, chained, then broadcast), page through, look up by hash."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat import events
from groupchat.actions.access import member_room, strict_member_room, visible_room
from groupchat.actions.uploads import STORED_NAME
from groupchat.errors import BadRequest, Invalid, NotFound
from groupchat.hashchain import message_hash
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.realtime.bus import Event
from groupchat.rendering import render_markdown
from groupchat.schemas import (
    AiMeta,
    AuthorType,
    Message,
    MessagePage,
    Room,
    User,
    UserPublic,
    public,
)
from groupchat.services import Services
from groupchat.store import messages as message_store
from groupchat.store import rooms as room_store

CHAT_IMAGE_PREFIX = "/uploads/chat-images/"


async def send_message(
    svc: Services,
    user: User,
    room_id: str,
    content: str,
    image_url: str | None = None,
    client_id: str | None = None,
    *,
    strict: bool = False,
) -> Message:
    """Store a member's message, broadcast it, then let the AI decide whether to answer."""
    content = _check_content(svc, content, image_url)
    async with svc.db.write() as conn:
        find_room = strict_member_room if strict else member_room
        room = await find_room(conn, room_id, user.id)
        message = await append_message(
            conn, room_id, "user", content, author=public(user), image_url=image_url
        )
    extra = {"client_id": client_id} if client_id is not None else {}
    await svc.publish(
        Event(
            frame=events.new_message(message),
            room_id=room_id,
            sender_id=user.id,
            sender_extra=extra,
        )
    )
    svc.ai.on_message(room, message)
    return message


async def post_system_message(svc: Services, room: Room, content: str) -> Message:
    """A message from the server itself (e.g. 'the AI is not configured')."""
    async with svc.db.write() as conn:
        message = await append_message(conn, room.id, "system", content)
    await svc.publish(Event(frame=events.new_message(message), room_id=room.id))
    return message


async def append_message(
    conn: AsyncConnection,
    room_id: str,
    author_type: AuthorType,
    content: str,
    *,
    author: UserPublic | None = None,
    image_url: str | None = None,
    ai_meta: dict[str, Any] | None = None,
) -> Message:
    """Insert a message linked to the room's chain head (compare-and-set, retried)."""
    author_id = author.id if author else None
    content_html = render_markdown(content)
    for _ in range(20):
        prev_hash = await room_store.get_head(conn, room_id)
        message_id, created_at = new_id(), format_ts(utc_now())
        digest = message_hash(
            message_id=message_id,
            room_id=room_id,
            author_type=author_type,
            author_id=author_id,
            content=content,
            image_url=image_url,
            created_at=created_at,
            prev_hash=prev_hash,
        )
        if await room_store.move_head(conn, room_id, prev_hash, digest):
            break
    else:  # pragma: no cover - only under extreme multi-process contention
        raise BadRequest("the room is too busy; try again")
    await message_store.insert_message(
        conn,
        id=message_id,
        room_id=room_id,
        author_type=author_type,
        author_id=author_id,
        content=content,
        content_html=content_html,
        image_url=image_url,
        hash=digest,
        prev_hash=prev_hash,
        created_at=created_at,
        ai_meta=ai_meta,
    )
    return Message(  # what was just written: no need to read it back
        id=message_id,
        room_id=room_id,
        author_type=author_type,
        author=author,
        content=content,
        content_html=content_html,
        image_url=image_url,
        hash=digest,
        prev_hash=prev_hash,
        created_at=created_at,
        ai=AiMeta.model_validate(ai_meta) if ai_meta else None,
    )


def _check_content(svc: Services, content: str, image_url: str | None) -> str:
    content = content.strip()
    limit = svc.settings.max_message_chars
    if len(content) > limit:
        raise Invalid(f"content is longer than {limit} characters")
    if image_url is not None and not _is_stored_chat_image(svc, image_url):
        raise Invalid("image_url must be a URL returned by /api/upload")
    if not content and image_url is None:
        raise Invalid("content must not be empty")
    return content


def _is_stored_chat_image(svc: Services, image_url: str) -> bool:
    name = image_url.removeprefix(CHAT_IMAGE_PREFIX)
    if name == image_url or not STORED_NAME.fullmatch(name):
        return False
    return (svc.upload_dir / "chat-images" / name).is_file()


async def list_messages(
    svc: Services, user: User, room_id: str, *, limit: int, before: str | None, after: str | None
) -> MessagePage:
    """A page of a room the caller can see."""
    if before is not None and after is not None:
        raise Invalid("give either before or after, not both")
    async with svc.db.read() as conn:
        await visible_room(conn, room_id, user.id)
        page, has_more = await message_store.list_page(
            conn, room_id, limit=limit, before=before, after=after
        )
    return MessagePage(messages=page, has_more=has_more)


async def find_message_by_hash(svc: Services, user: User, digest: str) -> Message:
    """A message by its hash, if the caller can see its room."""
    async with svc.db.read() as conn:
        message = await message_store.find_by_hash(conn, digest.lower())
        if message is None:
            raise NotFound("message not found")
        try:
            await visible_room(conn, message.room_id, user.id)
        except NotFound:
            raise NotFound("message not found") from None
    return message
