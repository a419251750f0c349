"""AI usage reports: the caller's own period, a room's, the server's."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.actions.access import member_room
from groupchat.actions.budget import period_bounds, room_budget
from groupchat.ids import format_ts, utc_now
from groupchat.schemas import UsageDay, UsagePeriod, UsageReport, User
from groupchat.services import Services
from groupchat.store import ledger


async def my_usage(svc: Services, user: User) -> UsagePeriod:
    """The caller's spending (as the triggering user) this period."""
    period = svc.settings.ai_budget_period
    start, end = period_bounds(period, utc_now())
    async with svc.db.read() as conn:
        cost, answers = await ledger.totals_since(conn, format_ts(start), user_id=user.id)
    return UsagePeriod(
        period=period,
        period_start=format_ts(start),
        resets_at=format_ts(end),
        cost=cost,
        answers=answers,
        limit=svc.settings.ai_budget_user_usd or None,
    )


async def room_usage(svc: Services, user: User, room_id: str, days: int) -> UsageReport:
    """A room's report for members; owners, admins and server admins also see by_user."""
    async with svc.db.read() as conn:
        room = await member_room(conn, room_id, user.id)
        report = await _report(svc, conn, days, room_id=room_id)
        if room.my_role in ("owner", "admin") or user.is_admin:
            report.by_user = await ledger.by_user(conn, _window_start(days), room_id=room_id)
    _add_budget(report, room_budget(svc.settings, room))
    return report


async def server_usage(svc: Services, days: int) -> UsageReport:
    """The whole server's report (admins), by user and by room too."""
    async with svc.db.read() as conn:
        report = await _report(svc, conn, days, room_id=None)
        since = _window_start(days)
        report.by_user = await ledger.by_user(conn, since, room_id=None)
        report.by_room = await ledger.by_room(conn, since)
    _add_budget(report, svc.settings.ai_budget_server_usd or None)
    return report


async def _report(
    svc: Services, conn: AsyncConnection, days: int, *, room_id: str | None
) -> UsageReport:
    period = svc.settings.ai_budget_period
    start, end = period_bounds(period, utc_now())
    cost, answers = await ledger.totals_since(conn, format_ts(start), room_id=room_id)
    since = _window_start(days)
    return UsageReport(
        currency="USD",  # set explicitly: unset fields are left out of the answer
        period=period,
        period_start=format_ts(start),
        resets_at=format_ts(end),
        period_cost=cost,
        answers_period=answers,
        days=_every_day(await ledger.daily(conn, since, room_id=room_id), days),
        by_model=await ledger.by_model(conn, since, room_id=room_id),
    )


def _add_budget(report: UsageReport, budget: float | None) -> None:
    report.budget = budget
    report.remaining = None if budget is None else max(0.0, budget - report.period_cost)


def _first_day(days: int) -> date:
    return utc_now().date() - timedelta(days=days - 1)


def _window_start(days: int) -> str:
    """00:00 UTC of the report's first day, as a stored timestamp."""
    first = _first_day(days)
    return format_ts(datetime(first.year, first.month, first.day, tzinfo=utc_now().tzinfo))


def _every_day(found: list[UsageDay], days: int) -> list[UsageDay]:
    """Exactly `days` entries, oldest first, the last today; days without answers are zero."""
    by_date = {day.date: day for day in found}
    first = _first_day(days)
    dates = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    return [by_date.get(d) or _zero_day(d) for d in dates]


def _zero_day(day: str) -> UsageDay:
    return UsageDay(date=day, answers=0, prompt_tokens=0, completion_tokens=0, cost=0.0)
