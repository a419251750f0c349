"""Stopping an AI answer: cancel_ai from any member, clearing or deleting the room mid-stream.
ai_stream_end always follows ai_typing and reaches every joined socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import (
    Gate,
    GatedOpenRouter,
    held_text,
    next_stream,
    read_frames,
    read_until,
    room_messages,
    say,
    stored_rows,
    streams,
)
from conftest import TEST_DATABASE_URL, Actor, Register, Server, add_member, create_room
from fakes.openrouter import text_reply


async def test_any_member_can_cancel_and_the_partial_answer_is_kept(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    gate = Gate()
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    provider.queue(held_text("Half an ans", gate, "wer."))
    await say(a, room["id"], "@ai tell me everything")
    seen = {id(s): await read_until(s, "ai_stream_chunk") for s in (a, b)}
    await b.send({"type": "cancel_ai", "room_id": room["id"]})  # bob stops alice's question
    for sock in (a, b):
        (stream,) = streams(seen[id(sock)] + await read_frames(sock))
        assert stream.error == "Stopped by Bob."
        assert stream.message is not None
        assert stream.text == stream.message["content"] == "Half an ans"
        assert stream.message["ai"]["finish_reason"] == "cancelled"
    gate.open()
    rows = await stored_rows(server, room["id"])
    assert [(r.author_type, r.content) for r in rows] == [
        ("user", "@ai tell me everything"),
        ("ai", "Half an ans"),
    ]
    assert rows[1].ai_meta["finish_reason"] == "cancelled"
    # The room keeps working.
    provider.queue(text_reply("Short version: yes."))
    await say(a, room["id"], "@ai short version?")
    assert (await next_stream(b)).text == "Short version: yes."


async def test_cancel_stops_only_the_current_answer_not_the_queue(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    gate = Gate()
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    provider.queue(held_text("A long", gate, " story."), text_reply("Bob's answer."))
    await say(a, room["id"], "@ai tell a long story")
    await gate.reached.wait()
    await say(b, room["id"], "@ai and a short one?")
    await b.expect("new_message")
    await a.send({"type": "cancel_ai", "room_id": room["id"]})
    found = streams(await read_frames(b, ends=2))
    assert [(s.text, s.error) for s in found] == [
        ("A long", "Stopped by Alice."),
        ("Bob's answer.", None),
    ]
    gate.open()


async def test_cancel_before_any_text_stores_nothing(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    gate = Gate()
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    provider.queue(held_text("", gate, "Too late."))
    await say(a, room["id"], "@ai think hard")
    await gate.reached.wait()
    await a.send({"type": "cancel_ai", "room_id": room["id"]})
    for sock in (a, b):
        stream = await next_stream(sock)
        assert (stream.text, stream.message, stream.error) == ("", None, "Stopped by Alice.")
    gate.open()
    assert [r.author_type for r in await stored_rows(server, room["id"])] == ["user"]


async def test_an_outsider_cannot_cancel(
    http: httpx.AsyncClient,
    provider: GatedOpenRouter,
    register: Register,
    alice: Actor,
) -> None:
    dave = await register("dave")
    gate = Gate()
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    d = await dave.socket()
    provider.queue(held_text("Still ", gate, "here."))
    await say(a, room["id"], "@ai are you there?")
    await gate.reached.wait()
    await d.send({"type": "cancel_ai", "room_id": room["id"]})
    error = await d.recv()
    assert error["type"] == "error" and error["code"] == "not_found"
    gate.open()
    stream = await next_stream(a)
    assert stream.error is None and stream.text == "Still here."
    await d.silent()


async def test_cancel_with_nothing_streaming_does_nothing(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await a.send({"type": "cancel_ai", "room_id": room["id"]})
    await a.silent()
    provider.queue(text_reply("Fine."))
    await say(a, room["id"], "@ai ok?")
    assert (await next_stream(a)).text == "Fine."


async def test_clear_during_a_stream_ends_it_and_stores_nothing(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    gate = Gate()
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    provider.queue(held_text("Partial", gate, " rest."), text_reply("never asked"))
    await say(a, room["id"], "@ai first")
    await say(b, room["id"], "@ai second")  # waits in the queue; the clear drops it
    seen = {id(s): await read_until(s, "ai_stream_chunk") for s in (a, b)}
    resp = await http.post(f"/api/rooms/{room['id']}/clear", headers=alice.headers)
    assert resp.status_code == 204
    for sock in (a, b):
        frames = seen[id(sock)] + await read_until(sock, "room_cleared")
        (stream,) = streams(frames)
        assert stream.message is None and stream.error == "The room was cleared."
        assert frames[-2] == stream.end  # the end comes before room_cleared
    gate.open()
    await asyncio.gather(a.silent(), b.silent())
    assert await stored_rows(server, room["id"]) == []
    assert len(provider.chat_requests) == 1
    resp = await http.post(
        f"/api/rooms/{room['id']}/messages", json={"content": "fresh start"}, headers=bob.headers
    )
    assert resp.status_code == 201 and resp.json()["prev_hash"] is None


async def test_delete_during_a_stream_ends_it_for_every_socket(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    gate = Gate()
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    provider.queue(held_text("Partial", gate, " rest."))
    await say(a, room["id"], "@ai first")
    seen = {id(s): await read_until(s, "ai_stream_chunk") for s in (a, b)}
    resp = await http.delete(f"/api/rooms/{room['id']}", headers=alice.headers)
    assert resp.status_code == 204
    for sock in (a, b):
        frames = seen[id(sock)] + await read_until(sock, "room_deleted")
        (stream,) = streams(frames)
        assert stream.message is None and stream.error == "The room was deleted."
        assert frames[-2] == stream.end
    gate.open()
    await asyncio.gather(a.silent(), b.silent())
    assert await stored_rows(server, room["id"]) == []


def lock_waiters(lock: asyncio.Lock) -> int:
    """How many tasks wait for this lock (asyncio keeps them in a FIFO deque)."""
    return sum(not w.cancelled() for w in lock._waiters or ())  # type: ignore[attr-defined]


async def until(condition: Callable[[], bool], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.mark.skipif(
    TEST_DATABASE_URL is not None, reason="ordered through SQLite's in-process write lock"
)
async def test_an_answer_finishing_during_a_clear_is_not_stored(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor
) -> None:
    gate = Gate()
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    provider.queue(held_text("The answer", gate, " is 42."))
    await say(a, room["id"], "@ai the answer?")
    frames = await read_until(a, "ai_stream_chunk")
    db = server.services.db
    lock = db._write_lock
    assert lock is not None
    async with db.write():  # hold the writers back to line them up: the clear first
        clear = asyncio.create_task(
            http.post(f"/api/rooms/{room['id']}/clear", headers=alice.headers)
        )
        # the clear waits to write (the stopped answer's ledger row may wait there too)
        await until(lambda: lock_waiters(lock) >= 1)
        await a.send({"type": "ping"})
        frames += await read_until(a, "pong")  # all the server sent alice so far
        gate.open()
        if not any(f["type"] == "ai_stream_end" for f in frames):
            # The AI was not stopped before the clear: its answer completes now and
            # queues to store itself right after the clear's delete.
            await until(lambda: lock_waiters(lock) >= 2)
    assert (await clear).status_code == 204
    frames += await read_until(a, "room_cleared")
    (stream,) = streams(frames)
    assert stream.message is None, "the answer was stored after the clear"
    assert await stored_rows(server, room["id"]) == []
    assert await room_messages(http, alice, room["id"]) == []
