"""AI spending limits: every answer that reached the provider is in the ledger; a used-up limit
refuses the next answer before the provider is called, telling only the one who asked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import (
    Gate,
    GatedOpenRouter,
    held_text,
    next_stream,
    read_frames,
    say,
    stored_rows,
)
from conftest import TS, Actor, Server, Socket, add_member, create_room
from fakes.openrouter import VISION_MODEL, error_reply, text_reply, usage_dict
from groupchat.config import ConfigError, load_settings
from groupchat.db import tables
from groupchat.ids import format_ts, new_id

COST = 0.001341  # what usage_dict() reports per answer


async def ledger_rows(server: Server, at_least: int = 0) -> list[Any]:
    """Every ledger row, oldest first, straight from the database (once there are `at_least`:
    an answer cut by a clear or delete is written just after the clear, not before it)."""
    query = sa.select(tables.ai_ledger).order_by(tables.ai_ledger.c.id)
    async with asyncio.timeout(5):
        while True:
            async with server.services.db.read() as conn:
                rows = list((await conn.execute(query)).all())
            if len(rows) >= at_least:
                return rows
            await asyncio.sleep(0.01)


def tomorrow_midnight() -> str:
    day = datetime.now(UTC).date() + timedelta(days=1)
    return f"{day.isoformat()}T00:00:00.000Z"


async def answered(sock: Socket, room_id: str, question: str) -> str:
    """Ask the AI and return its stored answer's text."""
    await say(sock, room_id, question)
    stream = await next_stream(sock)
    assert stream.error is None and stream.message is not None, stream
    return stream.text


async def refused(sock: Socket, *, scope: str, room_id: str) -> dict[str, Any]:
    """The ai_refused frame this socket gets next (after the question's own new_message)."""
    frame = await sock.expect("ai_refused")
    assert set(frame) == {"type", "room_id", "scope", "detail", "resets_at"}
    assert (frame["scope"], frame["room_id"]) == (scope, room_id)
    assert TS.match(frame["resets_at"])
    return frame


@pytest.mark.parametrize("ai_overrides", [{"ai_budget_user_usd": 0.001}])
async def test_a_used_up_allowance_refuses_only_the_one_who_asked(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    a_elsewhere = await alice.socket()  # another tab, not in the room
    b = await bob.socket(join=(room["id"],))
    provider.queue(text_reply("The first one is on the house."))
    assert await answered(a, room["id"], "@ai hello") == "The first one is on the house."
    await read_frames(b)

    await say(a, room["id"], "@ai and another?")
    for sock in (a, a_elsewhere):
        frame = await refused(sock, scope="user", room_id=room["id"])
        assert frame["detail"] == (
            "You have used today's AI allowance of $0.001; it resets at 00:00 UTC."
        )
        assert frame["resets_at"] == tomorrow_midnight()
    assert (await b.expect("new_message"))["message"]["content"] == "@ai and another?"
    await asyncio.gather(a.silent(), a_elsewhere.silent(), b.silent())  # no ai_typing, no end
    assert len(provider.chat_requests) == 1  # the provider was not called
    rows = await stored_rows(server, room["id"])
    assert [r.author_type for r in rows] == ["user", "ai", "user"]

    # Bob's own allowance is untouched.
    provider.queue(text_reply("Bob may ask."))
    assert await answered(b, room["id"], "@ai may I?") == "Bob may ask."
    ledger = await ledger_rows(server)
    assert [(r.user_id, r.outcome) for r in ledger] == [
        (alice.id, "finished"),
        (bob.id, "finished"),
    ]
    assert ledger[0].cost_usd == pytest.approx(COST)
    assert (ledger[0].prompt_tokens, ledger[0].completion_tokens) == (412, 31)
    assert (ledger[0].room_id, ledger[0].room_name, ledger[0].model) == (
        room["id"],
        "general",
        VISION_MODEL,
    )


@pytest.mark.parametrize("ai_overrides", [{"ai_budget_server_usd": 0.001}])
async def test_a_used_up_server_budget_refuses_everyone(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    north = await create_room(http, alice, name="north")
    south = await create_room(http, bob, name="south")
    a = await alice.socket(join=(north["id"],))
    b = await bob.socket(join=(south["id"],))
    provider.queue(text_reply("Spent it all."))
    await answered(a, north["id"], "@ai go")
    await say(b, south["id"], "@ai my turn?")
    frame = await refused(b, scope="server", room_id=south["id"])
    assert (
        frame["detail"]
        == "The server has used today's AI budget of $0.001; it resets at 00:00 UTC."
    )
    await asyncio.gather(a.silent(), b.silent())
    assert len(provider.chat_requests) == 1


@pytest.mark.parametrize("ai_overrides", [{"ai_budget_room_usd": 0.5}])
async def test_the_lower_of_the_rooms_budget_and_the_servers_applies(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    tight = await create_room(http, alice, name="tight", ai_budget_usd=0.001)
    loose = await create_room(http, alice, name="loose", ai_budget_usd=100)
    await add_member(http, tight, alice, bob)
    a = await alice.socket(join=(tight["id"], loose["id"]))
    b = await bob.socket(join=(tight["id"],))
    provider.queue(text_reply("One."))
    await answered(b, tight["id"], "@ai one")  # bob spends the room's budget
    await say(a, tight["id"], "@ai two")
    frame = await refused(a, scope="room", room_id=tight["id"])
    assert frame["detail"].startswith("This room has used today's AI budget of $0.001")
    await b.expect("new_message")
    await b.silent()
    # The other room still answers, and reports the server's lower budget as its own.
    provider.queue(text_reply("Loose answers."))
    assert await answered(a, loose["id"], "@ai three") == "Loose answers."
    report = await http.get(f"/api/rooms/{loose['id']}/usage", headers=alice.headers)
    assert report.status_code == 200, report.text
    assert report.json()["budget"] == 0.5
    assert report.json()["remaining"] == pytest.approx(0.5 - COST)
    assert len(provider.chat_requests) == 2


@pytest.mark.parametrize("ai_overrides", [{"ai_answers_per_user_hour": 2}])
async def test_answers_per_hour_count_failures_too(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor
) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    provider.queue(error_reply(500), text_reply("Second try works."))
    await say(a, room["id"], "@ai first")
    assert (await next_stream(a)).error is not None
    assert await answered(a, room["id"], "@ai second") == "Second try works."
    await say(a, room["id"], "@ai third")
    frame = await refused(a, scope="rate", room_id=room["id"])
    ledger = await ledger_rows(server)
    assert [(r.outcome, r.cost_usd) for r in ledger] == [("failed", 0), ("finished", COST)]
    first = datetime.fromisoformat(ledger[0].created_at.replace("Z", "+00:00"))
    resets = datetime.fromisoformat(frame["resets_at"].replace("Z", "+00:00"))
    assert resets == first + timedelta(hours=1)  # when the oldest leaves the hour
    assert f"try again after {resets:%H:%M} UTC" in frame["detail"]
    await a.silent()
    assert len(provider.chat_requests) == 2


@pytest.mark.parametrize("ai_overrides", [{"ai_answers_per_user_hour": 2}])
async def test_over_the_hourly_count_it_waits_until_enough_answers_are_an_hour_old(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor
) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    now = datetime.now(UTC)
    # three answers in the last hour (e.g. from before the limit was lowered to two)
    ages = (50, 40, 30)
    async with server.services.db.write() as conn:
        for minutes in ages:
            await conn.execute(
                tables.ai_ledger.insert().values(
                    id=new_id(),
                    room_id=room["id"],
                    room_name="general",
                    user_id=alice.id,
                    model=VISION_MODEL,
                    prompt_tokens=1,
                    completion_tokens=1,
                    cost_usd=0,
                    outcome="finished",
                    created_at=format_ts(now - timedelta(minutes=minutes)),
                )
            )
    await say(a, room["id"], "@ai one more?")
    frame = await refused(a, scope="rate", room_id=room["id"])
    # two must leave the hour: the one 40 minutes old leaves in 20 minutes
    expected = format_ts(now - timedelta(minutes=40) + timedelta(hours=1))
    assert frame["resets_at"] == expected
    assert frame["detail"].startswith("You have had 3 AI answers in the last hour")
    assert provider.chat_requests == []


async def test_the_ledger_keeps_answers_cut_by_clear_and_delete(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor
) -> None:
    room = await create_room(http, alice, name="doomed")
    a = await alice.socket(join=(room["id"],))
    for action in ("clear", "delete"):
        gate = Gate()
        provider.queue(held_text("Half", gate, " done.", usage=usage_dict(100, 5, 0.25)))
        await say(a, room["id"], "@ai start")
        await gate.reached.wait()
        if action == "clear":
            resp = await http.post(f"/api/rooms/{room['id']}/clear", headers=alice.headers)
        else:
            resp = await http.delete(f"/api/rooms/{room['id']}", headers=alice.headers)
        assert resp.status_code == 204
        gate.open()
        assert (await next_stream(a)).message is None
    assert await stored_rows(server, room["id"]) == []
    ledger = await ledger_rows(server, at_least=2)
    assert [(r.room_id, r.room_name, r.user_id, r.outcome) for r in ledger] == [
        (room["id"], "doomed", alice.id, "discarded"),
        (room["id"], "doomed", alice.id, "discarded"),
    ]
    usage = await http.get("/api/usage", headers=alice.headers)
    assert usage.json()["answers"] == 2  # the caller still sees what the room spent


async def test_cost_from_the_model_list_when_the_provider_reports_none(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor
) -> None:
    free = "local/llama"
    provider.models.append({**provider.models[0], "id": free, "pricing": {}})
    priced = await create_room(http, alice, name="priced")
    local = await create_room(http, alice, name="local", ai_model=free)
    a = await alice.socket(join=(priced["id"], local["id"]))
    provider.queue(text_reply("Priced.", usage=usage_dict(412, 31, None)))
    await answered(a, priced["id"], "@ai how much?")
    provider.queue(text_reply("Free.", usage=usage_dict(1000, 1000, None)))
    await answered(a, local["id"], "@ai and you?")
    ledger = await ledger_rows(server)
    # the fake lists $0.0000025 per prompt token and $0.00001 per completion token
    assert [(r.model, r.cost_usd) for r in ledger] == [
        (VISION_MODEL, pytest.approx(412 * 0.0000025 + 31 * 0.00001)),
        (free, 0),
    ]


# ---------------------------------------------------------------- the settings
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AI_BUDGET_PERIOD", "year"),
        ("AI_BUDGET_USER_USD", "-1"),
        ("AI_BUDGET_SERVER_USD", "nan"),
        ("AI_BUDGET_ROOM_USD", "inf"),
        ("AI_ANSWERS_PER_USER_HOUR", "1.5"),
        ("AI_ANSWERS_PER_USER_HOUR", "-2"),
    ],
)
def test_a_bad_limit_is_refused_in_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=None)
    message = str(refused.value)
    assert message.startswith(f"{variable}:") and "\n" not in message


def test_blank_limits_mean_none(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "AI_BUDGET_SERVER_USD",
        "AI_BUDGET_USER_USD",
        "AI_BUDGET_ROOM_USD",
        "AI_ANSWERS_PER_USER_HOUR",
        "METRICS_TOKEN",
    ):
        monkeypatch.setenv(variable, " ")
    monkeypatch.setenv("AI_BUDGET_PERIOD", "month")
    loaded = load_settings(env_file=None)
    assert (
        loaded.ai_budget_period,
        loaded.ai_budget_server_usd,
        loaded.ai_budget_user_usd,
        loaded.ai_budget_room_usd,
        loaded.ai_answers_per_user_hour,
        loaded.metrics_token,
    ) == ("month", 0, 0, 0, 0, None)
