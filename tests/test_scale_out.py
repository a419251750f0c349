"""Two server processes share PostgreSQL and a Redis bus: alice on one, bob on the other."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from ai_fixtures import Gate, GatedOpenRouter, held_text, read_until, say, streams
from conftest import Actor, Server, make_settings, reset_postgres, sign_up, start_server
from fakes.openrouter import DEFAULT_KEY, VISION_MODEL

PG_URL = os.environ.get("TEST_DATABASE_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
async def provider() -> AsyncIterator[GatedOpenRouter]:
    async with GatedOpenRouter() as fake:
        yield fake


@pytest.fixture
async def pair(tmp_path: Path, provider: GatedOpenRouter) -> AsyncIterator[tuple[Server, Server]]:
    """Servers A and B on one database and one bus (fails instead of skipping in CI)."""
    missing = [
        n for n, p in (("PostgreSQL", 5432), ("Redis", 6379)) if not _reachable("127.0.0.1", p)
    ]
    if missing:
        message = f"{' and '.join(missing)} not reachable on 127.0.0.1"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    await reset_postgres(PG_URL)
    common = {
        "database_url": PG_URL,
        "redis_url": REDIS_URL,
        "upload_dir": tmp_path / "uploads",
        "openrouter_api_key": DEFAULT_KEY,
        "openrouter_base_url": provider.base_url,
        "ai_default_model": VISION_MODEL,
    }
    a = await start_server(make_settings(tmp_path / "a", **common))
    b = await start_server(make_settings(tmp_path / "b", **common))
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


async def _sign_up(server: Server, name: str) -> Actor:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        return await sign_up(http, server, name)


async def test_events_cross_processes(pair: tuple[Server, Server]) -> None:
    a, b = pair
    alice, bob = await _sign_up(a, "alice"), await _sign_up(b, "bob")
    async with httpx.AsyncClient(base_url=a.base_url) as http_a:
        room = (await http_a.post("/api/rooms", json={"name": "x"}, headers=alice.headers)).json()
        invite = (
            await http_a.post("/api/invites", json={"room_id": room["id"]}, headers=alice.headers)
        ).json()
    alice_ws = await alice.socket(join=(room["id"],))
    async with httpx.AsyncClient(base_url=b.base_url) as http_b:
        resp = await http_b.post(f"/api/invites/{invite['token']}/accept", headers=bob.headers)
        assert resp.status_code == 200
    joined = await alice_ws.expect("member_joined")
    assert joined["user"]["id"] == bob.id
    bob_ws = await bob.socket(join=(room["id"],))

    await bob_ws.send({"type": "typing", "room_id": room["id"], "is_typing": True})
    assert (await alice_ws.expect("user_typing"))["user"]["id"] == bob.id
    await alice_ws.send({"type": "send_message", "room_id": room["id"], "content": "from A"})
    got = await bob_ws.expect("new_message")
    assert got["message"]["content"] == "from A" and got["message"]["prev_hash"] is None
    assert (await alice_ws.expect("new_message"))["message"]["id"] == got["message"]["id"]
    await bob_ws.send({"type": "send_message", "room_id": room["id"], "content": "from B"})
    back = await alice_ws.expect("new_message")
    assert back["message"]["prev_hash"] == got["message"]["hash"]

    # bob is removed on server A: his socket on server B hears it and then hears nothing more
    async with httpx.AsyncClient(base_url=a.base_url) as http_a:
        resp = await http_a.delete(
            f"/api/rooms/{room['id']}/members/{bob.id}", headers=alice.headers
        )
        assert resp.status_code == 204
        assert (await bob_ws.expect("member_left"))["user_id"] == bob.id
        await http_a.post(
            f"/api/rooms/{room['id']}/messages",
            json={"content": "bob is gone"},
            headers=alice.headers,
        )
    assert (await alice_ws.expect("new_message"))["message"]["content"] == "bob is gone"
    await bob_ws.silent()
    for sock in (alice_ws, bob_ws):
        await sock.close()


async def test_readyz_checks_redis(pair: tuple[Server, Server]) -> None:
    async with httpx.AsyncClient(base_url=pair[0].base_url) as http:
        assert (await http.get("/readyz")).json() == {"status": "ok"}


async def _shared_room(a: Server, b: Server) -> tuple[Actor, Actor, str]:
    """alice (signed up on A) owns a room that bob (on B) has joined."""
    alice, bob = await _sign_up(a, "alice"), await _sign_up(b, "bob")
    async with httpx.AsyncClient(base_url=a.base_url) as http:
        room = (await http.post("/api/rooms", json={"name": "x"}, headers=alice.headers)).json()
        invite = await http.post(
            "/api/invites", json={"room_id": room["id"]}, headers=alice.headers
        )
        resp = await http.post(f"/api/invites/{invite.json()['token']}/accept", headers=bob.headers)
        assert resp.status_code == 200
    return alice, bob, room["id"]


async def test_cancel_from_another_process_stops_the_answer(
    pair: tuple[Server, Server], provider: GatedOpenRouter
) -> None:
    a, b = pair
    alice, bob, room_id = await _shared_room(a, b)
    gate = Gate()
    provider.queue(held_text("Partial", gate, " never sent."))
    alice_ws, bob_ws = await alice.socket(join=(room_id,)), await bob.socket(join=(room_id,))
    await say(alice_ws, room_id, "@ai tell me a long story")  # the answer streams on A
    seen = {id(s): await read_until(s, "ai_stream_chunk") for s in (alice_ws, bob_ws)}
    await bob_ws.send({"type": "cancel_ai", "room_id": room_id})  # bob is connected to B
    for sock in (alice_ws, bob_ws):
        (stream,) = streams(seen[id(sock)] + await read_until(sock, "ai_stream_end"))
        assert stream.error == "Stopped by bob."
        assert stream.message is not None and stream.message["content"] == "Partial"
        assert stream.message["ai"]["finish_reason"] == "cancelled"
    gate.open()
    for sock in (alice_ws, bob_ws):
        await sock.close()


async def test_clear_on_another_process_ends_the_answer_without_storing(
    pair: tuple[Server, Server], provider: GatedOpenRouter
) -> None:
    a, b = pair
    alice, _bob, room_id = await _shared_room(a, b)
    gate = Gate()
    provider.queue(held_text("Partial", gate, " never sent."))
    alice_ws = await alice.socket(join=(room_id,))
    await say(alice_ws, room_id, "@ai hello")  # streams on A
    seen = await read_until(alice_ws, "ai_stream_chunk")
    async with httpx.AsyncClient(base_url=b.base_url) as http_b:
        resp = await http_b.post(f"/api/rooms/{room_id}/clear", headers=alice.headers)
        assert resp.status_code == 204
    (stream,) = streams(seen + await read_until(alice_ws, "ai_stream_end"))
    assert stream.message is None and stream.error == "The room was cleared."
    gate.open()
    async with httpx.AsyncClient(base_url=a.base_url) as http_a:
        page = await http_a.get(f"/api/rooms/{room_id}/messages", headers=alice.headers)
    assert page.json()["messages"] == []
    await alice_ws.close()
