"""One group-commit batch of posts: read the room heads, link each room's chain in order, write.

The SQL here runs on the post writer's own connection (the standard `sqlite3` module in the
writer thread, or asyncpg), not SQLAlchemy: see store/post_writer.py and docs/hash-chain.md.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.hashchain import message_hash
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.schemas import AiMeta, AuthorType, Message, Role, Room, UserPublic
from groupchat.store import messages as message_store
from groupchat.store import rooms as room_store

COLUMNS = (
    "id",
    "room_id",
    "author_type",
    "author_id",
    "content",
    "content_html",
    "image_url",
    "hash",
    "prev_hash",
    "created_at",
    "ai_meta",
)


@dataclass(frozen=True, slots=True)
class Posted:
    """What a post became: the stored message, or None when refused; the room as committed."""

    message: Message | None
    room: Room | None  # None: no such room (deleted before the batch committed)


@dataclass(frozen=True, slots=True)
class NewPost:
    """A message waiting to be stored. `member_id`: refused unless a member at commit time."""

    room_id: str
    author_type: AuthorType
    content: str
    content_html: str
    author: UserPublic | None = None
    image_url: str | None = None
    ai_meta: dict[str, Any] | None = None
    member_id: str | None = None
    announce: Callable[[Posted], None] | None = None  # after commit, in commit order


class HeadMoved(Exception):
    """Another writer moved a room's chain head between our read and our compare-and-set."""


@dataclass
class Linked:
    """A batch linked to its rooms' heads: rows to insert, heads to move, one result per post."""

    rows: list[tuple[Any, ...]]
    moves: list[tuple[str, str | None, str]]  # (room_id, old head, new head)
    results: list[Posted]


def link(
    posts: Sequence[NewPost],
    rooms: Mapping[str, Mapping[str, Any]],
    roles: Mapping[tuple[str, str], Role],
) -> Linked:
    """Give each accepted post an id, a time and a hash chained to its room's previous one."""
    heads = {room_id: (row["head_hash"], row["head_id"]) for room_id, row in rooms.items()}
    seen: dict[tuple[str, Role | None], Room] = {}
    rows: list[tuple[Any, ...]] = []
    results: list[Posted] = []
    for post in posts:
        row = rooms.get(post.room_id)
        role = roles.get((post.room_id, post.member_id)) if post.member_id else None
        room = None if row is None else seen.get((post.room_id, role))
        if row is not None and room is None:
            room = seen[(post.room_id, role)] = room_store.room_from_values(row, role)
        if row is None or (post.member_id is not None and role is None):
            results.append(Posted(None, room))
            continue
        prev_hash, floor = heads[post.room_id]
        message = _message(post, prev_hash, new_id(after=floor))
        heads[post.room_id] = (message.hash, None)  # our own later ids already sort after it
        rows.append(_row(post, message))
        results.append(Posted(message, room))
    moves = [
        (room_id, rooms[room_id]["head_hash"], head)
        for room_id, (head, _) in heads.items()
        if head != rooms[room_id]["head_hash"]
    ]
    return Linked(rows, moves, results)


def _message(post: NewPost, prev_hash: str | None, message_id: str) -> Message:
    created_at = format_ts(utc_now())
    digest = message_hash(
        message_id=message_id,
        room_id=post.room_id,
        author_type=post.author_type,
        author_id=post.author.id if post.author else None,
        content=post.content,
        image_url=post.image_url,
        created_at=created_at,
        prev_hash=prev_hash,
    )
    return Message(
        id=message_id,
        room_id=post.room_id,
        author_type=post.author_type,
        author=post.author,
        content=post.content,
        content_html=post.content_html,
        image_url=post.image_url,
        hash=digest,
        prev_hash=prev_hash,
        created_at=created_at,
        ai=AiMeta.model_validate(post.ai_meta) if post.ai_meta else None,
    )


def _row(post: NewPost, message: Message) -> tuple[Any, ...]:
    return (
        message.id,
        message.room_id,
        message.author_type,
        message.author.id if message.author else None,
        message.content,
        message.content_html,
        message.image_url,
        message.hash,
        message.prev_hash,
        message.created_at,
        json.dumps(post.ai_meta) if post.ai_meta is not None else None,
    )


def _pairs(posts: Iterable[NewPost]) -> tuple[list[str], list[str]]:
    """The batch's room ids, and the ids of the posters whose membership must be checked."""
    room_ids = sorted({post.room_id for post in posts})
    member_ids = sorted({post.member_id for post in posts if post.member_id is not None})
    return room_ids, member_ids


# --- SQLite, through the standard sqlite3 module (the writer thread's connection)

_SQLITE_ROOMS = (
    "SELECT r.*, m.id AS head_id,"
    " (SELECT count(*) FROM room_members x WHERE x.room_id = r.id) AS member_count"
    " FROM rooms r LEFT JOIN messages m ON m.hash = r.head_hash WHERE r.id IN ({})"
)
_SQLITE_ROLES = (
    "SELECT room_id, user_id, role FROM room_members WHERE room_id IN ({}) AND user_id IN ({})"
)
_SQLITE_INSERT = (
    "INSERT INTO messages (id, room_id, author_type, author_id, content, content_html,"
    " image_url, hash, prev_hash, created_at, ai_meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_MOVE = "UPDATE rooms SET head_hash = ? WHERE id = ? AND head_hash IS ?"


def write_sqlite(conn: sqlite3.Connection, posts: Sequence[NewPost]) -> list[Posted]:
    """Store a batch in one transaction (BEGIN IMMEDIATE: the database's one writer)."""
    room_ids, member_ids = _pairs(posts)
    conn.execute("BEGIN IMMEDIATE")
    try:
        marks = ", ".join("?" * len(room_ids))
        cursor = conn.execute(_SQLITE_ROOMS.format(marks), room_ids)
        names = [col[0] for col in cursor.description]
        rooms = {row[0]: dict(zip(names, row, strict=True)) for row in cursor}
        roles: dict[tuple[str, str], Role] = {}
        if member_ids and rooms:
            sql = _SQLITE_ROLES.format(marks, ", ".join("?" * len(member_ids)))
            roles = {(r, u): role for r, u, role in conn.execute(sql, room_ids + member_ids)}
        linked = link(posts, rooms, roles)
        conn.executemany(_SQLITE_INSERT, linked.rows)
        moved = conn.executemany(_SQLITE_MOVE, [(new, rid, old) for rid, old, new in linked.moves])
        if moved.rowcount != len(linked.moves):
            raise HeadMoved
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return linked.results


# --- PostgreSQL, through asyncpg (rooms locked in id order, so two processes cannot deadlock)

# Locking one table only: a row another transaction updated meanwhile is re-read after the
# wait (READ COMMITTED), which a join's other side would not be. The heads' ids come next.
_PG_ROOMS = (
    "SELECT r.*, (SELECT count(*) FROM room_members x WHERE x.room_id = r.id) AS member_count"
    " FROM rooms r WHERE r.id = ANY($1::varchar[]) ORDER BY r.id FOR NO KEY UPDATE"
)
_PG_HEAD_IDS = "SELECT hash, id FROM messages WHERE hash = ANY($1::varchar[])"
_PG_ROLES = (
    "SELECT room_id, user_id, role FROM room_members"
    " WHERE room_id = ANY($1::varchar[]) AND user_id = ANY($2::varchar[]) FOR KEY SHARE"
)
_PG_INSERT = (  # one statement for the whole batch: a column of values per parameter
    "INSERT INTO messages (id, room_id, author_type, author_id, content, content_html,"
    " image_url, hash, prev_hash, created_at, ai_meta)"
    " SELECT id, room_id, author_type, author_id, content, content_html,"
    " image_url, hash, prev_hash, created_at, ai_meta::json"
    " FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::text[],"
    " $6::text[], $7::varchar[], $8::varchar[], $9::varchar[], $10::varchar[], $11::text[])"
    " AS t(id, room_id, author_type, author_id, content, content_html,"
    " image_url, hash, prev_hash, created_at, ai_meta)"
)
_PG_MOVE = (
    "UPDATE rooms SET head_hash = v.new"
    " FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS v(id, old, new)"
    " WHERE rooms.id = v.id AND rooms.head_hash IS NOT DISTINCT FROM v.old"
)


async def write_pg(conn: Any, posts: Sequence[NewPost]) -> list[Posted]:
    """Store a batch in one transaction: five statements whatever the batch's size."""
    room_ids, member_ids = _pairs(posts)
    async with conn.transaction():
        rooms = {row["id"]: dict(row) for row in await conn.fetch(_PG_ROOMS, room_ids)}
        heads = [row["head_hash"] for row in rooms.values() if row["head_hash"] is not None]
        head_ids = dict(await conn.fetch(_PG_HEAD_IDS, heads)) if heads else {}
        for row in rooms.values():
            row["head_id"] = head_ids.get(row["head_hash"])
        roles: dict[tuple[str, str], Role] = {}
        if member_ids and rooms:
            found = await conn.fetch(_PG_ROLES, room_ids, member_ids)
            roles = {(row["room_id"], row["user_id"]): row["role"] for row in found}
        linked = link(posts, rooms, roles)
        if linked.rows:
            await conn.execute(_PG_INSERT, *(list(col) for col in zip(*linked.rows, strict=True)))
        if linked.moves:
            moves = [list(col) for col in zip(*linked.moves, strict=True)]
            status = await conn.execute(_PG_MOVE, *moves)
            if int(status.rsplit(" ", 1)[1]) != len(linked.moves):
                raise HeadMoved
    return linked.results


# --- One post in the caller's SQLAlchemy transaction (the AI's answers; GROUP_COMMIT=false)


async def append_one(conn: AsyncConnection, post: NewPost) -> Message:
    """Link one post to its room's head with a compare-and-set (retried) and insert it."""
    for _ in range(20):
        prev_hash, floor = await room_store.get_head_and_id(conn, post.room_id)
        message = _message(post, prev_hash, new_id(after=floor))
        if await room_store.move_head(conn, post.room_id, prev_hash, message.hash):
            break
    else:  # pragma: no cover - only under extreme multi-process contention
        raise HeadMoved
    values = dict(zip(COLUMNS, _row(post, message), strict=True))
    await message_store.insert_message(conn, **{**values, "ai_meta": post.ai_meta})
    return message
