"""Chain entries (v2): one per message, edit and deletion of a room, in chain order (id order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat import hashchain
from groupchat.db.tables import chain_entries, messages
from groupchat.schemas import ChainEntry

Kind = Literal["message", "edit", "delete"]
ENTRY_COLUMNS = (
    "id",
    "room_id",
    "v",
    "kind",
    "author_type",
    "author_id",
    "target_id",
    "reply_to",
    "image_url",
    "content",
    "salt",
    "content_sha256",
    "created_at",
    "hash",
    "prev_hash",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored chain entry, fields in ENTRY_COLUMNS order."""

    id: str
    room_id: str
    v: int
    kind: Kind
    author_type: str
    author_id: str | None
    target_id: str | None
    reply_to: str | None
    image_url: str | None
    content: str | None
    salt: str | None
    content_sha256: str | None
    created_at: str
    hash: str
    prev_hash: str | None

    def row(self) -> tuple[Any, ...]:
        # not dataclasses.astuple: it deep-copies every value (this runs once per post)
        return tuple(getattr(self, name) for name in ENTRY_COLUMNS)


def make_entry(
    *,
    entry_id: str,
    room_id: str,
    kind: Kind,
    author_type: str,
    author_id: str | None,
    target_id: str | None,
    reply_to: str | None,
    image_url: str | None,
    content: str | None,
    salt: str | None,
    created_at: str,
    prev_hash: str | None,
) -> Entry:
    """A v2 entry with its content digest and hash computed (docs/hash-chain.md)."""
    digest = None
    if content is not None and salt is not None:
        digest = hashchain.content_sha256(salt, content)
    entry_hash = hashchain.entry_hash(
        entry_id=entry_id,
        room_id=room_id,
        kind=kind,
        author_type=author_type,
        author_id=author_id,
        target_id=target_id,
        reply_to=reply_to,
        image_url=image_url,
        content_sha256=digest,
        created_at=created_at,
        prev_hash=prev_hash,
    )
    return Entry(
        entry_id, room_id, 2, kind, author_type, author_id, target_id, reply_to, image_url,
        content, salt, digest, created_at, entry_hash, prev_hash,
    )  # fmt: skip


async def insert_entry(conn: AsyncConnection, entry: Entry) -> None:
    await conn.execute(
        chain_entries.insert().values(dict(zip(ENTRY_COLUMNS, entry.row(), strict=True)))
    )


def _message_entries() -> sa.Select[Any]:
    """Messages as their own chain entries: the text and salt their entry covers (the first
    version's, once edited), none once deleted; v1 messages have no salt."""
    m = messages.c
    alive = m.deleted_at.is_(None)
    return sa.select(
        m.id, m.room_id, m.chain_v.label("v"), sa.literal("message").label("kind"),
        m.author_type, m.author_id, sa.null().label("target_id"), m.reply_to, m.image_url,
        sa.case((alive, sa.func.coalesce(m.first_content, m.content))).label("content"),
        sa.case((m.chain_v == 2, sa.func.coalesce(m.first_salt, m.salt))).label("salt"),
        m.content_sha256, m.created_at, m.hash, m.prev_hash,
    )  # fmt: skip


async def page(
    conn: AsyncConnection, room_id: str, *, after: str | None, limit: int
) -> tuple[list[ChainEntry], bool]:
    """Entries of a room in chain order from the oldest (or the first after `after`)."""
    parts = []
    for query, table in ((_message_entries(), messages), (chain_entries.select(), chain_entries)):
        query = query.where(table.c.room_id == room_id)
        parts.append(query if after is None else query.where(table.c.id > after))
    both = sa.union_all(*parts).subquery()
    query = sa.select(both).order_by(both.c.id).limit(limit + 1)
    rows = (await conn.execute(query)).all()
    return [_entry(row._asdict()) for row in rows[:limit]], len(rows) > limit


def _entry(values: dict[str, Any]) -> ChainEntry:
    """A v2 message's content_sha256 is stored only once deletion erased its text."""
    if values["v"] == 2 and values["content_sha256"] is None and values["salt"] is not None:
        values["content_sha256"] = hashchain.content_sha256(values["salt"], values["content"])
    return ChainEntry.model_validate(values)


async def versions(conn: AsyncConnection, message_id: str) -> list[tuple[str, str]]:
    """(content, created_at) of a message's first version and of its edits, oldest first."""
    m = messages.c
    first = sa.select(sa.func.coalesce(m.first_content, m.content), m.created_at)
    found = list((await conn.execute(first.where(m.id == message_id))).all())
    edits = (
        sa.select(chain_entries.c.content, chain_entries.c.created_at)
        .where(chain_entries.c.target_id == message_id, chain_entries.c.kind == "edit")
        .order_by(chain_entries.c.id)
    )
    found += list((await conn.execute(edits)).all())
    return [(content or "", at) for content, at in found]


async def delete_room_entries(conn: AsyncConnection, room_id: str) -> None:
    await conn.execute(chain_entries.delete().where(chain_entries.c.room_id == room_id))
