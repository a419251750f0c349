"""AI spending limits: calendar periods in UTC, and whether the next answer may run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.config import Settings
from groupchat.ids import format_ts, parse_ts
from groupchat.schemas import Room
from groupchat.store import ledger

HOUR = timedelta(hours=1)
PERIOD_WORD = {"day": "today's", "week": "this week's", "month": "this month's"}


@dataclass(frozen=True)
class Refusal:
    """Why an answer may not run; the fields of the `ai_refused` frame."""

    scope: str  # server | room | user | rate
    detail: str
    resets_at: str


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The calendar period (UTC) holding `now`: [start, end). Weeks start on Monday."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return start, start + timedelta(days=1)
    if period == "week":
        start -= timedelta(days=start.weekday())
        return start, start + timedelta(days=7)
    start = start.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def room_budget(settings: Settings, room: Room) -> float | None:
    """The room's effective budget: the lower of its own and AI_BUDGET_ROOM_USD (None: none)."""
    limits = [v for v in (room.ai_budget_usd, settings.ai_budget_room_usd or None) if v is not None]
    return min(limits) if limits else None


async def check_limits(
    conn: AsyncConnection, settings: Settings, room: Room, user_id: str | None, now: datetime
) -> Refusal | None:
    """The first limit (server, room, user, rate) the next answer would break, if any."""
    start, end = period_bounds(settings.ai_budget_period, now)
    period = settings.ai_budget_period
    since, word, resets = format_ts(start), PERIOD_WORD[period], _resets(period, end)
    checks: list[tuple[str, float | None, str | None, str | None, str]] = [
        ("server", settings.ai_budget_server_usd or None, None, None, "The server has used"),
        ("room", room_budget(settings, room), room.id, None, "This room has used"),
    ]
    if user_id is not None:
        checks.append(("user", settings.ai_budget_user_usd or None, None, user_id, "You have used"))
    for scope, limit, room_id, uid, who in checks:
        if limit is None:
            continue
        spent, _ = await ledger.totals_since(conn, since, room_id=room_id, user_id=uid)
        if spent >= limit:
            noun = "allowance" if scope == "user" else "budget"
            detail = f"{who} {word} AI {noun} of {usd(limit)}; {resets}."
            return Refusal(scope, detail, format_ts(end))
    if user_id is not None and settings.ai_answers_per_user_hour:
        return await _check_rate(conn, settings.ai_answers_per_user_hour, user_id, now)
    return None


async def _check_rate(
    conn: AsyncConnection, per_hour: int, user_id: str, now: datetime
) -> Refusal | None:
    """At most `per_hour` answers in any hour: free again once enough of them are an hour old."""
    times = await ledger.answer_times(conn, format_ts(now - HOUR), user_id)
    count = len(times)
    if count < per_hour:
        return None
    # the next answer may run once only per_hour - 1 of these are left in the window
    free_at = parse_ts(times[count - per_hour]) + HOUR
    detail = (
        f"You have had {count} AI answers in the last hour, the most allowed; "
        f"try again after {free_at:%H:%M} UTC."
    )
    return Refusal("rate", detail, format_ts(free_at))


def usd(amount: float) -> str:
    """$0.50; tiny amounts keep their digits ($0.004)."""
    return f"${amount:,.2f}" if amount >= 0.01 or amount == 0 else f"${amount:g}"


def _resets(period: str, end: datetime) -> str:
    if period == "day":
        return "it resets at 00:00 UTC"
    return f"it resets on {end:%A} {end.day} {end:%B} at 00:00 UTC"
