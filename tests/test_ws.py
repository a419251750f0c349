"""The WebSocket protocol: joining, typing, sending, errors that keep the socket, limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets

from conftest import Actor, Register, Server, Socket, add_member, create_room
from groupchat.db import tables
from groupchat.realtime.ws import FRAME_BURST


def public(actor: Actor) -> dict[str, Any]:
    keys = ("id", "username", "display_name", "avatar_url", "nostr_pubkey")
    return {key: actor.user[key] for key in keys}


async def stored_contents(server: Server, room_id: str) -> list[str]:
    query = (
        sa.select(tables.messages.c.content)
        .where(tables.messages.c.room_id == room_id)
        .order_by(tables.messages.c.id)
    )
    async with server.services.db.read() as conn:
        return list((await conn.execute(query)).scalars())


async def history(http: httpx.AsyncClient, actor: Actor, room_id: str) -> list[dict[str, Any]]:
    resp = await http.get(
        f"/api/rooms/{room_id}/messages", params={"limit": 200}, headers=actor.headers
    )
    assert resp.status_code == 200, resp.text
    messages: list[dict[str, Any]] = resp.json()["messages"]
    return messages


async def expect_error(sock: Socket, code: str) -> dict[str, Any]:
    frame = await sock.recv()
    assert frame["type"] == "error" and frame["code"] == code, frame
    assert set(frame) - {"client_id"} == {"type", "code", "detail"}, frame
    assert isinstance(frame["detail"], str), frame
    return frame


async def ping(sock: Socket) -> None:
    """The socket still answers."""
    await sock.send({"type": "ping"})
    assert await sock.recv() == {"type": "pong"}


async def all_silent(*socks: Socket) -> None:
    """None of these sockets receives anything (checked at the same time)."""
    await asyncio.gather(*(sock.silent() for sock in socks))


async def closed_with(sock: Socket) -> int:
    """Read until the server closes the socket; the close code it sent."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await sock.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def send_frame(room_id: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"type": "send_message", "room_id": room_id, "content": content, **extra}


async def test_join_only_rooms_you_are_a_member_of(http, alice: Actor, bob: Actor) -> None:
    mine = await create_room(http, alice, name="mine")
    bobs = await create_room(http, bob, name="bob's")
    lobby = await create_room(http, bob, name="lobby", is_public=True)
    sock = await alice.socket()

    await sock.send({"type": "join_room", "room_id": mine["id"]})
    assert await sock.recv() == {"type": "joined", "room_id": mine["id"]}
    for room_id in (bobs["id"], lobby["id"], "01NOSUCHROOM0000000000000"):
        await sock.send({"type": "join_room", "room_id": room_id})
        await expect_error(sock, "not_found")
    await ping(sock)

    # Alice did not get into bob's rooms: nothing he says there reaches her.
    bob_sock = await bob.socket(join=(bobs["id"], lobby["id"]))
    await bob_sock.send(send_frame(bobs["id"], "private"))
    await bob_sock.send(send_frame(lobby["id"], "public"))
    assert (await bob_sock.expect("new_message"))["message"]["content"] == "private"
    assert (await bob_sock.expect("new_message"))["message"]["content"] == "public"
    await sock.silent()


async def test_leaving_a_room_stops_delivery(http, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    alice_sock = await alice.socket(join=(room["id"],))
    bob_sock = await bob.socket(join=(room["id"],))

    await bob_sock.send({"type": "leave_room", "room_id": room["id"]})
    await ping(bob_sock)  # the leave was handled before this answer
    await alice_sock.send(send_frame(room["id"], "anyone there?"))

    assert (await alice_sock.expect("new_message"))["message"]["content"] == "anyone there?"
    await bob_sock.silent()
    await bob_sock.join(room["id"])
    await alice_sock.send(send_frame(room["id"], "welcome back"))
    assert (await bob_sock.expect("new_message"))["message"]["content"] == "welcome back"


async def test_typing_reaches_other_members_never_the_typist(
    http, alice: Actor, bob: Actor, carol: Actor, register: Register
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    await add_member(http, room, alice, carol)
    dave = await register("dave")
    typing_sock = await alice.socket(join=(room["id"],))
    other_tab = await alice.socket(join=(room["id"],))
    bob_sock = await bob.socket(join=(room["id"],))
    carol_unjoined = await carol.socket()
    dave_sock = await dave.socket()

    for is_typing in (True, False):
        await typing_sock.send({"type": "typing", "room_id": room["id"], "is_typing": is_typing})
        assert await bob_sock.recv() == {
            "type": "user_typing",
            "room_id": room["id"],
            "user": public(alice),
            "is_typing": is_typing,
        }
    await bob_sock.send({"type": "typing", "room_id": room["id"], "is_typing": True})
    for sock in (typing_sock, other_tab):
        frame = await sock.recv()
        assert frame["type"] == "user_typing" and frame["user"] == public(bob), frame
    await all_silent(typing_sock, other_tab, bob_sock, carol_unjoined, dave_sock)

    await dave_sock.send({"type": "typing", "room_id": room["id"], "is_typing": True})
    await expect_error(dave_sock, "not_found")
    await bob_sock.silent()


async def test_send_message_reaches_every_joined_socket(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    await add_member(http, room, alice, carol)
    sender = await alice.socket(join=(room["id"],))
    other_tab = await alice.socket(join=(room["id"],))
    bob_socks = [await bob.socket(join=(room["id"],)) for _ in range(2)]
    carol_unjoined = await carol.socket()

    await sender.send(send_frame(room["id"], "  hello *all*  ", client_id="c-1"))

    mine = await sender.recv()
    assert mine["type"] == "new_message" and mine["client_id"] == "c-1"
    message = mine["message"]
    assert (message["content"], message["content_html"]) == (
        "hello *all*",
        "<p>hello <em>all</em></p>\n",
    )
    assert message["author"] == public(alice) and message["author_type"] == "user"
    # client_id goes back to the sending user's sockets only (it names her pending message).
    assert await other_tab.recv() == mine
    for sock in bob_socks:
        assert await sock.recv() == {"type": "new_message", "message": message}
    await carol_unjoined.silent()
    assert await history(http, carol, room["id"]) == [message]
    assert await stored_contents(server, room["id"]) == ["hello *all*"]

    await sender.send(send_frame(room["id"], "no id this time"))
    assert "client_id" not in await sender.recv()


async def test_rest_posts_are_delivered_over_websocket(http, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    alice_sock = await alice.socket(join=(room["id"],))
    bob_sock = await bob.socket(join=(room["id"],))

    resp = await http.post(
        f"/api/rooms/{room['id']}/messages", json={"content": "via REST"}, headers=alice.headers
    )

    assert resp.status_code == 201
    for sock in (alice_sock, bob_sock):
        assert await sock.recv() == {"type": "new_message", "message": resp.json()}
    await all_silent(alice_sock, bob_sock)


async def test_sending_needs_membership(http, server: Server, alice: Actor, bob: Actor) -> None:
    private = await create_room(http, alice, name="private")
    lobby = await create_room(http, alice, name="lobby", is_public=True)
    alice_sock = await alice.socket(join=(private["id"], lobby["id"]))
    bob_sock = await bob.socket()

    for room in (private, lobby):
        await bob_sock.send(send_frame(room["id"], "sneaking in"))
        await expect_error(bob_sock, "not_found")
        await bob_sock.send({"type": "cancel_ai", "room_id": room["id"]})
        await expect_error(bob_sock, "not_found")
    await alice_sock.silent()
    assert await stored_contents(server, private["id"]) == []
    assert await stored_contents(server, lobby["id"]) == []


async def test_message_content_rules_apply_over_websocket(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    alice_sock = await alice.socket(join=(room["id"],))
    bob_sock = await bob.socket(join=(room["id"],))

    for content in ("x" * 8001, "", "  \n ", "bad\x00byte"):
        await alice_sock.send(send_frame(room["id"], content, client_id="c"))
        await expect_error(alice_sock, "bad_request")
    await alice_sock.send(send_frame(room["id"], "", image_url="https://example.com/a.png"))
    await expect_error(alice_sock, "bad_request")
    await alice_sock.send(send_frame(room["id"], " " + "y" * 8000 + " "))
    assert (await alice_sock.recv())["message"]["content"] == "y" * 8000
    assert (await bob_sock.recv())["message"]["content"] == "y" * 8000
    await bob_sock.silent()
    assert await stored_contents(server, room["id"]) == ["y" * 8000]


async def test_a_bad_token_is_closed_with_4401(server: Server, alice: Actor) -> None:
    for query in ("", "?token=", "?token=garbage", f"?token={alice.token}x"):
        async with websockets.connect(server.ws_url + query, proxy=None) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, query


async def test_ping_pong(alice: Actor) -> None:
    sock = await alice.socket()
    await sock.send({"type": "ping"})
    assert await sock.recv() == {"type": "pong"}
    await sock.silent()


BAD_FRAMES = [
    "not json",
    '{"type": "ping"',
    "",
    "[]",
    '[{"type": "ping"}]',
    '"ping"',
    "null",
    "42",
    "{}",
    '{"type": "nope"}',
    '{"type": null}',
    '{"type": 5}',
    '{"type": "join_room"}',
    '{"type": "join_room", "room_id": 5}',
    '{"type": "join_room", "room_id": ""}',
    '{"type": "join_room", "room_id": null}',
    '{"type": "typing", "room_id": "R"}',
    '{"type": "typing", "room_id": "R", "is_typing": "yes"}',
    '{"type": "typing", "room_id": "R", "is_typing": 1}',
    '{"type": "send_message", "room_id": "R"}',
    '{"type": "send_message", "room_id": "R", "content": 5}',
    '{"type": "send_message", "room_id": "R", "content": "hi", "client_id": 7}',
    '{"type": "send_message", "room_id": "R", "content": "hi", "image_url": []}',
    '{"type": "leave_room"}',
    '{"type": "cancel_ai", "room_id": {}}',
    "[" * 20000 + "]" * 20000,
    '{"type": "ping", "n": ' + "9" * 5000 + "}",
]


async def test_malformed_frames_get_bad_request_and_the_socket_stays_open(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    bob_sock = await bob.socket(join=(room["id"],))
    sock = await alice.socket()
    for n, raw in enumerate(BAD_FRAMES):
        if n and n % 9 == 0:  # stay under the rate limit: a fresh socket every 9 cases
            await sock.close()
            sock = await alice.socket()
        await sock.send(raw.replace('"R"', json.dumps(room["id"])))
        error = await expect_error(sock, "bad_request")
        assert len(error["detail"]) < 300, error
        await ping(sock)
    await bob_sock.silent()
    assert await stored_contents(server, room["id"]) == []


async def test_a_binary_frame_is_a_bad_request(alice: Actor) -> None:
    sock = await alice.socket()
    await sock.ws.send(json.dumps({"type": "ping"}).encode())
    await expect_error(sock, "bad_request")
    await ping(sock)


async def test_a_frame_over_64_kib_closes_the_socket_with_1009(http, alice: Actor) -> None:
    room = await create_room(http, alice)
    sock = await alice.socket(join=(room["id"],))
    skeleton = json.dumps({"type": "ping", "pad": ""})
    at_limit = json.dumps({"type": "ping", "pad": "p" * (64 * 1024 - len(skeleton))})
    assert len(at_limit.encode()) == 64 * 1024
    await sock.send(at_limit)
    assert await sock.recv() == {"type": "pong"}

    over = json.dumps(send_frame(room["id"], "é" * (33 * 1024)))
    assert len(over.encode()) > 64 * 1024
    await sock.send(over)
    assert await closed_with(sock) == 1009

    fresh = await alice.socket(join=(room["id"],))
    await ping(fresh)
    assert await history(http, alice, room["id"]) == []


async def test_a_burst_of_frames_is_rate_limited(alice: Actor) -> None:
    sock = await alice.socket()
    for _ in range(40):
        await sock.send({"type": "ping"})
    answers = [await sock.recv() for _ in range(40)]

    limited = [a for a in answers if a["type"] == "error"]
    assert limited, "40 pings at once were all answered"
    assert all(a["code"] == "rate_limited" for a in limited), limited
    assert answers.count({"type": "pong"}) + len(limited) == 40
    assert answers.count({"type": "pong"}) >= FRAME_BURST
    await sock.silent()  # the bucket refills (FRAMES_PER_SECOND)
    await ping(sock)


async def test_rejoining_many_rooms_after_a_reconnect_is_not_rate_limited(
    http, alice: Actor
) -> None:
    """The web client joins every room on (re)connect: a user in 30 rooms must get all 30."""
    rooms = [await create_room(http, alice, name=f"room {i}") for i in range(30)]
    sock = await alice.socket()
    for room in rooms:
        await sock.send({"type": "join_room", "room_id": room["id"]})
    for room in rooms:
        assert await sock.recv() == {"type": "joined", "room_id": room["id"]}
    await sock.send(send_frame(rooms[-1]["id"], "made it"))
    assert (await sock.recv())["message"]["content"] == "made it"


async def test_two_people_talk_and_see_everything_in_order(http, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    alice_sock = await alice.socket(join=(room["id"],))
    bob_sock = await bob.socket(join=(room["id"],))

    await alice_sock.send({"type": "typing", "room_id": room["id"], "is_typing": True})
    for i in range(20):
        await alice_sock.send(send_frame(room["id"], f"alice {i}", client_id=f"a{i}"))
    bob_got = [await bob_sock.recv() for _ in range(21)]
    alice_got = [await alice_sock.recv() for _ in range(20)]

    assert bob_got[0]["type"] == "user_typing" and bob_got[0]["is_typing"] is True
    assert [f["message"]["content"] for f in bob_got[1:]] == [f"alice {i}" for i in range(20)]
    assert [f["client_id"] for f in alice_got] == [f"a{i}" for i in range(20)]
    assert [f["message"] for f in alice_got] == [f["message"] for f in bob_got[1:]]

    await bob_sock.send({"type": "typing", "room_id": room["id"], "is_typing": True})
    for i in range(5):
        await bob_sock.send(send_frame(room["id"], f"bob {i}"))
    alice_later = [await alice_sock.recv() for _ in range(6)]
    assert alice_later[0]["type"] == "user_typing" and alice_later[0]["user"] == public(bob)
    assert [f["message"]["content"] for f in alice_later[1:]] == [f"bob {i}" for i in range(5)]

    bob_echoes = [await bob_sock.recv() for _ in range(5)]
    assert [f["message"] for f in bob_echoes] == [f["message"] for f in alice_later[1:]]
    everything = [f["message"] for f in bob_got[1:] + alice_later[1:]]
    assert await history(http, bob, room["id"]) == everything
    await all_silent(alice_sock, bob_sock)


async def test_a_refused_message_names_its_client_id(http, alice: Actor) -> None:
    room = await create_room(http, alice)
    sock = await alice.socket(join=(room["id"],))
    await sock.send(send_frame(room["id"], "x" * 8001, client_id="draft-7"))
    error = await sock.recv()
    assert error["type"] == "error" and error["code"] == "bad_request"
    assert error["client_id"] == "draft-7"
    await sock.send(send_frame("no-such-room", "hello"))
    error = await sock.recv()
    assert error["code"] == "not_found" and "client_id" not in error


async def test_a_burst_of_posts_with_lookups_and_errors_is_stored_in_order(
    http, alice: Actor, bob: Actor
) -> None:
    """Plain posts are queued without waiting for the one before to be stored; one that
    mentions someone or answers a message reads the database first. Whatever the mix, the
    room stores them in the order sent, and every client_id gets exactly one answer."""
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    sock = await alice.socket(join=(room["id"],))
    await sock.send(send_frame(room["id"], "first", client_id="c0"))
    first = (await sock.expect("new_message"))["message"]
    texts = ["plain 1", "hi @bob", "plain 2", "", "plain 3", "answer", "plain 4"]
    for i, text in enumerate(texts, start=1):
        frame = send_frame(room["id"], text, client_id=f"c{i}")
        if text == "answer":
            frame["reply_to"] = first["id"]
        await sock.send(frame)
    answers = {}
    for _ in texts:
        frame = await sock.recv()
        assert frame["type"] in ("new_message", "error"), frame
        assert frame["client_id"] not in answers
        answers[frame["client_id"]] = frame
    assert answers["c4"]["type"] == "error" and answers["c4"]["code"] == "bad_request"
    stored = [m["content"] for m in await history(http, bob, room["id"])]
    assert stored == ["first"] + [text for text in texts if text]
    assert answers["c2"]["message"]["mentions"] == [bob.id]
    assert answers["c6"]["message"]["reply_to"]["id"] == first["id"]
    await all_silent(sock)
