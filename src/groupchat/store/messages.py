"""Messages and the per-room hash chain."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import messages, users
from groupchat.schemas import AiMeta, Message, UserPublic
from groupchat.store.users import PUBLIC_COLUMNS

_author = users.alias("author")
_author_columns = [
    c.label(f"a_{c.name}") for c in _author.c if c.name in {col.name for col in PUBLIC_COLUMNS}
]
_select = sa.select(*messages.c, *_author_columns).select_from(
    messages.outerjoin(_author, _author.c.id == messages.c.author_id)
)


def _to_message(row: Any) -> Message:
    author = None
    if row.a_id is not None:
        author = UserPublic(
            id=row.a_id,
            username=row.a_username,
            display_name=row.a_display_name,
            avatar_url=row.a_avatar_url,
            nostr_pubkey=row.a_nostr_pubkey,
        )
    return Message(
        id=row.id,
        room_id=row.room_id,
        author_type=row.author_type,
        author=author,
        content=row.content,
        content_html=row.content_html,
        image_url=row.image_url,
        hash=row.hash,
        prev_hash=row.prev_hash,
        created_at=row.created_at,
        ai=AiMeta.model_validate(row.ai_meta) if row.ai_meta else None,
    )


async def insert_message(conn: AsyncConnection, **values: Any) -> None:
    """Insert one message row (the caller has computed its hash and moved the chain head)."""
    await conn.execute(messages.insert().values(**values))


async def find_by_hash(conn: AsyncConnection, message_hash: str) -> Message | None:
    row = (await conn.execute(_select.where(messages.c.hash == message_hash))).first()
    return _to_message(row) if row else None


async def list_page(
    conn: AsyncConnection,
    room_id: str,
    *,
    limit: int,
    before: str | None = None,
    after: str | None = None,
) -> tuple[list[Message], bool]:
    """One page, oldest first, and whether more lie beyond it in the paging direction."""
    query = _select.where(messages.c.room_id == room_id)
    if after is not None:
        query = query.where(messages.c.id > after).order_by(messages.c.id.asc())
    else:
        if before is not None:
            query = query.where(messages.c.id < before)
        query = query.order_by(messages.c.id.desc())
    rows = (await conn.execute(query.limit(limit + 1))).all()
    has_more = len(rows) > limit
    page = [_to_message(row) for row in rows[:limit]]
    if after is None:
        page.reverse()
    return page, has_more


async def recent(conn: AsyncConnection, room_id: str, limit: int) -> list[Message]:
    """The newest `limit` messages, oldest first."""
    page, _ = await list_page(conn, room_id, limit=limit)
    return page


async def message_room(conn: AsyncConnection, message_id: str) -> str | None:
    query = sa.select(messages.c.room_id).where(messages.c.id == message_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def delete_room_messages(conn: AsyncConnection, room_id: str) -> None:
    await conn.execute(messages.delete().where(messages.c.room_id == room_id))


async def chain_rows(conn: AsyncConnection, room_id: str) -> list[Any]:
    """Every message of a room in order, raw (for chain verification)."""
    query = messages.select().where(messages.c.room_id == room_id).order_by(messages.c.id)
    return list((await conn.execute(query)).all())
