"""The AI spending ledger: one row per answer that reached the provider; sums over time."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import ai_ledger, rooms, users
from groupchat.schemas import UsageByModel, UsageByRoom, UsageByUser, UsageDay
from groupchat.store.users import PUBLIC_COLUMNS, to_public

_answers = sa.func.count().label("answers")
_cost = sa.func.coalesce(sa.func.sum(ai_ledger.c.cost_usd), 0.0).label("cost")


def _since(since: str, *, room_id: str | None = None, user_id: str | None = None) -> Any:
    """Rows at or after `since` (a stored timestamp string), optionally of one room or user."""
    clause = ai_ledger.c.created_at >= since
    if room_id is not None:
        clause = sa.and_(clause, ai_ledger.c.room_id == room_id)
    if user_id is not None:
        clause = sa.and_(clause, ai_ledger.c.user_id == user_id)
    return clause


async def insert_entry(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(ai_ledger.insert().values(**values))


async def totals_since(
    conn: AsyncConnection, since: str, *, room_id: str | None = None, user_id: str | None = None
) -> tuple[float, int]:
    """(cost, answers) since `since`, for the server, one room or one triggering user."""
    query = sa.select(_cost, _answers).where(_since(since, room_id=room_id, user_id=user_id))
    row = (await conn.execute(query)).one()
    return float(row.cost), int(row.answers)


async def costs_by_user(conn: AsyncConnection, since: str, user_ids: list[str]) -> dict[str, float]:
    """USD each of these users triggered since `since` (users without answers are absent)."""
    if not user_ids:
        return {}
    query = (
        sa.select(ai_ledger.c.user_id, _cost)
        .where(_since(since), ai_ledger.c.user_id.in_(user_ids))
        .group_by(ai_ledger.c.user_id)
    )
    return {row.user_id: float(row.cost) for row in (await conn.execute(query)).all()}


async def answer_times(conn: AsyncConnection, since: str, user_id: str) -> list[str]:
    """When each answer `user_id` triggered since `since` was recorded, oldest first."""
    query = (
        sa.select(ai_ledger.c.created_at)
        .where(_since(since, user_id=user_id))
        .order_by(ai_ledger.c.created_at)
    )
    return list((await conn.execute(query)).scalars())


async def daily(conn: AsyncConnection, since: str, *, room_id: str | None) -> list[UsageDay]:
    """Per-day sums (UTC dates, only days with answers), oldest first."""
    day = sa.func.substr(ai_ledger.c.created_at, 1, 10).label("day")
    query = (
        sa.select(
            day,
            _answers,
            sa.func.coalesce(sa.func.sum(ai_ledger.c.prompt_tokens), 0).label("prompt"),
            sa.func.coalesce(sa.func.sum(ai_ledger.c.completion_tokens), 0).label("completion"),
            _cost,
        )
        .where(_since(since, room_id=room_id))
        .group_by(day)
        .order_by(day)
    )
    return [
        UsageDay(
            date=row.day,
            answers=row.answers,
            prompt_tokens=int(row.prompt),
            completion_tokens=int(row.completion),
            cost=float(row.cost),
        )
        for row in (await conn.execute(query)).all()
    ]


async def by_model(conn: AsyncConnection, since: str, *, room_id: str | None) -> list[UsageByModel]:
    """Sums per model, the costliest first."""
    query = (
        sa.select(ai_ledger.c.model, _answers, _cost)
        .where(_since(since, room_id=room_id))
        .group_by(ai_ledger.c.model)
        .order_by(_cost.desc(), ai_ledger.c.model)
    )
    rows = (await conn.execute(query)).all()
    return [UsageByModel(model=r.model, answers=r.answers, cost=float(r.cost)) for r in rows]


async def by_user(conn: AsyncConnection, since: str, *, room_id: str | None) -> list[UsageByUser]:
    """Sums per triggering user (accounts that still exist), the costliest first."""
    sums = (
        sa.select(ai_ledger.c.user_id, _answers, _cost)
        .where(_since(since, room_id=room_id), ai_ledger.c.user_id.is_not(None))
        .group_by(ai_ledger.c.user_id)
        .subquery()
    )
    query = (
        sa.select(*PUBLIC_COLUMNS, sums.c.answers, sums.c.cost)
        .join(sums, sums.c.user_id == users.c.id)
        .order_by(sums.c.cost.desc(), users.c.id)
    )
    rows = (await conn.execute(query)).all()
    return [UsageByUser(user=to_public(r), answers=r.answers, cost=float(r.cost)) for r in rows]


async def by_room(conn: AsyncConnection, since: str) -> list[UsageByRoom]:
    """Sums per room, deleted rooms included (under their last recorded name)."""
    sums = (
        sa.select(
            ai_ledger.c.room_id,
            sa.func.max(ai_ledger.c.room_name).label("recorded_name"),
            _answers,
            _cost,
        )
        .where(_since(since))
        .group_by(ai_ledger.c.room_id)
        .subquery()
    )
    name = sa.func.coalesce(rooms.c.name, sums.c.recorded_name).label("name")
    query = (
        sa.select(sums.c.room_id, name, sums.c.answers, sums.c.cost)
        .select_from(sums.outerjoin(rooms, rooms.c.id == sums.c.room_id))
        .order_by(sums.c.cost.desc(), sums.c.room_id)
    )
    rows = (await conn.execute(query)).all()
    return [
        UsageByRoom(room_id=r.room_id, name=r.name, answers=r.answers, cost=float(r.cost))
        for r in rows
    ]
