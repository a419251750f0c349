"""Messages: post (stored by the post writer, chained, then broadcast), page, look up by hash."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat import events
from groupchat import mentions as mention_rules
from groupchat.actions.access import visible_room
from groupchat.actions.uploads import STORED_NAME
from groupchat.errors import (
    ROOM_NOT_FOUND,
    AppError,
    BadRequest,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    RateLimited,
)
from groupchat.realtime.bus import Event
from groupchat.rendering import render_markdown
from groupchat.schemas import (
    AuthorType,
    Message,
    MessagePage,
    ReplyRef,
    Room,
    User,
    UserPublic,
    public,
)
from groupchat.services import Services
from groupchat.store import messages as message_store
from groupchat.store import post_batch
from groupchat.store import rooms as room_store
from groupchat.store.post_batch import HeadMoved, NewPost, Posted
from groupchat.store.uploads import chat_image_name


async def send_message(
    svc: Services,
    user: User,
    room_id: str,
    content: str,
    image_url: str | None = None,
    client_id: str | None = None,
    *,
    strict: bool = False,
    reply_to: str | None = None,
) -> Message:
    """Store a member's message, broadcast it, then let the AI decide whether to answer."""
    content = _check_post(svc, user, room_id, content, image_url)
    reply: ReplyRef | None = None
    mentions: tuple[str, ...] = ()
    if needs_lookup(content, reply_to):  # most posts need none
        reply, mentions = await _reply_and_mentions(svc, room_id, content, reply_to)
    post = _user_post(svc, user, room_id, content, image_url, client_id, reply, mentions)
    return accepted(svc, await svc.posts.submit(post), strict=strict)


def queue_message(
    svc: Services,
    user: User,
    room_id: str,
    content: str,
    image_url: str | None,
    client_id: str | None,
) -> Awaitable[Posted]:
    """send_message's first half without a task, for a WebSocket frame with nothing to look up
    (no reply_to, no "@": see needs_lookup): the message checked and queued for the post
    writer. What it resolves to goes to `accepted`."""
    content = _check_post(svc, user, room_id, content, image_url)
    return svc.posts.submit(_user_post(svc, user, room_id, content, image_url, client_id))


def needs_lookup(content: str, reply_to: str | None) -> bool:
    """Whether a message needs a database read before it is queued: the message it answers,
    or the members it may mention."""
    return reply_to is not None or "@" in content


def accepted(svc: Services, posted: Posted, *, strict: bool) -> Message:
    """send_message's second half, once the writer answered: the stored message (the AI told),
    or why it was refused."""
    if posted.message is None or posted.room is None:
        raise _refusal(posted.room, strict=strict)
    svc.metrics.message_stored("user")
    svc.ai.on_message(posted.room, posted.message)
    return posted.message


def _check_post(
    svc: Services, user: User, room_id: str, content: str, image_url: str | None
) -> str:
    """The trimmed content, once it, the image and the room id pass and the user's posting
    budget has room for it."""
    content = _check_content(svc, content, image_url)
    take_posting_budget(svc, user)
    if not room_store.storable(room_id):
        raise NotFound(ROOM_NOT_FOUND)
    return content


def _user_post(
    svc: Services,
    user: User,
    room_id: str,
    content: str,
    image_url: str | None,
    client_id: str | None,
    reply: ReplyRef | None = None,
    mentions: tuple[str, ...] = (),
) -> NewPost:
    extra = {"client_id": client_id} if client_id is not None else {}

    def announce(posted: Posted) -> None:  # after commit, in commit order
        frame = events.new_message(posted.message)  # type: ignore[arg-type]
        svc.publish_soon(Event(frame, room_id=room_id, sender_id=user.id, sender_extra=extra))

    return NewPost(
        room_id,
        "user",
        content,
        render_markdown(content),
        author=public(user),
        image_url=image_url,
        member_id=user.id,  # checked again in the transaction that stores the post
        announce=announce,
        reply=reply,
        mentions=mentions,
    )


async def post_system_message(svc: Services, room: Room, content: str) -> Message:
    """A message from the server itself (e.g. 'the AI is not configured')."""

    def announce(posted: Posted) -> None:
        frame = events.new_message(posted.message)  # type: ignore[arg-type]
        svc.publish_soon(Event(frame=frame, room_id=room.id))

    post = NewPost(room.id, "system", content, render_markdown(content), announce=announce)
    posted = await svc.posts.submit(post)
    if posted.message is None:
        raise NotFound(ROOM_NOT_FOUND)
    svc.metrics.message_stored("system")
    return posted.message


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
    """Insert a message in the caller's transaction, linked to the room's chain head."""
    post = NewPost(
        room_id,
        author_type,
        content,
        render_markdown(content),
        author=author,
        image_url=image_url,
        ai_meta=ai_meta,
        mentions=await find_mentions(conn, room_id, content),
    )
    try:
        return await post_batch.append_one(conn, post)
    except HeadMoved:  # pragma: no cover - only under extreme multi-process contention
        raise BadRequest("the room is too busy; try again") from None


async def _reply_and_mentions(
    svc: Services, room_id: str, content: str, reply_to: str | None
) -> tuple[ReplyRef | None, tuple[str, ...]]:
    """The replied message (422 unless a message of this room, not deleted) and the mentions:
    a point read each, made together (db/point_reads.py)."""
    names = mention_rules.candidates(content)
    reply_read = None
    if reply_to is not None:
        reply_read = message_store.read_reply_ref(svc.db, svc.reads, reply_to, room_id)
    members_read = message_store.read_members_named(svc.db, svc.reads, room_id, names)
    if reply_read is None:
        return None, tuple(mention_rules.resolve(content, await members_read))
    reply, members = await asyncio.gather(reply_read, members_read)
    if reply is None:
        raise Invalid("reply_to must be a message of this room that is not deleted")
    return reply, tuple(mention_rules.resolve(content, members))


async def find_mentions(conn: AsyncConnection, room_id: str, content: str) -> tuple[str, ...]:
    """Ids of the room's members that `content` mentions."""
    names = mention_rules.candidates(content)
    members = await message_store.members_named(conn, room_id, names)
    return tuple(mention_rules.resolve(content, members))


def take_posting_budget(svc: Services, user: User) -> None:
    """One post from the user's budget, REST and WebSocket together (API.md "Posting rate")."""
    if svc.posting is None:
        return
    wait = svc.posting.retry_after(user.id)
    if wait is not None:
        raise RateLimited("you are posting too fast; slow down", retry_after=wait)


def _refusal(room: Room | None, *, strict: bool) -> AppError:
    """Why a post was not stored: 404 unless the room is public (then: join it first)."""
    if room is None or strict or not room.is_public:
        return NotFound(ROOM_NOT_FOUND)
    return Forbidden("join the room first")


def _check_content(svc: Services, content: str, image_url: str | None) -> str:
    if image_url is not None and not _is_stored_chat_image(svc, image_url):
        raise Invalid("image_url must be a URL returned by /api/upload")
    return check_text(svc, content, has_image=image_url is not None)


def check_text(svc: Services, content: str, *, has_image: bool) -> str:
    """The trimmed content, within the length limit; empty only beside an image."""
    content = content.strip()
    limit = svc.settings.max_message_chars
    if len(content) > limit:
        raise Invalid(f"content is longer than {limit} characters")
    if not content and not has_image:
        raise Invalid("content must not be empty")
    return content


def _is_stored_chat_image(svc: Services, image_url: str) -> bool:
    name = chat_image_name(image_url)
    if name is None or not STORED_NAME.fullmatch(name):
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
        found = await message_store.find_by_hash(conn, digest.lower())
        if found is None:
            raise NotFound("message not found")
        try:
            await visible_room(conn, found[0].room_id, user.id)
        except NotFound:
            raise NotFound("message not found") from None
    if found[1]:
        raise Gone("the message was deleted")
    return found[0]
