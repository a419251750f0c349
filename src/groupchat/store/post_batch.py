"""One group-commit batch of posts: read the room heads, link each room's chain in order, write.

The SQL here runs on the post writer's own connection (the standard `sqlite3` module in the
writer thread, or asyncpg), not SQLAlchemy: see store/post_writer.py and docs/hash-chain.md.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat import hashchain
from groupchat.ids import new_id, now_ts
from groupchat.schemas import AiMeta, AuthorType, Message, ReplyRef, Role, Room, UserPublic
from groupchat.store import chain as chain_store
from groupchat.store import messages as message_store
from groupchat.store import read_markers
from groupchat.store import rooms as room_store
from groupchat.store.chain import ENTRY_COLUMNS, Entry, Kind

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
    "chain_v",
    "salt",
    "reply_to",
    "mentions",
)


@dataclass(frozen=True, slots=True)
class Posted:
    """What a post became: the stored message, or None when refused; the room as committed."""

    message: Message | None
    room: Room | None  # None: no such room (deleted before the batch committed)
    chain: tuple[str | None, str] | None = None  # an edit's or delete's entry: (prev_hash, hash)


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
    # v2: an edit or delete entry names the message it changes (as the action read it)
    kind: Kind = "message"
    target: Message | None = None
    reply: ReplyRef | None = None
    mentions: tuple[str, ...] = ()


class HeadMoved(Exception):
    """Another writer moved a room's chain head between our read and our compare-and-set."""


class TargetGone(Exception):
    """The message an edit or delete names was deleted meanwhile."""


@dataclass
class Linked:
    """A batch linked to its rooms' heads: rows to write, heads to move, one result per post."""

    rows: list[tuple[Any, ...]]  # new messages
    moves: list[tuple[str, str | None, str]]  # (room_id, old head, new head)
    results: list[Posted]
    entries: list[tuple[Any, ...]] = field(default_factory=list)  # edit and delete entries
    edits: list[tuple[Any, ...]] = field(default_factory=list)  # see EDIT_PARAMS
    deletes: list[tuple[str, str | None, str]] = field(default_factory=list)  # see _ERASE
    heads: dict[str, tuple[str, str]] = field(default_factory=dict)  # moved: room -> (hash, id)


def link(
    posts: Sequence[NewPost],
    rooms: Mapping[str, Mapping[str, Any]],
    roles: Mapping[tuple[str, str], Role],
    alive: Mapping[str, tuple[str, str | None]] | None = None,
) -> Linked:
    """Give each accepted post an id, a time and a hash chained to its room's previous entry.

    `alive`: the edit/delete targets not deleted yet, id -> (room id, their own entry's
    content_sha256, see first_digests)."""
    heads = {room_id: (row["head_hash"], row["head_id"]) for room_id, row in rooms.items()}
    targets = dict(alive or {})
    seen: dict[tuple[str, Role | None], Room] = {}
    linked = Linked([], [], [])
    for post in posts:
        row = rooms.get(post.room_id)
        role = roles.get((post.room_id, post.member_id)) if post.member_id else None
        room = None if row is None else seen.get((post.room_id, role))
        if row is not None and room is None:
            room = seen[(post.room_id, role)] = room_store.room_from_values(row, role)
        refused = post.kind != "message" and not _live(post, targets)
        if row is None or (post.member_id is not None and role is None) or refused:
            linked.results.append(Posted(None, room))
            continue
        prev_hash, floor = heads[post.room_id]
        entry = _entry(post, prev_hash, new_id(after=floor))
        message = _apply(post, entry, linked, targets)
        heads[post.room_id] = (entry.hash, entry.id)
        chain = None if post.kind == "message" else (entry.prev_hash, entry.hash)
        linked.results.append(Posted(message, room, chain))
    linked.heads = {
        room_id: (head, head_id)
        for room_id, (head, head_id) in heads.items()
        if head != rooms[room_id]["head_hash"] and head is not None and head_id is not None
    }
    linked.moves = [
        (room_id, rooms[room_id]["head_hash"], head) for room_id, (head, _) in linked.heads.items()
    ]
    return linked


def _live(post: NewPost, targets: Mapping[str, tuple[str, str | None]]) -> bool:
    """An edit or delete needs its message in this room, not deleted (even earlier in the batch)."""
    return post.kind == "message" or (
        post.target is not None and targets.get(post.target.id, ("",))[0] == post.room_id
    )


def _entry(post: NewPost, prev_hash: str | None, entry_id: str) -> Entry:
    """The v2 chain entry of a post (a message entry's id is the message's id)."""
    target_id = post.target.id if post.target is not None else None
    salt = None if post.kind == "delete" else hashchain.new_salt()
    return chain_store.make_entry(
        entry_id=entry_id,
        room_id=post.room_id,
        kind=post.kind,
        author_type=post.author_type,
        author_id=post.author.id if post.author else None,
        target_id=target_id,
        reply_to=post.reply.id if post.reply is not None and post.kind == "message" else None,
        image_url=post.image_url if post.kind == "message" else None,
        content=None if post.kind == "delete" else post.content,
        salt=salt,
        created_at=now_ts(),
        prev_hash=prev_hash,
    )


def _apply(
    post: NewPost, entry: Entry, linked: Linked, targets: dict[str, tuple[str, str | None]]
) -> Message:
    """Queue the writes of one entry; the message as it is once they are committed.

    A message entry is the message's own row; edits and deletions are chain_entries rows."""
    if post.kind == "message":
        message = _message(post, entry)
        linked.rows.append(_row(post, message))
        return message
    linked.entries.append(entry.row())
    assert post.target is not None
    if post.kind == "delete":
        _, digest = targets.pop(post.target.id)
        linked.deletes.append((entry.created_at, digest, post.target.id))
        return post.target
    mentions = list(post.mentions)
    linked.edits.append(
        (
            post.content,
            post.content_html,
            entry.created_at,
            entry.salt,
            _json(mentions),
            post.target.id,
        )
    )
    changes = {
        "content": post.content,
        "content_html": post.content_html,
        "edited_at": entry.created_at,
        "salt": entry.salt,
        "mentions": mentions,
    }
    return post.target.model_copy(update=changes)


def _json(values: list[str]) -> str | None:
    return json.dumps(values) if values else None


def _message(post: NewPost, entry: Entry) -> Message:
    return Message(
        id=entry.id,
        room_id=post.room_id,
        author_type=post.author_type,
        author=post.author,
        content=post.content,
        content_html=post.content_html,
        image_url=post.image_url,
        hash=entry.hash,
        prev_hash=entry.prev_hash,
        created_at=entry.created_at,
        ai=AiMeta.model_validate(post.ai_meta) if post.ai_meta else None,
        edited_at=None,
        reply_to=post.reply,
        mentions=list(post.mentions),
        reactions=[],
        chain_v=2,
        salt=entry.salt,
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
        2,
        message.salt,
        message.reply_to.id if message.reply_to is not None else None,
        _json(message.mentions),
    )


def first_digests(rows: Iterable[Sequence[Any]]) -> dict[str, tuple[str, str | None]]:
    """id -> (room id, content_sha256 of the message's own entry) from _ALIVE's rows. The
    digest is stored only when a deletion erases the text it is computed from (so a post
    writes no more than it must); v1 messages have none."""
    found: dict[str, tuple[str, str | None]] = {}
    for message_id, room_id, chain_v, content, salt in rows:
        digest = hashchain.content_sha256(salt, content) if chain_v == 2 and salt else None
        found[message_id] = (room_id, digest)
    return found


def _sent(linked: Linked) -> list[tuple[str, str, str]]:
    """Each sender's newest new message per room: their read marker moves to it (API.md v2)."""
    return read_markers.sent((row[0], row[1], row[3]) for row in linked.rows if row[2] == "user")


def _target_ids(posts: Iterable[NewPost]) -> list[str]:
    return sorted({post.target.id for post in posts if post.target is not None})


def _pairs(posts: Iterable[NewPost]) -> tuple[list[str], list[str]]:
    """The batch's room ids, and the ids of the posters whose membership must be checked."""
    room_ids = sorted({post.room_id for post in posts})
    member_ids = sorted({post.member_id for post in posts if post.member_id is not None})
    return room_ids, member_ids


# The writes every backend makes for a linked batch, besides inserting messages and entries.
_EDIT = (  # parameters: content, content_html, edited_at, salt, mentions, id. The first edit
    # keeps the text and salt the message's own entry covers (SET reads the old values).
    "UPDATE messages SET first_content = COALESCE(first_content, content),"
    " first_salt = COALESCE(first_salt, salt), content = {0}, content_html = {1},"
    " edited_at = {2}, salt = {3}, mentions = {4} WHERE id = {5}"
)
_ERASE = (  # a deletion erases the text everywhere it is stored, and the reactions;
    # parameters: deleted_at, the message entry's content_sha256 (kept), id
    "UPDATE messages SET content = '', content_html = '', salt = NULL, first_content = NULL,"
    " first_salt = NULL, mentions = NULL, deleted_at = {0}, content_sha256 = {1} WHERE id = {2}",
    "UPDATE chain_entries SET content = NULL, salt = NULL WHERE target_id = {0}",
    "DELETE FROM message_reactions WHERE message_id = {0}",
)
_ALIVE = (
    "SELECT id, room_id, chain_v, coalesce(first_content, content), coalesce(first_salt, salt)"
    " FROM messages WHERE id IN ({}) AND deleted_at IS NULL"
)

# --- SQLite, through the standard sqlite3 module (the writer thread's connection)

_SQLITE_ROOMS = (  # the head is a message, or an edit or delete entry
    "SELECT r.*, coalesce(m.id, e.id) AS head_id,"
    " (SELECT count(*) FROM room_members x WHERE x.room_id = r.id) AS member_count"
    " FROM rooms r LEFT JOIN messages m ON m.hash = r.head_hash"
    " LEFT JOIN chain_entries e ON e.hash = r.head_hash WHERE r.id IN ({})"
)
_SQLITE_ROLES = (
    "SELECT room_id, user_id, role FROM room_members WHERE room_id IN ({}) AND user_id IN ({})"
)
_SQLITE_INSERT = (
    "INSERT INTO messages (id, room_id, author_type, author_id, content, content_html,"
    " image_url, hash, prev_hash, created_at, ai_meta, chain_v, salt, reply_to, mentions)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ENTRY_INSERT = (
    "INSERT INTO chain_entries (id, room_id, v, kind, author_type, author_id, target_id,"
    " reply_to, image_url, content, salt, content_sha256, created_at, hash, prev_hash)"
)
_SQLITE_ENTRY = _ENTRY_INSERT + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SQLITE_EDIT = _EDIT.format(*"??????")
_SQLITE_ERASE = (_ERASE[0].format(*"???"), _ERASE[1].format("?"), _ERASE[2].format("?"))
_SQLITE_MOVE = "UPDATE rooms SET head_hash = ? WHERE id = ? AND head_hash IS ?"


class KnownRooms:
    """The rooms and posters' roles the SQLite writer read, kept while no other connection
    commits (`PRAGMA data_version` tells, inside the batch's transaction): then a post to a
    room it wrote to before reads nothing before its insert. Heads it moves itself are updated
    after each commit; anything else, or a failed batch, forgets everything."""

    LIMIT = 10_000  # rooms (and roles) kept at most; then it starts again

    def __init__(self) -> None:
        self.version: int | None = None
        self.rooms: dict[str, dict[str, Any]] = {}
        self.roles: dict[tuple[str, str], Role] = {}

    def forget(self) -> None:
        self.version = None
        self.rooms.clear()
        self.roles.clear()

    def read(
        self, conn: sqlite3.Connection, room_ids: list[str], pairs: set[tuple[str, str]]
    ) -> dict[str, dict[str, Any]]:
        """The batch's rooms (within its transaction), read from the database if not known."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self.version or len(self.rooms) + len(self.roles) > self.LIMIT:
            self.forget()
            self.version = version
        missing = [room_id for room_id in room_ids if room_id not in self.rooms]
        if missing:
            cursor = conn.execute(_SQLITE_ROOMS.format(", ".join("?" * len(missing))), missing)
            names = [col[0] for col in cursor.description]
            self.rooms.update((row[0], dict(zip(names, row, strict=True))) for row in cursor)
        unknown = [(r, u) for r, u in pairs if (r, u) not in self.roles and r in self.rooms]
        if unknown:  # a poster who is not a member is looked up again at each post
            rooms, users = sorted({r for r, _ in unknown}), sorted({u for _, u in unknown})
            sql = _SQLITE_ROLES.format(", ".join("?" * len(rooms)), ", ".join("?" * len(users)))
            self.roles.update(((r, u), role) for r, u, role in conn.execute(sql, rooms + users))
        return {room_id: self.rooms[room_id] for room_id in room_ids if room_id in self.rooms}

    def moved(self, heads: Mapping[str, tuple[str, str]]) -> None:
        """This writer committed these heads: room -> (hash, id)."""
        for room_id, (head_hash, head_id) in heads.items():
            row = self.rooms.get(room_id)
            if row is not None:
                row["head_hash"], row["head_id"] = head_hash, head_id


def write_sqlite(
    conn: sqlite3.Connection, posts: Sequence[NewPost], known: KnownRooms | None = None
) -> list[Posted]:
    """Store a batch in one transaction (BEGIN IMMEDIATE: the database's one writer)."""
    known = KnownRooms() if known is None else known
    room_ids = sorted({post.room_id for post in posts})
    pairs = {(post.room_id, post.member_id) for post in posts if post.member_id is not None}
    target_ids = _target_ids(posts)
    conn.execute("BEGIN IMMEDIATE")
    try:
        rooms = known.read(conn, room_ids, pairs)
        alive = {}
        if target_ids:
            sql = _ALIVE.format(", ".join("?" * len(target_ids)))
            alive = first_digests(conn.execute(sql, target_ids).fetchall())
        linked = link(posts, rooms, known.roles, alive)
        conn.executemany(_SQLITE_INSERT, linked.rows)
        conn.executemany(read_markers.SQLITE_ADVANCE, [(*m, m[0]) for m in _sent(linked)])
        if linked.entries:
            conn.executemany(_SQLITE_ENTRY, linked.entries)
        _sqlite_changes(conn, linked)
        moved = conn.executemany(_SQLITE_MOVE, [(new, rid, old) for rid, old, new in linked.moves])
        if moved.rowcount != len(linked.moves):
            raise HeadMoved
        conn.execute("COMMIT")
    except BaseException:
        known.forget()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    known.moved(linked.heads)
    return linked.results


def _sqlite_changes(conn: sqlite3.Connection, linked: Linked) -> None:
    if linked.edits:
        conn.executemany(_SQLITE_EDIT, linked.edits)
    if linked.deletes:
        conn.executemany(_SQLITE_ERASE[0], linked.deletes)
        ids = [(message_id,) for _, _, message_id in linked.deletes]
        conn.executemany(_SQLITE_ERASE[1], ids)
        conn.executemany(_SQLITE_ERASE[2], ids)


# --- PostgreSQL, through asyncpg (rooms locked in id order, so two processes cannot deadlock)

# Each statement is a round trip on the event loop, and under load each round trip waits for a
# turn of the loop: four per batch (BEGIN, the rooms with the posters' roles, the writes,
# COMMIT). The rooms are locked in a CTE of their own: a row another transaction updated
# meanwhile is re-read after the wait (READ COMMITTED), which a join's other side would not
# be. So a head's id comes from what this writer committed last (the same hash: the same
# entry), or else from one more statement, made after the lock.
_PG_ROOMS = (  # parameters: room ids, poster ids; the posters' roles as two arrays
    "WITH locked AS (SELECT r.*,"
    " (SELECT count(*) FROM room_members x WHERE x.room_id = r.id) AS member_count"
    " FROM rooms r WHERE r.id = ANY($1::varchar[]) ORDER BY r.id FOR NO KEY UPDATE),"
    " roles AS (SELECT room_id, user_id, role FROM room_members"
    " WHERE room_id = ANY($1::varchar[]) AND user_id = ANY($2::varchar[]) FOR KEY SHARE)"
    " SELECT locked.*,"
    " ARRAY(SELECT user_id FROM roles WHERE roles.room_id = locked.id ORDER BY user_id)"
    " AS role_users,"
    " ARRAY(SELECT role FROM roles WHERE roles.room_id = locked.id ORDER BY user_id)"
    " AS role_names FROM locked"
)
_PG_HEAD_IDS = (
    "SELECT hash, id FROM messages WHERE hash = ANY($1::varchar[])"
    " UNION ALL SELECT hash, id FROM chain_entries WHERE hash = ANY($1::varchar[])"
)
_PG_ALIVE = _ALIVE.replace("IN ({})", "= ANY($1::varchar[])")
_PG_INSERT = (  # one statement for the whole batch: a column of values per parameter
    "INSERT INTO messages (id, room_id, author_type, author_id, content, content_html,"
    " image_url, hash, prev_hash, created_at, ai_meta, chain_v, salt, reply_to, mentions)"
    " SELECT id, room_id, author_type, author_id, content, content_html,"
    " image_url, hash, prev_hash, created_at, ai_meta::json, chain_v, salt, reply_to,"
    " mentions::json"
    " FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::text[],"
    " $6::text[], $7::varchar[], $8::varchar[], $9::varchar[], $10::varchar[], $11::text[],"
    " $12::int[], $13::varchar[], $14::varchar[], $15::text[])"
    " AS t(id, room_id, author_type, author_id, content, content_html, image_url, hash,"
    " prev_hash, created_at, ai_meta, chain_v, salt, reply_to, mentions)"
)
_PG_ENTRY = _ENTRY_INSERT + (  # noqa: S608 - constant text, no input
    " SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::int[], $4::varchar[],"
    " $5::varchar[], $6::varchar[], $7::varchar[], $8::varchar[], $9::varchar[], $10::text[],"
    " $11::varchar[], $12::varchar[], $13::varchar[], $14::varchar[], $15::varchar[])"
)
_PG_EDIT = _EDIT.format("$1", "$2", "$3", "$4", "$5::json", "$6")
_PG_ERASE = (_ERASE[0].format("$1", "$2", "$3"), _ERASE[1].format("$1"), _ERASE[2].format("$1"))


def _renumber(sql: str, by: int) -> str:
    """`sql` with each $n parameter as $(n + by), to join it to another statement."""
    return re.sub(r"\$(\d+)", lambda m: f"${int(m.group(1)) + by}", sql)


_PG_MOVE = (
    "UPDATE rooms SET head_hash = v.new"
    " FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS v(id, old, new)"
    " WHERE rooms.id = v.id AND rooms.head_hash IS NOT DISTINCT FROM v.old"
)


# New messages, read markers and head moves in one statement (15 + 3 + 3 parameters); the
# count of heads moved tells whether another writer moved one first.
_PG_WRITE = " ".join(
    (
        "WITH inserted AS (" + _PG_INSERT + "),",
        "advanced AS (" + _renumber(read_markers.PG_ADVANCE, 15) + "),",
        "moved AS (" + _renumber(_PG_MOVE, 18) + " RETURNING 1)",
        "SELECT count(*) FROM moved",
    )
)


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Column-wise values for unnest(): `width` lists, empty when there are no rows."""
    return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


async def write_pg(
    conn: Any, posts: Sequence[NewPost], known: dict[str, tuple[str, str]]
) -> list[Posted]:
    """Store a batch in one transaction: four round trips for posts, whatever the batch's size
    (more when it holds edits or deletions, or another writer moved a head). `known`: room ->
    (hash, id) of the heads this writer committed, brought up to date after the commit."""
    room_ids, member_ids = _pairs(posts)
    target_ids = _target_ids(posts)
    async with conn.transaction():
        rooms: dict[str, dict[str, Any]] = {}
        roles: dict[tuple[str, str], Role] = {}
        for found in await conn.fetch(_PG_ROOMS, room_ids, member_ids):
            row = dict(found)
            users, names = row.pop("role_users"), row.pop("role_names")
            roles.update(((row["id"], user), role) for user, role in zip(users, names, strict=True))
            rooms[row["id"]] = row
        for row in rooms.values():
            mine = known.get(row["id"])
            row["head_id"] = mine[1] if mine is not None and mine[0] == row["head_hash"] else None
        unknown = [r["head_hash"] for r in rooms.values() if r["head_hash"] and not r["head_id"]]
        if unknown:
            head_ids = dict(await conn.fetch(_PG_HEAD_IDS, unknown))
            for row in rooms.values():
                row["head_id"] = row["head_id"] or head_ids.get(row["head_hash"])
        alive = first_digests(await conn.fetch(_PG_ALIVE, target_ids)) if target_ids else {}
        linked = link(posts, rooms, roles, alive)
        if linked.entries:
            await conn.execute(_PG_ENTRY, *_columns(linked.entries, len(ENTRY_COLUMNS)))
        if linked.edits:
            await conn.executemany(_PG_EDIT, linked.edits)
        if linked.deletes:
            await conn.executemany(_PG_ERASE[0], linked.deletes)
            ids = [(message_id,) for _, _, message_id in linked.deletes]
            await conn.executemany(_PG_ERASE[1], ids)
            await conn.executemany(_PG_ERASE[2], ids)
        if linked.moves:  # every stored post moved its room's head
            moved = await conn.fetchval(
                _PG_WRITE,
                *_columns(linked.rows, len(COLUMNS)),
                *_columns(_sent(linked), 3),
                *_columns(linked.moves, 3),
            )
            if moved != len(linked.moves):
                raise HeadMoved
    known.update(linked.heads)
    return linked.results


# --- One post in the caller's SQLAlchemy transaction (the AI's answers; GROUP_COMMIT=false)


async def append_one(conn: AsyncConnection, post: NewPost) -> Message:
    """Link one post to its room's head with a compare-and-set (retried) and write it."""
    message, _ = await append_entry(conn, post)
    return message


async def append_entry(conn: AsyncConnection, post: NewPost) -> tuple[Message, Entry]:
    """append_one, and the entry it wrote.

    Raises TargetGone when an edit's or delete's message is deleted or elsewhere."""
    alive = {}
    if post.target is not None:
        alive = first_digests(await message_store.alive_targets(conn, [post.target.id]))
    if not _live(post, alive):
        raise TargetGone
    for _ in range(20):
        head, floor = await room_store.get_head_and_id(conn, post.room_id)
        linked = Linked([], [], [])
        entry = _entry(post, head, new_id(after=floor))
        message = _apply(post, entry, linked, dict(alive))
        if await room_store.move_head(conn, post.room_id, head, entry.hash):
            break
    else:  # pragma: no cover - only under extreme multi-process contention
        raise HeadMoved
    if linked.entries:
        await chain_store.insert_entry(conn, entry)
    if linked.rows:
        values = dict(zip(COLUMNS, linked.rows[0], strict=True))
        values.update(ai_meta=post.ai_meta, mentions=list(post.mentions) or None)
        await message_store.insert_message(conn, **values)
        for message_id, room_id, user_id in _sent(linked):
            await read_markers.advance(conn, room_id, user_id, message_id)
    for content, html, edited_at, salt, _, message_id in linked.edits:
        await message_store.edit(conn, message_id, content, html, edited_at, salt, post.mentions)
    for deleted_at, digest, message_id in linked.deletes:
        await message_store.erase(conn, message_id, deleted_at, digest)
    return message, entry
