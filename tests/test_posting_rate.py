"""The posting rate (API.md "Posting rate"): one budget per user for REST and WebSocket together."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import (
    TEST_DATABASE_URL,
    Actor,
    Server,
    add_member,
    create_room,
    make_settings,
    reset_postgres,
    sign_up,
    start_server,
)
from groupchat.config import ConfigError, Settings, load_settings

BURST = 3


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    """A burst of 3 posts, then one every 10 s: no refill happens during a test."""
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    return make_settings(tmp_path, ws_messages_per_second=0.1, ws_message_burst=BURST)


async def post(http: httpx.AsyncClient, actor: Actor, room_id: str, content: str) -> httpx.Response:
    return await http.post(
        f"/api/rooms/{room_id}/messages", json={"content": content}, headers=actor.headers
    )


async def contents(http: httpx.AsyncClient, actor: Actor, room_id: str) -> list[str]:
    resp = await http.get(f"/api/rooms/{room_id}/messages", headers=actor.headers)
    assert resp.status_code == 200, resp.text
    return [m["content"] for m in resp.json()["messages"]]


def send(room_id: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"type": "send_message", "room_id": room_id, "content": content, **extra}


async def test_rest_and_websocket_share_one_budget_per_user(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    alice_sock = await alice.socket(join=(room["id"],))
    bob_sock = await bob.socket(join=(room["id"],))

    assert (await post(http, alice, room["id"], "one")).status_code == 201
    assert "client_id" not in await alice_sock.expect("new_message")
    await alice_sock.send(send(room["id"], "two", client_id="c2"))
    assert (await alice_sock.expect("new_message"))["client_id"] == "c2"
    assert (await post(http, alice, room["id"], "three")).status_code == 201

    refused = await post(http, alice, room["id"], "four")
    assert refused.status_code == 429, refused.text
    assert refused.json() == {"detail": "you are posting too fast; slow down"}
    assert int(refused.headers["retry-after"]) >= 1
    await alice_sock.send(send(room["id"], "five", client_id="c5"))
    error = await alice_sock.expect("error")
    assert error == {
        "type": "error",
        "code": "rate_limited",
        "detail": "you are posting too fast; slow down",
        "client_id": "c5",
    }
    await alice_sock.send(send(room["id"], "six"))
    assert "client_id" not in await alice_sock.expect("error")

    assert await contents(http, bob, room["id"]) == ["one", "two", "three"]
    got = [(await bob_sock.expect("new_message"))["message"]["content"] for _ in range(3)]
    assert got == ["one", "two", "three"]
    await bob_sock.silent()  # nothing about the refused posts reached anyone


async def test_each_user_has_their_own_budget_and_other_frames_are_not_charged(
    http, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    alice_sock = await alice.socket(join=(room["id"],))
    for i in range(BURST):
        await alice_sock.send(send(room["id"], f"alice {i}"))
        await alice_sock.expect("new_message")
    await alice_sock.send(send(room["id"], "one too many"))
    assert (await alice_sock.expect("error"))["code"] == "rate_limited"

    for i in range(BURST):  # bob's budget is untouched by alice's
        assert (await post(http, bob, room["id"], f"bob {i}")).status_code == 201
    await alice_sock.send({"type": "ping"})
    assert await alice_sock.expect("pong") == {"type": "pong"}  # only posting is limited
    assert (await post(http, bob, room["id"], "bob again")).status_code == 429
    stored = await contents(http, alice, room["id"])
    assert stored == [f"alice {i}" for i in range(BURST)] + [f"bob {i}" for i in range(BURST)]


async def test_refused_input_is_checked_before_the_budget(http, alice: Actor) -> None:
    """A post that is invalid anyway answers 422, never 429, and uses no budget."""
    room = await create_room(http, alice)
    for _ in range(BURST + 2):
        assert (await post(http, alice, room["id"], "   ")).status_code == 422
    for i in range(BURST):
        assert (await post(http, alice, room["id"], f"fine {i}")).status_code == 201
    assert (await post(http, alice, room["id"], "   ")).status_code == 422
    assert (await post(http, alice, room["id"], "over")).status_code == 429


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WS_MESSAGES_PER_SECOND", "-1"),
        ("WS_MESSAGES_PER_SECOND", "inf"),
        ("WS_MESSAGE_BURST", "x"),
    ],
)
def test_bad_posting_rate_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert str(caught.value).startswith(f"{variable}: ")


async def test_a_zero_burst_means_no_limit(tmp_path: Path) -> None:
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    server = await start_server(
        make_settings(tmp_path, ws_messages_per_second=5, ws_message_burst=0)
    )
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            alice = await sign_up(http, server, "alice")
            room = await create_room(http, alice)
            answers = await asyncio.gather(
                *(post(http, alice, room["id"], f"bot line {i}") for i in range(40))
            )
            assert [a.status_code for a in answers] == [201] * 40
            assert len(await contents(http, alice, room["id"])) == 40
    finally:
        await server.stop()
