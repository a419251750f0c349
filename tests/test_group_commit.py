"""Group commit: many posters in many rooms at once, every chain intact, events in commit order.

The post writer (store/post_writer.py) stores whatever posts are waiting in one transaction.
These tests post concurrently over REST and WebSocket and check, from the outside, that each
room's chain verifies, that every socket hears each room's messages in chain order, and that a
post which cannot be stored fails alone.
"""

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
    Socket,
    add_member,
    create_room,
    make_settings,
    reset_postgres,
    sign_up,
    start_server,
)
from conftest import post_message as post
from groupchat.ids import decode_id, new_id
from groupchat.schemas import UserPublic
from groupchat.store.post_batch import NewPost
from test_hashchain import assert_linear, history, links, stored_links, verify

ROOMS = 5
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # ULIDs: Crockford base32


async def shared_rooms(http: httpx.AsyncClient, owner: Actor, *others: Actor) -> list[str]:
    rooms = []
    for i in range(ROOMS):
        room = await create_room(http, owner, name=f"room {i}")
        for who in others:
            await add_member(http, room, owner, who)
        rooms.append(room["id"])
    return rooms


async def heard(sock: Socket, count: int) -> list[dict[str, Any]]:
    return [(await sock.expect("new_message"))["message"] for _ in range(count)]


def assert_chain_order(frames: list[dict[str, Any]], room_id: str) -> None:
    """A socket heard this room's messages exactly in chain (commit) order."""
    prev = None
    for message in (m for m in frames if m["room_id"] == room_id):
        assert message["prev_hash"] == prev, "an event arrived out of commit order"
        prev = message["hash"]


async def test_many_posters_in_many_rooms_keep_every_chain_and_are_heard_in_commit_order(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    people = (alice, bob, carol)
    rooms = await shared_rooms(http, alice, bob, carol)
    socks = [await who.socket(join=tuple(rooms)) for who in people]

    rest = [
        post(http, who, room_id, f"{who.name} rest {i} in {n}")
        for i in range(5)
        for n, room_id in enumerate(rooms)
        for who in people
    ]
    frames = [
        sock.send({"type": "send_message", "room_id": room_id, "content": f"ws {i} in {n}"})
        for i in range(4)
        for n, room_id in enumerate(rooms)
        for sock in socks
    ]
    answers, _ = await asyncio.gather(asyncio.gather(*rest), asyncio.gather(*frames))
    total = len(rest) + len(frames)
    received = await asyncio.gather(*(heard(sock, total) for sock in socks))

    stored: dict[str, dict[str, Any]] = {}
    for room_id in rooms:
        messages = await history(http, carol, room_id)
        assert len(messages) == total // ROOMS
        assert messages[0]["prev_hash"] is None
        verify(messages)
        assert_linear(messages)
        assert await stored_links(server, room_id) == links(messages)
        stored.update((m["id"], m) for m in messages)
        for frames_heard in received:
            assert_chain_order(frames_heard, room_id)
    assert all(stored[answer["id"]] == answer for answer in answers)  # 201 = what was stored
    for frames_heard in received:
        assert sorted(m["id"] for m in frames_heard) == sorted(stored)
    await asyncio.gather(*(sock.silent() for sock in socks))


async def test_a_room_deleted_while_posts_wait_fails_only_the_posts_to_it(
    http, alice: Actor, bob: Actor
) -> None:
    doomed = await create_room(http, alice, name="doomed")
    kept = await create_room(http, alice, name="kept")
    for room in (doomed, kept):
        await add_member(http, room, alice, bob)
    bob_sock = await bob.socket(join=(kept["id"],))

    async def bob_posts(room_id: str, content: str) -> int:
        resp = await http.post(
            f"/api/rooms/{room_id}/messages", json={"content": content}, headers=bob.headers
        )
        return resp.status_code

    jobs = [bob_posts(room["id"], f"{i}") for i in range(20) for room in (doomed, kept)]
    jobs.insert(20, http.delete(f"/api/rooms/{doomed['id']}", headers=alice.headers))
    results = await asyncio.gather(*jobs)

    deleted = results.pop(20)
    assert deleted.status_code == 204, deleted.text
    assert set(results[0::2]) <= {201, 404}, results
    assert results[1::2] == [201] * 20
    messages = await history(http, bob, kept["id"])
    verify(messages)
    assert sorted(m["content"] for m in messages) == sorted(f"{i}" for i in range(20))
    assert await heard(bob_sock, 20) == messages
    assert (await bob_posts(doomed["id"], "anyone?")) == 404


async def test_the_writer_sees_what_other_connections_change_at_once(
    http, alice: Actor, bob: Actor
) -> None:
    """The SQLite writer keeps the rooms and roles it read while nothing else commits
    (post_batch.KnownRooms): a removal, a clear and a new member made elsewhere count at once."""
    room = await create_room(http, alice)
    url = f"/api/rooms/{room['id']}"

    async def status(who: Actor, content: str) -> int:
        resp = await http.post(f"{url}/messages", json={"content": content}, headers=who.headers)
        return resp.status_code

    await add_member(http, room, alice, bob)
    assert await status(bob, "before") == 201
    resp = await http.delete(f"{url}/members/{bob.user['id']}", headers=alice.headers)
    assert resp.status_code == 204, resp.text
    assert await status(bob, "after the removal") == 404
    assert await status(alice, "before the clear") == 201
    resp = await http.post(f"{url}/clear", headers=alice.headers)
    assert resp.status_code == 204, resp.text
    assert await status(alice, "after the clear") == 201
    await add_member(http, room, alice, bob)
    assert await status(bob, "back") == 201
    messages = await history(http, alice, room["id"])
    assert [m["content"] for m in messages] == ["after the clear", "back"]
    verify(messages)


async def test_a_post_that_cannot_be_stored_fails_alone(http, server: Server, alice: Actor) -> None:
    """Posts queued together share a transaction; one that breaks it is retried alone and
    fails, and the others are stored (here: an author that no longer exists)."""
    room = await create_room(http, alice)
    author = UserPublic.model_validate({k: alice.user[k] for k in UserPublic.model_fields})
    ghost = author.model_copy(update={"id": new_id()})

    def make(content: str, who: UserPublic) -> NewPost:
        return NewPost(room["id"], "user", content, f"<p>{content}</p>", author=who)

    posts = [make(f"line {i}", author) for i in range(10)]
    posts.insert(5, make("from nobody", ghost))
    outcomes = await asyncio.gather(
        *(server.services.posts.submit(p) for p in posts), return_exceptions=True
    )

    failed = outcomes.pop(5)
    assert isinstance(failed, Exception)
    messages = await history(http, alice, room["id"])
    assert [m["content"] for m in messages] == [f"line {i}" for i in range(10)]
    assert [o.message.model_dump(mode="json") for o in outcomes] == messages  # type: ignore[union-attr]
    verify(messages)


async def test_two_servers_post_to_many_rooms_at_once(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    """Two processes' writers lock rooms in one order: no deadlock, one chain per room."""
    rooms = await shared_rooms(http, alice, bob)
    other = await start_server(server.settings)
    try:
        async with httpx.AsyncClient(base_url=other.base_url, timeout=20) as http2:
            jobs = [
                post(client, who, room_id, f"{who.name} {i}")
                for i in range(6)
                for room_id in rooms
                for client, who in ((http, alice), (http2, bob))
            ]
            await asyncio.gather(*jobs)
    finally:
        await other.stop()
    for room_id in rooms:
        messages = await history(http, alice, room_id)
        assert len(messages) == 12
        verify(messages)
        assert_linear(messages)


@pytest.mark.parametrize("ahead_ms", [0, 5_000])
def test_new_ids_sort_after_a_head_written_by_another_process(ahead_ms: int) -> None:
    """Its clock ahead of ours, or the same millisecond with a larger random part."""
    theirs = _shifted(new_id(), ahead_ms)
    ours = new_id(after=theirs)
    assert theirs < ours < new_id()


def _shifted(message_id: str, ahead_ms: int) -> str:
    value = decode_id(message_id) + (ahead_ms << 80) + (1 << 60)
    return "".join(ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


@pytest.mark.skipif(TEST_DATABASE_URL is not None, reason="SQLite only")
async def test_sqlite_synchronous_full_fsyncs_every_commit(tmp_path: Path) -> None:
    server = await start_server(make_settings(tmp_path, sqlite_synchronous="full"))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            alice = await sign_up(http, server, "alice")
            room = await create_room(http, alice)
            posted = await asyncio.gather(
                *(post(http, alice, room["id"], f"{i}") for i in range(5))
            )
            assert sorted(m["id"] for m in posted) == [
                m["id"] for m in await history(http, alice, room["id"])
            ]
        async with server.services.db.read() as conn:
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    finally:
        await server.stop()


async def test_without_group_commit_each_post_has_its_own_transaction(tmp_path: Path) -> None:
    """GROUP_COMMIT=false (the v1 path, kept to compare with) answers exactly the same."""
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    server = await start_server(make_settings(tmp_path, group_commit=False))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            alice, bob, carol = [await sign_up(http, server, n) for n in ("alice", "bob", "carol")]
            room = await create_room(http, alice, is_public=True)
            await add_member(http, room, alice, bob)
            posted = await asyncio.gather(
                *(
                    post(http, who, room["id"], f"{who.name} {i}")
                    for i in range(6)
                    for who in (alice, bob)
                )
            )
            outsider = await http.post(
                f"/api/rooms/{room['id']}/messages", json={"content": "hi"}, headers=carol.headers
            )
            messages = await history(http, carol, room["id"])
        assert outsider.status_code == 403  # a public room: join it first
        assert sorted(m["id"] for m in posted) == [m["id"] for m in messages]
        verify(messages)
        assert_linear(messages)
    finally:
        await server.stop()
