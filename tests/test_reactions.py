"""Reactions: members react with one emoji each (at most 20 different per message); everyone
joined sees them come and go, in order of first use. Not chain entries."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from conftest import QUIET, Actor, add_member, create_room
from conftest import post_message as post


def path(message_id: str, emoji: str) -> str:
    return f"/api/messages/{message_id}/reactions/{quote(emoji, safe='')}"


async def reactions(http: httpx.AsyncClient, actor: Actor, message_id: str) -> Any:
    resp = await http.get(f"/api/messages/{message_id}", headers=actor.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["reactions"]


async def test_members_react_and_everyone_joined_sees_it(
    http: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    rid = room["id"]
    await add_member(http, room, alice, bob)
    a, b, c = await alice.socket(join=(rid,)), await bob.socket(join=(rid,)), await carol.socket()
    message = await post(http, alice, rid, "ship it?")
    for sock in (a, b):
        await sock.expect("new_message")
    chain_before = (await http.get(f"/api/rooms/{rid}/chain", headers=alice.headers)).json()

    for who, emoji in ((bob, "👍"), (alice, "🎉"), (alice, "👍"), (bob, "👍")):  # last: again
        resp = await http.put(path(message["id"], emoji), headers=who.headers)
        assert resp.status_code == 204, resp.text
    for sock in (a, b):
        got = [await sock.expect("reaction_added") for _ in range(3)]
        assert [(f["emoji"], f["user_id"]) for f in got] == [
            ("👍", bob.id),
            ("🎉", alice.id),
            ("👍", alice.id),
        ]
        assert got[0] == {
            "type": "reaction_added",
            "room_id": rid,
            "message_id": message["id"],
            "emoji": "👍",
            "user_id": bob.id,
        }
        await sock.silent(QUIET)  # the repeated reaction changed nothing
    await c.silent(0)
    assert await reactions(http, carol, message["id"]) == [
        {"emoji": "👍", "count": 2, "user_ids": [bob.id, alice.id]},
        {"emoji": "🎉", "count": 1, "user_ids": [alice.id]},
    ]
    resp = await http.put(path(message["id"], "👍"), headers=carol.headers)  # a visitor
    assert resp.status_code == 403

    assert (await http.delete(path(message["id"], "👍"), headers=bob.headers)).status_code == 204
    assert (await http.delete(path(message["id"], "👍"), headers=bob.headers)).status_code == 204
    for sock in (a, b):
        frame = await sock.expect("reaction_removed")
        assert (frame["emoji"], frame["user_id"]) == ("👍", bob.id)
        await sock.silent(QUIET)
    page = (await http.get(f"/api/rooms/{rid}/messages", headers=alice.headers)).json()
    # order of first use among the reactions present: alice's 👍 came after her 🎉
    assert page["messages"][0]["reactions"] == [
        {"emoji": "🎉", "count": 1, "user_ids": [alice.id]},
        {"emoji": "👍", "count": 1, "user_ids": [alice.id]},
    ]
    chain_after = (await http.get(f"/api/rooms/{rid}/chain", headers=alice.headers)).json()
    assert chain_after == chain_before  # reactions are not chain entries


async def test_only_one_emoji_at_a_time_and_at_most_twenty_kinds(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    message = await post(http, alice, room["id"], "react to me")
    for bad in ("a", "👍👍", ":+1:", "👍 ", "x" * 70, "1"):
        resp = await http.put(path(message["id"], bad), headers=alice.headers)
        assert resp.status_code == 422, bad
    for good in ("👨‍👩‍👧", "🏳️‍🌈", "👍🏽", "❤️"):  # sequences, flags, skin tones: one emoji each
        assert (await http.put(path(message["id"], good), headers=alice.headers)).status_code == 204
    more = [
        "😀",
        "😁",
        "😂",
        "🤣",
        "😃",
        "😄",
        "😅",
        "😆",
        "😉",
        "😊",
        "😋",
        "😎",
        "😍",
        "😘",
        "🥰",
        "😗",
    ]
    for emoji in more:
        assert (
            await http.put(path(message["id"], emoji), headers=alice.headers)
        ).status_code == 204
    assert len(await reactions(http, alice, message["id"])) == 20
    resp = await http.put(path(message["id"], "🙃"), headers=alice.headers)
    assert resp.status_code == 422 and "20" in resp.json()["detail"]
    await add_member(http, room, alice, bob)
    assert (await http.put(path(message["id"], "😀"), headers=bob.headers)).status_code == 204
    assert len(await reactions(http, alice, message["id"])) == 20

    resp = await http.put(path("01NOSUCHMESSAGE0000000000", "👍"), headers=alice.headers)
    assert resp.status_code == 404


async def test_outsiders_cannot_react_to_a_private_room(
    http: httpx.AsyncClient, alice: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    message = await post(http, alice, room["id"], "private")
    assert (await http.put(path(message["id"], "👍"), headers=carol.headers)).status_code == 404
    assert (await http.delete(path(message["id"], "👍"), headers=carol.headers)).status_code == 404
