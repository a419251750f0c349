"""Edits, deletions, replies and mentions (API.md v2), through the real app: alice owns the
room, bob is an admin, carol a member, dave only visits the public room, erin is an outsider."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import (
    QUIET,
    Actor,
    Register,
    Server,
    add_member,
    create_room,
    make_settings,
    sign_up,
    start_server,
)
from conftest import post_message as post
from groupchat.db import tables

Room = dict[str, Any]


async def edit(
    http: httpx.AsyncClient, actor: Actor, message_id: str, content: str
) -> httpx.Response:
    return await http.patch(
        f"/api/messages/{message_id}", json={"content": content}, headers=actor.headers
    )


async def delete(http: httpx.AsyncClient, actor: Actor, message_id: str) -> httpx.Response:
    return await http.delete(f"/api/messages/{message_id}", headers=actor.headers)


async def listed(http: httpx.AsyncClient, actor: Actor, room_id: str) -> list[dict[str, Any]]:
    resp = await http.get(f"/api/rooms/{room_id}/messages", headers=actor.headers)
    assert resp.status_code == 200, resp.text
    messages: list[dict[str, Any]] = resp.json()["messages"]
    return messages


@pytest.fixture
async def people(register: Register) -> dict[str, Actor]:
    return {name: await register(name) for name in ("alice", "bob", "carol", "dave", "erin")}


@pytest.fixture
async def lobby(http: httpx.AsyncClient, people: dict[str, Actor]) -> Room:
    """A public room: alice owner, bob admin, carol member (dave may look in)."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    room = await create_room(http, alice, name="lobby", is_public=True)
    for who in (bob, carol):
        await add_member(http, room, alice, who)
    resp = await http.patch(
        f"/api/rooms/{room['id']}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert resp.status_code == 200, resp.text
    return room


async def test_only_the_author_edits_and_every_joined_member_sees_the_new_text(
    http: httpx.AsyncClient, people: dict[str, Actor], lobby: Room
) -> None:
    alice, bob, carol, dave = (people[n] for n in ("alice", "bob", "carol", "dave"))
    rid = lobby["id"]
    a, c = await alice.socket(join=(rid,)), await carol.socket(join=(rid,))
    d = await dave.socket()
    message = await post(http, carol, rid, "the meeting is at 3")
    for sock in (a, c):
        await sock.expect("new_message")

    for who in (alice, bob, dave):  # owner, admin, visitor: none may edit carol's words
        resp = await edit(http, who, message["id"], "hacked")
        assert resp.status_code == 403, (who.name, resp.text)
    resp = await edit(http, people["erin"], "0" * 26, "x")
    assert resp.status_code == 404

    resp = await edit(http, carol, message["id"], "  the meeting is at **4**  ")
    assert resp.status_code == 200, resp.text
    edited = resp.json()
    assert edited["content"] == "the meeting is at **4**"
    assert "<strong>4</strong>" in edited["content_html"]
    assert edited["edited_at"] is not None and edited["edited_at"] >= message["created_at"]
    assert (edited["id"], edited["hash"], edited["created_at"]) == (
        message["id"],
        message["hash"],
        message["created_at"],
    )
    for sock in (a, c):
        frame = await sock.expect("message_updated")
        assert frame["message"] == edited
    await d.silent(QUIET)
    assert [m["content"] for m in await listed(http, dave, rid)] == ["the meeting is at **4**"]

    resp = await http.get(f"/api/messages/{message['id']}/history", headers=dave.headers)
    assert resp.status_code == 200
    versions = resp.json()["versions"]
    assert [(v["content"], v["at"]) for v in versions] == [
        ("the meeting is at 3", message["created_at"]),
        ("the meeting is at **4**", edited["edited_at"]),
    ]
    assert versions[1]["content_html"] == edited["content_html"]

    for bad in ("   ", "x" * 8001):
        assert (await edit(http, carol, message["id"], bad)).status_code == 422
    resp = await http.patch(
        f"/api/messages/{message['id']}", json={"content": 4}, headers=carol.headers
    )
    assert resp.status_code == 422
    assert (await http.get(f"/api/messages/{message['id']}", headers=bob.headers)).json() == edited


async def test_ai_and_system_messages_cannot_be_edited_but_admins_delete_them(
    http: httpx.AsyncClient, people: dict[str, Actor], lobby: Room
) -> None:
    alice, bob = people["alice"], people["bob"]
    a = await alice.socket(join=(lobby["id"],))
    await post(http, alice, lobby["id"], "@ai are you there?")  # no provider: a system note
    await a.expect("new_message")
    note = (await a.expect("new_message"))["message"]
    assert note["author_type"] == "system"
    assert (await edit(http, alice, note["id"], "edited")).status_code == 403
    assert (await delete(http, bob, note["id"])).status_code == 204
    assert (await a.expect("message_deleted"))["message_id"] == note["id"]


async def test_who_may_delete_what(
    http: httpx.AsyncClient,
    server: Server,
    register: Register,
    people: dict[str, Actor],
    lobby: Room,
) -> None:
    alice, bob, carol, dave, erin = (people[n] for n in ("alice", "bob", "carol", "dave", "erin"))
    rid = lobby["id"]
    frank = await register("frank")  # a second admin
    await add_member(http, lobby, alice, frank)
    await http.patch(
        f"/api/rooms/{rid}/members/{frank.id}", json={"role": "admin"}, headers=alice.headers
    )
    by = {
        who.name: await post(http, who, rid, f"from {who.name}")
        for who in (alice, bob, carol, frank)
    }

    cases = [  # (who deletes, whose message, status)
        (carol, "alice", 403),
        (dave, "carol", 403),  # a visitor
        (bob, "alice", 403),  # an admin: not the owner's
        (bob, "frank", 403),  # nor another admin's
        (bob, "carol", 204),  # but a member's
        (alice, "frank", 204),  # the owner: anyone's
        (bob, "bob", 204),  # an author: their own
    ]
    for who, whose, status in cases:
        resp = await delete(http, who, by[whose]["id"])
        assert resp.status_code == status, (who.name, whose, resp.text)
    assert (await delete(http, erin, by["alice"]["id"])).status_code == 403  # public: visible

    private = await create_room(http, alice, name="private")
    secret = await post(http, alice, private["id"], "secret")
    for call in (
        http.get(f"/api/messages/{secret['id']}", headers=erin.headers),
        http.delete(f"/api/messages/{secret['id']}", headers=erin.headers),
        http.patch(f"/api/messages/{secret['id']}", json={"content": "x"}, headers=erin.headers),
        http.get(f"/api/messages/{secret['id']}/history", headers=erin.headers),
    ):
        assert (await call).status_code == 404
    assert [m["content"] for m in await listed(http, dave, rid)] == ["from alice"]


async def test_a_deleted_message_is_gone_everywhere_and_erased_from_storage(
    http: httpx.AsyncClient, server: Server, people: dict[str, Actor], lobby: Room
) -> None:
    alice, carol, dave, erin = (people[n] for n in ("alice", "carol", "dave", "erin"))
    rid = lobby["id"]
    a, c, e = await alice.socket(join=(rid,)), await carol.socket(join=(rid,)), await erin.socket()
    message = await post(http, carol, rid, "oops, my password is hunter2")
    assert (
        await edit(http, carol, message["id"], "oops, my password is ******")
    ).status_code == 200
    resp = await http.put(
        f"/api/messages/{message['id']}/reactions/%F0%9F%91%8D", headers=alice.headers
    )
    assert resp.status_code == 204
    for sock in (a, c):
        for kind in ("new_message", "message_updated", "reaction_added"):
            await sock.expect(kind)

    assert (await delete(http, carol, message["id"])).status_code == 204
    for sock in (a, c):
        frame = await sock.expect("message_deleted")
        assert frame == {"type": "message_deleted", "room_id": rid, "message_id": message["id"]}
    await e.silent(QUIET)

    mid = message["id"]
    for who in (alice, dave):  # a member, and a visitor of the public room
        for path in (f"/api/messages/{mid}", f"/api/messages/{mid}/history",
                     f"/api/messages/hash/{message['hash']}"):  # fmt: skip
            assert (await http.get(path, headers=who.headers)).status_code == 410, path
    assert (await edit(http, carol, mid, "again")).status_code == 410
    assert (await delete(http, carol, mid)).status_code == 410
    resp = await http.put(f"/api/messages/{mid}/reactions/%F0%9F%91%8D", headers=alice.headers)
    assert resp.status_code == 410
    assert await listed(http, alice, rid) == []

    async with server.services.db.read() as conn:
        row = (
            await conn.execute(tables.messages.select().where(tables.messages.c.id == mid))
        ).one()
        assert (row.content, row.content_html, row.salt, row.deleted_at is not None) == (
            "",
            "",
            None,
            True,
        )
        entries = (
            await conn.execute(
                sa.select(tables.chain_entries.c.content, tables.chain_entries.c.salt).where(
                    sa.or_(
                        tables.chain_entries.c.id == mid, tables.chain_entries.c.target_id == mid
                    )
                )
            )
        ).all()
        assert len(entries) == 2 and all(e == (None, None) for e in entries)  # edit, delete
        assert (row.first_content, row.first_salt) == (None, None)
        reactions = await conn.execute(
            sa.select(sa.func.count()).select_from(tables.message_reactions)
        )
        assert reactions.scalar_one() == 0
        dumped = ""
        for table in (tables.messages, tables.chain_entries):
            dumped += str((await conn.execute(sa.select(table))).all())
        assert "hunter2" not in dumped and "******" not in dumped


async def test_replies_name_a_live_message_of_the_same_room(
    http: httpx.AsyncClient, people: dict[str, Actor], lobby: Room
) -> None:
    alice, carol = people["alice"], people["carol"]
    rid = lobby["id"]
    other = await create_room(http, alice, name="elsewhere")
    elsewhere = await post(http, alice, other["id"], "in another room")
    long_text = "why " * 50
    question = await post(http, alice, rid, long_text)
    gone = await post(http, alice, rid, "soon deleted")
    assert (await delete(http, alice, gone["id"])).status_code == 204

    for bad in (elsewhere["id"], gone["id"], "01NOSUCHMESSAGE0000000000"):
        resp = await http.post(
            f"/api/rooms/{rid}/messages",
            json={"content": "re", "reply_to": bad},
            headers=carol.headers,
        )
        assert resp.status_code == 422, bad
    c = await carol.socket(join=(rid,))
    await c.send({"type": "send_message", "room_id": rid, "content": "re", "reply_to": gone["id"]})
    error = await c.expect("error")
    assert error["code"] == "bad_request"

    await c.send(
        {"type": "send_message", "room_id": rid, "content": "because", "reply_to": question["id"]}
    )
    answer = (await c.expect("new_message"))["message"]
    assert answer["reply_to"] == {
        "id": question["id"],
        "author_type": "user",
        "author": {k: alice.user[k] for k in answer["reply_to"]["author"]},
        "excerpt": long_text.strip()[:140],
        "deleted": False,
    }
    assert answer["mentions"] == []  # a reply does not mention the replied author

    assert (await delete(http, alice, question["id"])).status_code == 204
    shown = (await listed(http, carol, rid))[-1]
    assert shown["reply_to"]["deleted"] is True and shown["reply_to"]["excerpt"] == ""


async def test_mentions_are_members_named_after_an_at(
    http: httpx.AsyncClient, register: Register, people: dict[str, Actor], lobby: Room
) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    rid = lobby["id"]
    bob_smith = await register("bob.smith")
    await add_member(http, lobby, alice, bob_smith)
    text = "@bob. and (@CAROL, and bob@x.com @bobby @bob.smith: @erin @alice_x @bob"
    message = await post(http, alice, rid, text)
    # erin is no member; @alice_x and @bobby name nobody; @bob twice counts once
    assert message["mentions"] == [bob.id, carol.id, bob_smith.id]
    assert (await listed(http, alice, rid))[-1]["mentions"] == message["mentions"]
    resp = await edit(http, alice, message["id"], "only @carol now")
    assert resp.json()["mentions"] == [carol.id]


async def test_the_edit_window(tmp_path, http: httpx.AsyncClient) -> None:
    server = await start_server(make_settings(tmp_path / "window", message_edit_seconds=60))
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as client:
            alice = await sign_up(client, server, "alice")
            room = await create_room(client, alice)
            fresh = await post(client, alice, room["id"], "fresh")
            old = await post(client, alice, room["id"], "old")
            async with server.services.db.write() as conn:
                await conn.execute(
                    tables.messages.update()
                    .where(tables.messages.c.id == old["id"])
                    .values(created_at="2020-01-01T00:00:00.000Z")
                )
            assert (await edit(client, alice, fresh["id"], "fresher")).status_code == 200
            resp = await edit(client, alice, old["id"], "too late")
            assert resp.status_code == 403 and "60 seconds" in resp.json()["detail"]
            assert (await delete(client, alice, old["id"])).status_code == 204  # no window
    finally:
        await server.stop()
