"""Faults with two real processes: Redis stopped and started mid-conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from groupchat.db.engine import Database
from groupchat.rendering import render_markdown
from groupchat.store.post_batch import NewPost, append_one
from multiproc import (
    PrivateRedis,
    Proc,
    need_postgres_and_redis,
    server_env,
    start_procs,
)
from test_multiprocess_order import assert_chained, messages_seen, shared_room


@pytest.fixture
async def redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def ready_status(proc: Proc, want: int) -> None:
    """Wait until /readyz answers `want` (the bus notices an outage within a moment)."""
    async with httpx.AsyncClient(base_url=proc.base_url) as http, asyncio.timeout(15):
        while (await http.get("/readyz")).status_code != want:
            await asyncio.sleep(0.05)


async def test_redis_outage_keeps_local_sockets_served_then_everyone_resyncs(
    tmp_path: Path, redis: PrivateRedis
) -> None:
    url = await need_postgres_and_redis()
    procs = await start_procs(tmp_path, server_env(tmp_path, url, REDIS_URL=redis.url), 2)
    try:
        a, b = procs
        alice, bob, room_id = await shared_room(a, b)
        alice_ws, bob_ws = await alice.socket(join=(room_id,)), await bob.socket(join=(room_id,))
        await bob_ws.send({"type": "send_message", "room_id": room_id, "content": "before"})
        seen = (await alice_ws.expect("new_message"))["message"]
        await bob_ws.expect("new_message")

        await redis.stop()
        await ready_status(a, 503)
        async with httpx.AsyncClient(base_url=a.base_url) as http:
            assert (await http.get("/readyz")).json() == {"detail": "redis unavailable"}
        await bob_ws.send({"type": "send_message", "room_id": room_id, "content": "during"})
        during = (await bob_ws.expect("new_message"))["message"]  # B still serves its sockets
        await alice_ws.silent()  # A cannot hear B now

        await redis.start()
        await ready_status(a, 200)
        await ready_status(b, 200)
        assert await alice_ws.expect("resync", timeout=10) == {"type": "resync", "room_id": room_id}
        filled = (await alice_ws.expect("new_message"))["message"]  # A read what it missed
        assert filled["id"] == during["id"] and filled["prev_hash"] == seen["hash"]
        assert await bob_ws.expect("resync", timeout=10) == {"type": "resync", "room_id": room_id}
        async with httpx.AsyncClient(base_url=a.base_url) as http:
            resp = await http.get(
                f"/api/rooms/{room_id}/messages",
                params={"after": seen["id"]},
                headers=alice.headers,
            )
        assert [m["id"] for m in resp.json()["messages"]] == [during["id"]]
        # and the bus carries events between the processes again
        await alice_ws.send({"type": "send_message", "room_id": room_id, "content": "after"})
        after = (await bob_ws.expect("new_message"))["message"]
        assert after["content"] == "after" and after["prev_hash"] == during["hash"]
        for sock in (alice_ws, bob_ws):
            await sock.close()
    finally:
        for proc in procs:
            await proc.stop()


async def store_silently(url: str, room_id: str, content: str) -> str:
    """A message stored with no frame published: its process died between commit and publish."""
    db = Database(url)
    try:
        async with db.write() as conn:
            post = NewPost(room_id, "system", content, render_markdown(content))
            return (await append_one(conn, post)).id
    finally:
        await db.dispose()


async def test_a_message_whose_frame_never_came_is_filled_in_from_the_database(
    tmp_path: Path,
) -> None:
    """Every socket gets it live, in chain order, once: the next frame waits for it, then the
    process reads it from the database; nobody has to resync."""
    url = await need_postgres_and_redis()
    procs = await start_procs(tmp_path, server_env(tmp_path, url), 2)
    try:
        a, b = procs
        alice, bob, room_id = await shared_room(a, b)
        socks = [await alice.socket(join=(room_id,)), await bob.socket(join=(room_id,))]
        await socks[0].send({"type": "send_message", "room_id": room_id, "content": "one"})
        # "one" is stored before "two": every socket has it before "two" is written.
        firsts = [await messages_seen(sock, 1) for sock in socks]
        silent = await store_silently(url, room_id, "two")
        await socks[1].send({"type": "send_message", "room_id": room_id, "content": "three"})
        for sock, first in zip(socks, firsts, strict=True):
            seen = first + await messages_seen(sock, 2)
            assert [m["content"] for m in seen] == ["one", "two", "three"]
            assert seen[1]["id"] == silent
            assert_chained(seen)
            await sock.silent()  # no resync, nothing twice
            await sock.close()
    finally:
        for proc in procs:
            await proc.stop()


async def test_the_last_message_of_a_process_that_died_before_publishing_comes_at_its_restart(
    tmp_path: Path,
) -> None:
    """No later frame waits for a room's last message that was stored and never published;
    the restarted process announces itself on the bus and the others fill their rooms."""
    url = await need_postgres_and_redis()
    env = server_env(tmp_path, url)
    procs = await start_procs(tmp_path, env, 2)
    try:
        a, b = procs
        alice, bob, room_id = await shared_room(a, b)
        socks = [await alice.socket(join=(room_id,)), await bob.socket(join=(room_id,))]
        await socks[0].send({"type": "send_message", "room_id": room_id, "content": "one"})
        for sock in socks:
            await sock.expect("new_message")
        silent = await store_silently(url, room_id, "two")  # then its process was killed
        for sock in socks:
            await sock.silent(0.8)
        restarted = Proc("p2", env, tmp_path / "p2.log")
        procs.append(restarted)
        restarted.spawn()
        await restarted.ready()
        for sock in socks:
            message = (await sock.expect("new_message", timeout=5))["message"]
            assert message["id"] == silent
            await sock.silent()
            await sock.close()
    finally:
        for proc in procs:
            await proc.stop()
