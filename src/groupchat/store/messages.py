"""Messages and the per-room hash chain."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db import point_reads
from groupchat.db.engine import Database
from groupchat.db.point_reads import PointReader
from groupchat.db.tables import chain_entries, message_reactions, messages, room_members, users
from groupchat.schemas import AiMeta, Message, ReplyRef, UserPublic
from groupchat.store import reactions as reaction_store
from groupchat.store.users import PUBLIC_COLUMNS

EXCERPT_CHARS = 140  # API.md ReplyRef.excerpt
_public = {col.name for col in PUBLIC_COLUMNS}
_author = users.alias("author")
_replied = messages.alias("replied")
_replied_author = users.alias("replied_author")
_author_columns = [c.label(f"a_{c.name}") for c in _author.c if c.name in _public]
_reply_columns = [
    _replied.c.author_type.label("r_author_type"),
    _replied.c.content.label("r_content"),
    _replied.c.deleted_at.label("r_deleted_at"),
    *[c.label(f"ra_{c.name}") for c in _replied_author.c if c.name in _public],
]
_select = sa.select(*messages.c, *_author_columns, *_reply_columns).select_from(
    messages.outerjoin(_author, _author.c.id == messages.c.author_id)
    .outerjoin(_replied, _replied.c.id == messages.c.reply_to)
    .outerjoin(_replied_author, _replied_author.c.id == _replied.c.author_id)
)


def _user(row: Any, prefix: str) -> UserPublic | None:
    if getattr(row, f"{prefix}id") is None:
        return None
    return UserPublic(**{name: getattr(row, f"{prefix}{name}") for name in UserPublic.model_fields})


def _reply(row: Any) -> ReplyRef | None:
    if row.reply_to is None:
        return None
    deleted = row.r_deleted_at is not None or row.r_author_type is None
    return ReplyRef(
        id=row.reply_to,
        author_type=row.r_author_type or "system",
        author=_user(row, "ra_"),
        excerpt="" if deleted else (row.r_content or "")[:EXCERPT_CHARS],
        deleted=deleted,
    )


def _to_message(row: Any) -> Message:
    return Message(
        id=row.id,
        room_id=row.room_id,
        author_type=row.author_type,
        author=_user(row, "a_"),
        content=row.content,
        content_html=row.content_html,
        image_url=row.image_url,
        hash=row.hash,
        prev_hash=row.prev_hash,
        created_at=row.created_at,
        ai=AiMeta.model_validate(row.ai_meta) if row.ai_meta else None,
        edited_at=row.edited_at,
        reply_to=_reply(row),
        mentions=list(row.mentions or []),
        reactions=[],
        chain_v=row.chain_v,
        salt=row.salt,
    )


async def _with_reactions(conn: AsyncConnection, rows: Sequence[Any]) -> list[Message]:
    found = [_to_message(row) for row in rows]
    reactions = await reaction_store.for_messages(conn, [m.id for m in found])
    for message in found:
        message.reactions = reactions.get(message.id, [])
    return found


async def insert_message(conn: AsyncConnection, **values: Any) -> None:
    """Insert one message row (the caller has computed its hash and moved the chain head)."""
    await conn.execute(messages.insert().values(**values))


async def find_by_hash(conn: AsyncConnection, message_hash: str) -> tuple[Message, bool] | None:
    """The message with this hash, and whether it was deleted."""
    row = (await conn.execute(_select.where(messages.c.hash == message_hash))).first()
    return (
        None
        if row is None
        else ((await _with_reactions(conn, [row]))[0], row.deleted_at is not None)
    )


async def get_message(conn: AsyncConnection, message_id: str) -> tuple[Message, bool] | None:
    """A message by id, and whether it was deleted."""
    row = (await conn.execute(_select.where(messages.c.id == message_id))).first()
    return (
        None
        if row is None
        else ((await _with_reactions(conn, [row]))[0], row.deleted_at is not None)
    )


async def by_ids(conn: AsyncConnection, message_ids: Sequence[str]) -> dict[str, Message]:
    """id -> message (with its reactions) for those ids."""
    if not message_ids:
        return {}
    rows = (await conn.execute(_select.where(messages.c.id.in_(sorted(message_ids))))).all()
    return {message.id: message for message in await _with_reactions(conn, rows)}


_REPLY_REF = (
    sa.select(messages.c.id, messages.c.author_type, messages.c.content, *_author_columns)
    .select_from(messages.outerjoin(_author, _author.c.id == messages.c.author_id))
    .where(
        messages.c.id == sa.bindparam("id"),
        messages.c.room_id == sa.bindparam("room_id"),
        messages.c.deleted_at.is_(None),
    )
)


async def read_reply_ref(
    db: Database, reader: PointReader | None, message_id: str, room_id: str
) -> ReplyRef | None:
    """What a reply to this message shows, if it is a message of that room not deleted: one
    point read (db/point_reads.py)."""
    params = {"id": message_id, "room_id": room_id}
    rows = await point_reads.fetch(db, reader, _REPLY_REF, params)
    if not rows:
        return None
    row = rows[0]
    return ReplyRef(
        id=row.id,
        author_type=row.author_type,
        author=_user(row, "a_"),
        excerpt=row.content[:EXCERPT_CHARS],
        deleted=False,
    )


async def list_page(
    conn: AsyncConnection,
    room_id: str,
    *,
    limit: int,
    before: str | None = None,
    after: str | None = None,
    reactions: bool = True,
) -> tuple[list[Message], bool]:
    """One page of messages not deleted, oldest first, and whether more lie beyond it."""
    query = _select.where(messages.c.room_id == room_id, messages.c.deleted_at.is_(None))
    if after is not None:
        query = query.where(messages.c.id > after).order_by(messages.c.id.asc())
    else:
        if before is not None:
            query = query.where(messages.c.id < before)
        query = query.order_by(messages.c.id.desc())
    rows = (await conn.execute(query.limit(limit + 1))).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    page = await _with_reactions(conn, rows) if reactions else [_to_message(r) for r in rows]
    if after is None:
        page.reverse()
    return page, has_more


async def recent(conn: AsyncConnection, room_id: str, limit: int) -> list[Message]:
    """The newest `limit` messages not deleted, oldest first, as they read now (the AI's view)."""
    page, _ = await list_page(conn, room_id, limit=limit, reactions=False)
    return page


async def message_room(conn: AsyncConnection, message_id: str) -> str | None:
    query = sa.select(messages.c.room_id).where(messages.c.id == message_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def alive_targets(conn: AsyncConnection, message_ids: Sequence[str]) -> list[Any]:
    """(id, room id, chain_v, first text, first salt) of those messages not deleted."""
    m = messages.c
    query = sa.select(
        m.id,
        m.room_id,
        m.chain_v,
        sa.func.coalesce(m.first_content, m.content),
        sa.func.coalesce(m.first_salt, m.salt),
    ).where(m.id.in_(message_ids), m.deleted_at.is_(None))
    return list((await conn.execute(query)).all())


async def edit(
    conn: AsyncConnection,
    message_id: str,
    content: str,
    content_html: str,
    edited_at: str,
    salt: str | None,
    mentions: Sequence[str],
) -> None:
    """The message's current version (its edit entry is written by the caller)."""
    values = {"content": content, "content_html": content_html, "edited_at": edited_at}
    first = {  # the first edit keeps what the message's own entry covers (SET reads old values)
        "first_content": sa.func.coalesce(messages.c.first_content, messages.c.content),
        "first_salt": sa.func.coalesce(messages.c.first_salt, messages.c.salt),
    }
    query = messages.update().where(messages.c.id == message_id)
    await conn.execute(query.values(**first, **values, salt=salt, mentions=list(mentions) or None))


async def erase(
    conn: AsyncConnection, message_id: str, deleted_at: str, digest: str | None
) -> None:
    """Erase a deleted message's text, salt, edit history and reactions; its entries stay
    (`digest`: its own entry's content_sha256, kept from now on)."""
    erased = {"content": "", "content_html": "", "salt": None, "mentions": None}
    erased |= {"first_content": None, "first_salt": None, "content_sha256": digest}
    await conn.execute(
        messages.update().where(messages.c.id == message_id).values(**erased, deleted_at=deleted_at)
    )
    await conn.execute(
        chain_entries.update()
        .where(chain_entries.c.target_id == message_id)
        .values(content=None, salt=None)
    )
    await conn.execute(
        message_reactions.delete().where(message_reactions.c.message_id == message_id)
    )


async def delete_room_messages(conn: AsyncConnection, room_id: str) -> None:
    """A clear: every message, chain entry and reaction of the room."""
    room_messages = sa.select(messages.c.id).where(messages.c.room_id == room_id)
    await conn.execute(
        message_reactions.delete().where(message_reactions.c.message_id.in_(room_messages))
    )
    await conn.execute(chain_entries.delete().where(chain_entries.c.room_id == room_id))
    await conn.execute(messages.delete().where(messages.c.room_id == room_id))


async def chain_rows(conn: AsyncConnection, room_id: str) -> list[Any]:
    """Every message of a room in order, raw (for chain verification)."""
    query = messages.select().where(messages.c.room_id == room_id).order_by(messages.c.id)
    return list((await conn.execute(query)).all())


def _members_named(sqlite: bool) -> sa.Select[Any]:
    """The room's members whose username_key is one of `names`: a JSON array on SQLite, an
    array on PostgreSQL. One parameter for any number of names, so the statement is the same
    for every post (the point readers compile each statement once)."""
    named: sa.ColumnElement[bool]
    if sqlite:
        listed: sa.Select[Any] = sa.select(sa.column("value"))
        listed = listed.select_from(sa.func.json_each(sa.bindparam("names")))
        named = users.c.username_key.in_(listed)
    else:
        named = users.c.username_key == sa.any_(sa.bindparam("names", type_=ARRAY(sa.String)))
    return (
        sa.select(users.c.username_key, users.c.id)
        .join(room_members, room_members.c.user_id == users.c.id)
        .where(room_members.c.room_id == sa.bindparam("room_id"), named)
    )


_MEMBERS_NAMED = {sqlite: _members_named(sqlite) for sqlite in (True, False)}


def _named_params(sqlite: bool, room_id: str, names: set[str]) -> dict[str, Any]:
    ordered = sorted(names)
    return {"room_id": room_id, "names": json.dumps(ordered) if sqlite else ordered}


async def members_named(conn: AsyncConnection, room_id: str, names: set[str]) -> dict[str, str]:
    """username_key -> id of the room's members with one of these (lower-cased) names, in the
    caller's transaction."""
    if not names:
        return {}
    sqlite = conn.dialect.name == "sqlite"
    rows = await conn.execute(_MEMBERS_NAMED[sqlite], _named_params(sqlite, room_id, names))
    return {row.username_key: row.id for row in rows}


async def read_members_named(
    db: Database, reader: PointReader | None, room_id: str, names: set[str]
) -> dict[str, str]:
    """members_named outside a transaction: one point read."""
    if not names:
        return {}
    params = _named_params(db.is_sqlite, room_id, names)
    rows = await point_reads.fetch(db, reader, _MEMBERS_NAMED[db.is_sqlite], params)
    return {row.username_key: row.id for row in rows}
