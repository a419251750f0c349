"""The per-room hash chain, checked from the outside with the canonical form of docs/hash-chain.md.

The verifier below is written from the documentation, not imported from groupchat.hashchain:
anyone holding the API's Message objects must be able to recompute every hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import Actor, Server, Socket, add_member, create_room
from conftest import post_message as post
from groupchat.db import tables

DOC = Path(__file__).resolve().parent.parent / "docs" / "hash-chain.md"


def recompute(message: dict[str, Any]) -> str:
    """SHA-256 of the documented canonical JSON of a Message object (v1, or v2 unedited)."""
    author = message["author"]
    if message["chain_v"] == 2:
        salted = (message["salt"] + message["content"]).encode("utf-8")
        reply = message["reply_to"]
        fields = {
            "author_id": None if author is None else author["id"],
            "author_type": message["author_type"],
            "content_sha256": hashlib.sha256(salted).hexdigest(),
            "created_at": message["created_at"],
            "id": message["id"],
            "image_url": message["image_url"],
            "kind": "message",
            "prev_hash": message["prev_hash"],
            "reply_to": None if reply is None else reply["id"],
            "room_id": message["room_id"],
            "target_id": None,
            "v": 2,
        }
        text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    fields = {
        "author_id": None if author is None else author["id"],
        "author_type": message["author_type"],
        "content": message["content"],
        "created_at": message["created_at"],
        "id": message["id"],
        "image_url": message["image_url"],
        "prev_hash": message["prev_hash"],
        "room_id": message["room_id"],
        "v": 1,
    }
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class BrokenChain(AssertionError):
    """The chain does not verify; `message_id` is the first message that fails."""

    def __init__(self, message_id: str, why: str) -> None:
        super().__init__(f"{message_id}: {why}")
        self.message_id, self.why = message_id, why


def verify(messages: list[dict[str, Any]]) -> None:
    """A room's messages, oldest first, form an unbroken chain starting at null."""
    prev = None
    for message in messages:
        if message["prev_hash"] != prev:
            raise BrokenChain(message["id"], "link")
        if recompute(message) != message["hash"]:
            raise BrokenChain(message["id"], "hash")
        prev = message["hash"]


async def history(http: httpx.AsyncClient, actor: Actor, room_id: str) -> list[dict[str, Any]]:
    """Every message of a room, oldest first, paging backwards."""
    messages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        resp = await http.get(
            f"/api/rooms/{room_id}/messages", params=params, headers=actor.headers
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        messages = body["messages"] + messages
        if not body["has_more"]:
            return messages
        params["before"] = messages[0]["id"]


async def send(sock: Socket, room_id: str, content: str) -> None:
    await sock.send({"type": "send_message", "room_id": room_id, "content": content})


async def collect(sock: Socket, count: int) -> list[dict[str, Any]]:
    """The next `count` messages this socket is sent."""
    return [(await sock.expect("new_message"))["message"] for _ in range(count)]


async def stored_links(server: Server, room_id: str) -> list[tuple[str, str, str | None]]:
    query = (
        sa.select(tables.messages.c.id, tables.messages.c.hash, tables.messages.c.prev_hash)
        .where(tables.messages.c.room_id == room_id)
        .order_by(tables.messages.c.id)
    )
    async with server.services.db.read() as conn:
        return [tuple(row) for row in (await conn.execute(query)).all()]  # type: ignore[misc]


def links(messages: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(m["id"], m["hash"], m["prev_hash"]) for m in messages]


def assert_linear(messages: list[dict[str, Any]]) -> None:
    """No fork: every prev_hash (null included) is used once, and ids are in order."""
    prevs = [m["prev_hash"] for m in messages]
    assert len(set(prevs)) == len(prevs), "two messages share a prev_hash"
    assert len({m["hash"] for m in messages}) == len(messages)
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)


async def test_sixty_messages_over_rest_and_websocket_form_one_chain(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor, png_bytes: bytes
) -> None:
    room = await create_room(http, alice)
    room_id = room["id"]
    await add_member(http, room, alice, bob)
    await add_member(http, room, alice, carol)
    people = (alice, bob, carol)
    socks = [await who.socket(join=(room_id,)) for who in people]
    upload = await http.post(
        "/api/upload", files={"file": ("p.png", png_bytes, "image/png")}, headers=bob.headers
    )
    image_url = upload.json()["url"]
    resp = await http.post(
        f"/api/rooms/{room_id}/messages",
        json={"content": "", "image_url": image_url},
        headers=bob.headers,
    )
    assert resp.status_code == 201, resp.text
    await post(http, carol, room_id, 'quote " back\\slash\nnew line\ttab é 語 😀 \u2028 </p>')
    for i in range(8):  # 10 sequential REST posts in all
        await post(http, people[i % 3], room_id, f"rest {i}")
    for i in range(5):  # 15 over the sockets, interleaved
        for n, sock in enumerate(socks):
            await send(sock, room_id, f"ws {n}.{i}")
    await asyncio.gather(*(post(http, people[i % 3], room_id, f"burst {i}") for i in range(20)))
    mixed = [post(http, people[i % 3], room_id, f"mixed rest {i}") for i in range(6)]
    mixed += [
        send(sock, room_id, f"mixed ws {n}.{i}") for i in range(3) for n, sock in enumerate(socks)
    ]
    await asyncio.gather(*mixed)

    received = await asyncio.gather(*(collect(sock, 60) for sock in socks))
    messages = await history(http, alice, room_id)

    assert len(messages) == 60
    assert messages[0]["prev_hash"] is None
    verify(messages)
    assert_linear(messages)
    assert {m["author"]["id"] for m in messages} == {who.id for who in people}
    assert any(m["image_url"] == image_url for m in messages)
    assert await stored_links(server, room_id) == links(messages)
    for frames in received:  # every socket got all 60, each equal to the stored message
        assert sorted(frames, key=lambda m: m["id"]) == messages
    await asyncio.gather(*(sock.silent() for sock in socks))


async def test_concurrent_posting_never_forks_the_chain(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    await add_member(http, room, alice, carol)
    people = (alice, bob, carol)

    posted = await asyncio.gather(
        *(post(http, people[i % 3], room["id"], f"at once {i}") for i in range(36))
    )

    messages = await history(http, bob, room["id"])
    assert sorted(m["id"] for m in posted) == [m["id"] for m in messages]
    assert_linear(messages)
    verify(messages)
    assert await stored_links(server, room["id"]) == links(messages)


async def test_two_servers_on_one_database_keep_one_chain(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    """Two server instances (as behind a load balancer) append to the same room at once."""
    from conftest import start_server

    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    other = await start_server(server.settings)
    try:
        async with httpx.AsyncClient(base_url=other.base_url, timeout=10) as http2:
            jobs = [post(http, alice, room["id"], f"one {i}") for i in range(15)]
            jobs += [post(http2, bob, room["id"], f"two {i}") for i in range(15)]
            await asyncio.gather(*jobs)
    finally:
        await other.stop()

    messages = await history(http, alice, room["id"])
    assert len(messages) == 30
    assert_linear(messages)
    verify(messages)


async def test_clearing_restarts_the_chain_at_null(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    bob_sock = await bob.socket(join=(room["id"],))
    old = [await post(http, alice, room["id"], f"before {i}") for i in range(3)]
    await collect(bob_sock, 3)

    resp = await http.post(f"/api/rooms/{room['id']}/clear", headers=alice.headers)

    assert resp.status_code == 204, resp.text
    assert await bob_sock.expect("room_cleared") == {"type": "room_cleared", "room_id": room["id"]}
    assert await stored_links(server, room["id"]) == []
    first = await post(http, bob, room["id"], "fresh start")
    assert first["prev_hash"] is None
    later = [await post(http, alice, room["id"], f"after {i}") for i in range(3)]
    messages = await history(http, alice, room["id"])
    assert messages == [first, *later]
    verify(messages)
    assert later[0]["prev_hash"] == first["hash"]
    for message in old:
        gone = await http.get(f"/api/messages/hash/{message['hash']}", headers=alice.headers)
        assert gone.status_code == 404
    assert await collect(bob_sock, 4) == messages


async def test_each_room_has_its_own_chain(http, alice: Actor, bob: Actor) -> None:
    kitchen = await create_room(http, alice, name="kitchen")
    garden = await create_room(http, bob, name="garden")
    await add_member(http, kitchen, alice, bob)
    await add_member(http, garden, bob, alice)

    jobs = []
    for i in range(8):
        jobs.append(post(http, alice if i % 2 else bob, kitchen["id"], f"k{i}"))
        jobs.append(post(http, bob if i % 2 else alice, garden["id"], f"g{i}"))
    await asyncio.gather(*jobs)

    chains = [await history(http, alice, room["id"]) for room in (kitchen, garden)]
    for chain in chains:
        assert len(chain) == 8 and chain[0]["prev_hash"] is None
        verify(chain)
        assert_linear(chain)
    kitchen_hashes = {m["hash"] for m in chains[0]}
    assert not kitchen_hashes & {m["prev_hash"] for m in chains[1]}


async def tamper(server: Server, message_id: str, **values: Any) -> None:
    async with server.services.db.write() as conn:
        await conn.execute(
            tables.messages.update().where(tables.messages.c.id == message_id).values(**values)
        )


async def test_the_verifier_catches_tampering(http, server: Server, alice: Actor) -> None:
    room = await create_room(http, alice)
    posted = [await post(http, alice, room["id"], f"entry {i}") for i in range(5)]
    verify(await history(http, alice, room["id"]))

    await tamper(server, posted[2]["id"], content="entry 2 (edited)")
    with pytest.raises(BrokenChain) as caught:
        verify(await history(http, alice, room["id"]))
    assert (caught.value.message_id, caught.value.why) == (posted[2]["id"], "hash")

    # A forger who also recomputes the edited message's hash breaks the next link instead.
    forged = {**posted[2], "content": "entry 2 (edited)"}
    await tamper(server, posted[2]["id"], hash=recompute(forged))
    with pytest.raises(BrokenChain) as caught:
        verify(await history(http, alice, room["id"]))
    assert (caught.value.message_id, caught.value.why) == (posted[3]["id"], "link")

    await tamper(server, posted[2]["id"], content="entry 2", hash=posted[2]["hash"])
    verify(await history(http, alice, room["id"]))
    async with server.services.db.write() as conn:
        await conn.execute(tables.messages.delete().where(tables.messages.c.id == posted[1]["id"]))
    with pytest.raises(BrokenChain) as caught:
        verify(await history(http, alice, room["id"]))
    assert (caught.value.message_id, caught.value.why) == (posted[2]["id"], "link")


def documented_code() -> str:
    """The Python block of docs/hash-chain.md."""
    match = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert match, "docs/hash-chain.md has no python block"
    return match.group(1)


async def test_the_documented_snippet_verifies_real_messages(
    http, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    for i, who in enumerate((alice, bob, alice)):
        await post(http, who, room["id"], f"line {i}\n  «quoted» ")
    messages = await history(http, bob, room["id"])
    namespace: dict[str, Any] = {}
    exec(compile(documented_code(), str(DOC), "exec"), namespace)

    namespace["verify_chain"](messages)
    assert [namespace["message_hash"](m) for m in messages] == [m["hash"] for m in messages]
    with pytest.raises(ValueError):
        namespace["verify_chain"]([{**messages[0], "content": "line 0"}, *messages[1:]])
    example = re.search(r"```\n(\{.*?\})\n```\n\nwhose hash is `([0-9a-f]{64})`", DOC.read_text())
    assert example, "the worked example is missing"
    assert hashlib.sha256(example.group(1).encode()).hexdigest() == example.group(2)
