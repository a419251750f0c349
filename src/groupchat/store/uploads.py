"""Stored files: who uploaded what, and which chat images a room alone still shows."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import messages, uploads, users

CHAT_IMAGE_PREFIX = "/uploads/chat-images/"  # the URL of a stored chat image, then its name


def chat_image_name(image_url: str | None) -> str | None:
    """The stored file a message's image_url names, or None for any other URL."""
    if image_url is None or not image_url.startswith(CHAT_IMAGE_PREFIX):
        return None
    return image_url.removeprefix(CHAT_IMAGE_PREFIX)


async def insert_upload(
    conn: AsyncConnection, *, name: str, kind: str, user_id: str, size: int, created_at: str
) -> None:
    await conn.execute(
        uploads.insert().values(
            name=name, kind=kind, user_id=user_id, size=size, created_at=created_at
        )
    )


async def bytes_used(conn: AsyncConnection, user_id: str) -> int:
    """Bytes of every file the user has stored and that still exists."""
    query = sa.select(sa.func.coalesce(sa.func.sum(uploads.c.size), 0)).where(
        uploads.c.user_id == user_id
    )
    return int((await conn.execute(query)).scalar_one())


async def room_image_names(conn: AsyncConnection, room_id: str) -> set[str]:
    """File names of the chat images the room's messages show."""
    query = (
        sa.select(messages.c.image_url)
        .where(messages.c.room_id == room_id, messages.c.image_url.is_not(None))
        .distinct()
    )
    names = (chat_image_name(url) for url in (await conn.execute(query)).scalars())
    return {name for name in names if name is not None}


async def unreferenced_images(conn: AsyncConnection, names: set[str]) -> set[str]:
    """Those of `names` that no message shows any more (a deleted message keeps its image_url,
    which its chain entry hashes, but shows nothing)."""
    if not names:
        return set()
    urls = [CHAT_IMAGE_PREFIX + name for name in sorted(names)]
    shows = messages.c.image_url.in_(urls) & messages.c.deleted_at.is_(None)
    query = sa.select(messages.c.image_url).where(shows).distinct()
    shown = {url.removeprefix(CHAT_IMAGE_PREFIX) for url in (await conn.execute(query)).scalars()}
    return names - shown


async def delete_uploads(conn: AsyncConnection, kind: str, names: set[str]) -> None:
    if names:
        await conn.execute(
            uploads.delete().where(uploads.c.kind == kind, uploads.c.name.in_(sorted(names)))
        )


async def old_avatars(conn: AsyncConnection, user_id: str) -> set[str]:
    """The user's stored avatars other than the one the profile shows."""
    current = sa.select(users.c.avatar_url).where(users.c.id == user_id).scalar_subquery()
    query = sa.select(uploads.c.name).where(
        uploads.c.user_id == user_id,
        uploads.c.kind == "avatars",
        sa.or_(current.is_(None), ("/uploads/avatars/" + uploads.c.name) != current),
    )
    return set((await conn.execute(query)).scalars())
