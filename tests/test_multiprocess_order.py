"""Two real processes: posts racing through both reach every socket in the room's chain order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Actor, Socket
from multiproc import Proc, need_postgres_and_redis, server_env, sign_up, start_procs

PER_SENDER = 15


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[list[Proc]]:
    url = await need_postgres_and_redis()
    procs = await start_procs(tmp_path, server_env(tmp_path, url), 2)
    try:
        yield procs
    finally:
        for proc in procs:
            await proc.stop()


async def shared_room(a: Proc, b: Proc) -> tuple[Actor, Actor, str]:
    """alice (on A) owns a room; bob (on B) joined it through an invite."""
    alice, bob = await sign_up(a, "alice"), await sign_up(b, "bob")
    async with httpx.AsyncClient(base_url=a.base_url) as http:
        room = (await http.post("/api/rooms", json={"name": "x"}, headers=alice.headers)).json()
        invite = await http.post(
            "/api/invites", json={"room_id": room["id"]}, headers=alice.headers
        )
    async with httpx.AsyncClient(base_url=b.base_url) as http:
        resp = await http.post(f"/api/invites/{invite.json()['token']}/accept", headers=bob.headers)
        assert resp.status_code == 200
    return alice, bob, room["id"]


async def post_many(proc: Proc, who: Actor, room_id: str, count: int) -> list[str]:
    """`count` posts at once through one process; the stored ids."""
    async with httpx.AsyncClient(base_url=proc.base_url, timeout=10) as http:
        url = f"/api/rooms/{room_id}/messages"
        resps = await asyncio.gather(
            *(
                http.post(url, json={"content": f"{who.name} {i}"}, headers=who.headers)
                for i in range(count)
            )
        )
    assert all(r.status_code == 201 for r in resps), [r.text for r in resps]
    return [r.json()["id"] for r in resps]


async def messages_seen(sock: Socket, count: int) -> list[dict[str, Any]]:
    return [(await sock.expect("new_message"))["message"] for _ in range(count)]


def assert_chained(messages: list[dict[str, Any]]) -> None:
    """Each message names the one before it: nothing lost, duplicated or out of order."""
    prev = None
    for message in messages:
        assert message["prev_hash"] == prev, [m["content"] for m in messages]
        prev = message["hash"]


async def test_posts_racing_through_two_processes_arrive_in_chain_order(pair: list[Proc]) -> None:
    a, b = pair
    alice, bob, room_id = await shared_room(a, b)
    carol = await sign_up(b, "carol")  # carol only watches, from B
    async with httpx.AsyncClient(base_url=a.base_url) as http:
        invite = await http.post("/api/invites", json={"room_id": room_id}, headers=alice.headers)
    async with httpx.AsyncClient(base_url=b.base_url) as http:
        await http.post(f"/api/invites/{invite.json()['token']}/accept", headers=carol.headers)
    socks = [await who.socket(join=(room_id,)) for who in (alice, bob, carol)]

    ids_a, ids_b = await asyncio.gather(
        post_many(a, alice, room_id, PER_SENDER), post_many(b, bob, room_id, PER_SENDER)
    )
    for sock in socks:
        seen = await messages_seen(sock, 2 * PER_SENDER)
        assert_chained(seen)
        assert sorted(m["id"] for m in seen) == sorted(ids_a + ids_b)
        await sock.silent()
    async with httpx.AsyncClient(base_url=b.base_url) as http:
        stored = (await http.get(f"/api/rooms/{room_id}/messages", headers=bob.headers)).json()
    assert [m["id"] for m in stored["messages"]] == [m["id"] for m in seen]
    for sock in socks:
        await sock.close()


async def test_a_socket_joining_midway_continues_its_history_without_a_hole(
    pair: list[Proc],
) -> None:
    """The first socket of a room on B joins while A posts: B's live stream of the room starts
    at the head stored before the join, so history (read after `joined`) and live frames meet
    with nothing missing, twice or out of order."""
    a, b = pair
    alice, bob, room_id = await shared_room(a, b)

    async def post_slowly() -> None:
        async with httpx.AsyncClient(base_url=a.base_url, timeout=10) as http:
            for i in range(40):
                resp = await http.post(
                    f"/api/rooms/{room_id}/messages",
                    json={"content": f"m{i}"},
                    headers=alice.headers,
                )
                assert resp.status_code == 201
                await asyncio.sleep(0.01)

    posting = asyncio.create_task(post_slowly())
    await asyncio.sleep(0.15)
    sock = await bob.socket(join=(room_id,))
    async with httpx.AsyncClient(base_url=b.base_url, timeout=10) as http:
        url = f"/api/rooms/{room_id}/messages"
        history = (await http.get(url, params={"limit": 200}, headers=bob.headers)).json()
        await posting
        stored = (await http.get(url, params={"limit": 200}, headers=bob.headers)).json()
    ids = [m["id"] for m in history["messages"]]
    last = history["messages"][-1]["hash"] if ids else None
    live: list[str] = []
    while True:
        try:
            message = (await sock.expect("new_message", timeout=1.5))["message"]
        except TimeoutError:
            break
        assert message["id"] not in live  # never twice
        live.append(message["id"])
        if message["id"] in ids:
            continue  # history had it already (merged by id, as the web client does)
        assert message["prev_hash"] == last
        ids.append(message["id"])
        last = message["hash"]
    assert ids == [m["id"] for m in stored["messages"]]
    await sock.close()
