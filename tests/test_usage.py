"""Usage reports: one's own period, a room's days and models (by user for its managers), the
server's by room for admins; and a room's own AI budget, set by its owner or admins only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import GatedOpenRouter, next_stream, say
from conftest import TS, USER_PUBLIC_KEYS, Actor, Server, add_member, create_room
from fakes.openrouter import TEXT_MODEL, VISION_MODEL, text_reply, usage_dict
from groupchat.actions.budget import period_bounds
from groupchat.db import tables
from groupchat.store import ledger

REPORT_KEYS = {
    "currency",
    "period",
    "period_start",
    "resets_at",
    "period_cost",
    "answers_period",
    "days",
    "by_model",
}


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def make_admin(server: Server, actor: Actor) -> None:
    """Promote `actor` to server admin in the database (the admin API is tested elsewhere)."""
    query = tables.users.update().where(tables.users.c.id == actor.id).values(is_admin=True)
    async with server.services.db.write() as conn:
        await conn.execute(query)


async def ask(actor: Actor, room_id: str) -> None:
    """`actor` asks the AI in the room and waits for the stored answer."""
    sock = await actor.socket(join=(room_id,))
    await say(sock, room_id, "@ai a question")
    assert (await next_stream(sock)).message is not None
    await sock.close()


async def get(http: httpx.AsyncClient, url: str, actor: Actor, status: int = 200) -> Any:
    resp = await http.get(url, headers=actor.headers)
    assert resp.status_code == status, resp.text
    return resp.json()


@pytest.mark.parametrize("ai_overrides", [{"ai_budget_user_usd": 2, "ai_budget_period": "week"}])
async def test_my_usage_this_period(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    before = await get(http, "/api/usage", alice)
    assert (before["cost"], before["answers"], before["limit"], before["period"]) == (
        0,
        0,
        2,
        "week",
    )
    provider.queue(text_reply("a", usage=usage_dict(cost=0.25)), text_reply("b"))
    await ask(alice, room["id"])
    await ask(bob, room["id"])
    mine = await get(http, "/api/usage", alice)
    assert set(mine) == {"period", "period_start", "resets_at", "cost", "answers", "limit"}
    assert (mine["cost"], mine["answers"]) == (0.25, 1)  # only what alice triggered
    start = datetime.fromisoformat(mine["period_start"].replace("Z", "+00:00"))
    resets = datetime.fromisoformat(mine["resets_at"].replace("Z", "+00:00"))
    assert start.weekday() == 0 and (start.hour, start.minute) == (0, 0)  # Monday 00:00 UTC
    assert resets - start == timedelta(days=7)
    assert start <= datetime.now(UTC) < resets
    resp = await http.get("/api/usage")
    assert resp.status_code == 401


async def test_a_rooms_report_every_day_and_by_user_for_its_managers(
    http: httpx.AsyncClient,
    server: Server,
    provider: GatedOpenRouter,
    alice: Actor,
    bob: Actor,
    carol: Actor,
) -> None:
    room = await create_room(http, alice)
    other = await create_room(http, carol, name="elsewhere")
    await add_member(http, room, alice, bob)
    provider.queue(
        text_reply("x", usage=usage_dict(100, 10, 0.5)),
        text_reply("y", usage=usage_dict(200, 20, 0.25)),
        text_reply("z", usage=usage_dict(1, 1, 4.0)),
    )
    await ask(alice, room["id"])
    await http.patch(
        f"/api/rooms/{room['id']}", json={"ai_model": TEXT_MODEL}, headers=alice.headers
    )
    await ask(bob, room["id"])
    await ask(carol, other["id"])  # another room's spending is not in this report

    mine = await get(http, f"/api/rooms/{room['id']}/usage?days=3", alice)
    assert set(mine) == REPORT_KEYS | {"by_user", "budget", "remaining"}
    assert (mine["currency"], mine["period"]) == ("USD", "day")
    assert TS.match(mine["period_start"]) and TS.match(mine["resets_at"])
    assert (mine["period_cost"], mine["answers_period"]) == (0.75, 2)
    assert (mine["budget"], mine["remaining"]) == (None, None)
    first = datetime.now(UTC).date() - timedelta(days=2)
    assert [d["date"] for d in mine["days"]] == [
        (first + timedelta(days=i)).isoformat() for i in range(3)
    ]
    assert mine["days"][:2] == [
        {"date": d["date"], "answers": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0}
        for d in mine["days"][:2]
    ]
    assert mine["days"][2] == {
        "date": today(),
        "answers": 2,
        "prompt_tokens": 300,
        "completion_tokens": 30,
        "cost": 0.75,
    }
    assert mine["by_model"] == [
        {"model": VISION_MODEL, "answers": 1, "cost": 0.5},
        {"model": TEXT_MODEL, "answers": 1, "cost": 0.25},
    ]
    assert [(u["user"]["username"], u["answers"], u["cost"]) for u in mine["by_user"]] == [
        ("alice", 1, 0.5),
        ("bob", 1, 0.25),
    ]
    assert set(mine["by_user"][0]["user"]) == USER_PUBLIC_KEYS

    # bob is a plain member: the same report without by_user
    bobs = await get(http, f"/api/rooms/{room['id']}/usage?days=3", bob)
    assert set(bobs) == REPORT_KEYS | {"budget", "remaining"}
    assert bobs["days"] == mine["days"]
    # made an admin of the room, he sees it
    resp = await http.patch(
        f"/api/rooms/{room['id']}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert resp.status_code == 200
    assert "by_user" in await get(http, f"/api/rooms/{room['id']}/usage", bob)
    # the default is 30 days; outsiders see nothing
    assert len((await get(http, f"/api/rooms/{room['id']}/usage", alice))["days"]) == 30
    assert (await get(http, f"/api/rooms/{room['id']}/usage", carol, 404)) == {
        "detail": "room not found"
    }


@pytest.mark.parametrize("days", ["0", "367", "x"])
async def test_days_outside_1_to_366_is_422(
    http: httpx.AsyncClient, server: Server, alice: Actor, days: str
) -> None:
    await make_admin(server, alice)
    room = await create_room(http, alice)
    await get(http, f"/api/rooms/{room['id']}/usage?days={days}", alice, 422)
    await get(http, f"/api/admin/usage?days={days}", alice, 422)


@pytest.mark.parametrize("ai_overrides", [{"ai_budget_server_usd": 10}])
async def test_the_server_report_is_for_admins_and_keeps_deleted_rooms(
    http: httpx.AsyncClient,
    server: Server,
    provider: GatedOpenRouter,
    alice: Actor,
    bob: Actor,
) -> None:
    await make_admin(server, alice)
    kept = await create_room(http, alice, name="kept")
    gone = await create_room(http, bob, name="gone")
    provider.queue(
        text_reply("x", usage=usage_dict(10, 1, 1.5)), text_reply("y", usage=usage_dict(10, 1, 2))
    )
    await ask(alice, kept["id"])
    await ask(bob, gone["id"])
    assert (await http.delete(f"/api/rooms/{gone['id']}", headers=bob.headers)).status_code == 204
    await http.patch(f"/api/rooms/{kept['id']}", json={"name": "kept!"}, headers=alice.headers)

    await get(http, "/api/admin/usage", bob, 403)
    report = await get(http, "/api/admin/usage?days=1", alice)
    assert set(report) == REPORT_KEYS | {"by_user", "by_room", "budget", "remaining"}
    assert (report["period_cost"], report["answers_period"]) == (3.5, 2)
    assert (report["budget"], report["remaining"]) == (10, 6.5)
    assert [d["date"] for d in report["days"]] == [today()]
    assert report["by_room"] == [
        {"room_id": gone["id"], "name": "gone", "answers": 1, "cost": 2},
        {"room_id": kept["id"], "name": "kept!", "answers": 1, "cost": 1.5},  # its name now
    ]
    assert [u["user"]["id"] for u in report["by_user"]] == [bob.id, alice.id]
    async with server.services.db.read() as conn:  # what the admin's user list shows
        costs = await ledger.costs_by_user(conn, report["period_start"], [alice.id, "nobody"])
    assert costs == {alice.id: 1.5}


async def test_the_ledger_is_not_erased_with_its_room(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor
) -> None:
    room = await create_room(http, alice)
    provider.queue(text_reply("x"))
    await ask(alice, room["id"])
    await http.delete(f"/api/rooms/{room['id']}", headers=alice.headers)
    async with server.services.db.read() as conn:
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(tables.ai_ledger))
        ).scalar()
    assert count == 1
    assert (await get(http, "/api/usage", alice))["answers"] == 1


# ---------------------------------------------------------------- a room's own budget
async def test_the_owner_sets_and_clears_a_rooms_budget(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, ai_budget_usd=1.25)
    assert room["ai_budget_usd"] == 1.25
    await add_member(http, room, alice, bob)
    b = await bob.socket(join=(room["id"],))
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"ai_budget_usd": 0}, headers=alice.headers
    )
    assert resp.status_code == 200 and resp.json()["ai_budget_usd"] == 0
    event = await b.expect("room_updated")
    assert event["room"]["ai_budget_usd"] == 0
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"ai_budget_usd": None}, headers=alice.headers
    )
    assert resp.status_code == 200 and resp.json()["ai_budget_usd"] is None
    detail = await get(http, f"/api/rooms/{room['id']}", bob)
    assert detail["ai_budget_usd"] is None
    assert (await create_room(http, bob, name="b"))["ai_budget_usd"] is None


async def test_a_member_may_not_set_the_budget_and_bad_values_are_422(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, ai_budget_usd=3)
    await add_member(http, room, alice, bob)
    url = f"/api/rooms/{room['id']}"
    resp = await http.patch(url, json={"ai_budget_usd": 100}, headers=bob.headers)
    assert resp.status_code == 403
    for bad in (-0.01, "1", True, 1e9):
        resp = await http.patch(url, json={"ai_budget_usd": bad}, headers=alice.headers)
        assert resp.status_code == 422, (bad, resp.text)
    resp = await http.post(
        "/api/rooms", json={"name": "x", "ai_budget_usd": -1}, headers=alice.headers
    )
    assert resp.status_code == 422
    assert (await get(http, url, alice))["ai_budget_usd"] == 3  # nothing changed


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("day", "2026-12-31T23:59:59", "2026-12-31", "2027-01-01"),
        ("week", "2026-12-06T10:00:00", "2026-11-30", "2026-12-07"),  # a Sunday: from Monday
        ("week", "2026-11-30T00:00:00", "2026-11-30", "2026-12-07"),
        ("month", "2026-12-15T08:00:00", "2026-12-01", "2027-01-01"),
        ("month", "2027-02-28T23:00:00", "2027-02-01", "2027-03-01"),
    ],
)
def test_periods_are_calendar_periods_in_utc(period: str, now: str, start: str, end: str) -> None:
    begins, ends = period_bounds(period, datetime.fromisoformat(now).replace(tzinfo=UTC))
    assert (begins.isoformat(), ends.isoformat()) == (
        f"{start}T00:00:00+00:00",
        f"{end}T00:00:00+00:00",
    )
