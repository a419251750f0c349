"""Rooms and their members."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db import point_reads
from groupchat.db.engine import Database
from groupchat.db.point_reads import PointReader
from groupchat.db.tables import chain_entries, messages, room_members, rooms, users
from groupchat.schemas import Member, Role, Room
from groupchat.store.users import PUBLIC_COLUMNS, to_public

_member_count = (
    sa.select(sa.func.count())
    .where(room_members.c.room_id == rooms.c.id)
    .correlate(rooms)
    .scalar_subquery()
    .label("member_count")
)

ROOM_FIELDS = ("name", "description", "is_public", "ai_mode", "ai_model", "ai_system_prompt")


def storable(value: str) -> bool:
    """False for a string no row can hold (PostgreSQL text refuses NUL): it names nothing."""
    return "\x00" not in value


def _room_query(user_id: str | None) -> sa.Select[Any]:
    my_role = (
        sa.select(room_members.c.role)
        .where(room_members.c.room_id == rooms.c.id, room_members.c.user_id == user_id)
        .correlate(rooms)
        .scalar_subquery()
        .label("my_role")
    )
    return sa.select(*rooms.c, _member_count, my_role)


def _to_room(row: Any) -> Room:
    return Room(
        id=row.id,
        name=row.name,
        description=row.description,
        is_public=bool(row.is_public),
        ai_mode=row.ai_mode,
        ai_model=row.ai_model,
        ai_system_prompt=row.ai_system_prompt,
        ai_budget_usd=row.ai_budget_usd,
        created_by=row.created_by,
        created_at=row.created_at,
        member_count=row.member_count,
        my_role=row.my_role,
    )


async def insert_room(
    conn: AsyncConnection, *, room_id: str, created_by: str, **values: Any
) -> None:
    await conn.execute(rooms.insert().values(id=room_id, created_by=created_by, **values))


async def get_room(conn: AsyncConnection, room_id: str, user_id: str | None) -> Room | None:
    """The room with the caller's role (None role for non-members)."""
    if not storable(room_id):
        return None
    row = (await conn.execute(_room_query(user_id).where(rooms.c.id == room_id))).first()
    return _to_room(row) if row else None


async def list_rooms(conn: AsyncConnection, user_id: str, *, public: bool) -> list[Room]:
    """The caller's rooms, or every public room; newest first."""
    query = _room_query(user_id)
    if public:
        query = query.where(rooms.c.is_public.is_(True))
    else:
        mine = sa.select(room_members.c.room_id).where(room_members.c.user_id == user_id)
        query = query.where(rooms.c.id.in_(mine))
    rows = (await conn.execute(query.order_by(rooms.c.id.desc()))).all()
    return [_to_room(row) for row in rows]


async def update_room(conn: AsyncConnection, room_id: str, **values: Any) -> None:
    await conn.execute(rooms.update().where(rooms.c.id == room_id).values(**values))


async def delete_room(conn: AsyncConnection, room_id: str) -> None:
    await conn.execute(rooms.delete().where(rooms.c.id == room_id))


_ROLE = sa.select(room_members.c.role).where(
    room_members.c.room_id == sa.bindparam("room_id"),
    room_members.c.user_id == sa.bindparam("user_id"),
)


async def get_role(conn: AsyncConnection, room_id: str, user_id: str) -> Role | None:
    """The user's role in the room (None: not a member, or no such room)."""
    if not (storable(room_id) and storable(user_id)):
        return None
    params = {"room_id": room_id, "user_id": user_id}
    return (await conn.execute(_ROLE, params)).scalar_one_or_none()


async def read_role(
    db: Database, reader: PointReader | None, room_id: str, user_id: str
) -> Role | None:
    """get_role outside a transaction: one point read (db/point_reads.py), for the checks of
    WebSocket frames (join, typing, cancel), which read nothing else."""
    if not (storable(room_id) and storable(user_id)):
        return None
    rows = await point_reads.fetch(db, reader, _ROLE, {"room_id": room_id, "user_id": user_id})
    return rows[0].role if rows else None


async def add_member(
    conn: AsyncConnection, room_id: str, user_id: str, role: Role, joined_at: str
) -> bool:
    """Add a member; False if already one (nothing changes then)."""
    if await get_role(conn, room_id, user_id) is not None:
        return False
    newest = sa.select(sa.func.max(messages.c.id)).where(messages.c.room_id == room_id)
    await conn.execute(
        room_members.insert().values(  # earlier history is not unread (API.md v2)
            room_id=room_id,
            user_id=user_id,
            role=role,
            joined_at=joined_at,
            last_read_id=newest.scalar_subquery(),
        )
    )
    return True


async def set_role(conn: AsyncConnection, room_id: str, user_id: str, role: Role) -> None:
    await conn.execute(
        room_members.update()
        .where(room_members.c.room_id == room_id, room_members.c.user_id == user_id)
        .values(role=role)
    )


async def remove_member(conn: AsyncConnection, room_id: str, user_id: str) -> None:
    await conn.execute(
        room_members.delete().where(
            room_members.c.room_id == room_id, room_members.c.user_id == user_id
        )
    )


def _members_query(room_id: str) -> sa.Select[Any]:
    return (
        sa.select(*PUBLIC_COLUMNS, room_members.c.role, room_members.c.joined_at)
        .join(room_members, room_members.c.user_id == users.c.id)
        .where(room_members.c.room_id == room_id)
    )


def _to_member(row: Any) -> Member:
    return Member(user=to_public(row), role=row.role, joined_at=row.joined_at)


async def list_members(conn: AsyncConnection, room_id: str) -> list[Member]:
    """Members, owner first, then admins, then by join time."""
    order = sa.case({"owner": 0, "admin": 1}, value=room_members.c.role, else_=2)
    query = _members_query(room_id).order_by(order, room_members.c.joined_at, users.c.id)
    return [_to_member(row) for row in (await conn.execute(query)).all()]


async def get_member(conn: AsyncConnection, room_id: str, user_id: str) -> Member | None:
    query = _members_query(room_id).where(room_members.c.user_id == user_id)
    row = (await conn.execute(query)).first()
    return _to_member(row) if row else None


async def member_ids(conn: AsyncConnection, room_id: str) -> list[str]:
    query = sa.select(room_members.c.user_id).where(room_members.c.room_id == room_id)
    return list((await conn.execute(query)).scalars())


async def get_head(conn: AsyncConnection, room_id: str) -> str | None:
    query = sa.select(rooms.c.head_hash).where(rooms.c.id == room_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def get_head_and_id(conn: AsyncConnection, room_id: str) -> tuple[str | None, str | None]:
    """The chain head's hash and its entry's id (new ids must sort after it), or Nones.

    The head is a message, or an edit or delete entry."""
    query = (
        sa.select(rooms.c.head_hash, sa.func.coalesce(messages.c.id, chain_entries.c.id))
        .select_from(
            rooms.outerjoin(messages, messages.c.hash == rooms.c.head_hash).outerjoin(
                chain_entries, chain_entries.c.hash == rooms.c.head_hash
            )
        )
        .where(rooms.c.id == room_id)
    )
    row = (await conn.execute(query)).first()
    return (row[0], row[1]) if row else (None, None)


def room_from_values(values: Mapping[str, Any], my_role: Role | None) -> Room:
    """A Room from a rooms row plus `member_count` (read by the post writer's own SQL). The
    same values give the same (shared, never changed) Room: one per room per batch added up."""
    return _room_of(*(values[name] for name in _ROOM_VALUES), my_role)


_ROOM_VALUES = (
    "id",
    "name",
    "description",
    "is_public",
    "ai_mode",
    "ai_model",
    "ai_system_prompt",
    "ai_budget_usd",
    "created_by",
    "created_at",
    "member_count",
)


@functools.lru_cache(maxsize=4096)
def _room_of(*values: Any) -> Room:
    return _to_room(SimpleNamespace(**dict(zip((*_ROOM_VALUES, "my_role"), values, strict=True))))


async def move_head(conn: AsyncConnection, room_id: str, old: str | None, new: str | None) -> bool:
    """Compare-and-set the chain head; False if another writer moved it first."""
    current = rooms.c.head_hash.is_(None) if old is None else rooms.c.head_hash == old
    result = await conn.execute(
        rooms.update().where(rooms.c.id == room_id, current).values(head_hash=new)
    )
    return result.rowcount == 1
