"""Catching up (API.md v2): read markers, unread and mention counts, and the room's newest
message, through the real app. alice owns the room; bob joins; carol looks in from outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from conftest import (
    QUIET,
    TEST_DATABASE_URL,
    Actor,
    Register,
    add_member,
    create_room,
    make_settings,
    reset_postgres,
    sign_up,
    start_server,
)
from conftest import post_message as post


async def mine(http: httpx.AsyncClient, who: Actor, rid: str) -> dict[str, Any]:
    """The room as `who` sees it in GET /api/rooms, checked against GET /api/rooms/{id}."""
    resp = await http.get("/api/rooms", headers=who.headers)
    assert resp.status_code == 200, resp.text
    (room,) = [r for r in resp.json()["rooms"] if r["id"] == rid]
    one = (await http.get(f"/api/rooms/{rid}", headers=who.headers)).json()
    keys = ("unread_count", "mention_count", "last_read_id", "last_message")
    assert {k: one[k] for k in keys} == {k: room[k] for k in keys}
    return dict(room)


def counts(room: dict[str, Any]) -> tuple[int, int]:
    return room["unread_count"], room["mention_count"]


async def read(http: httpx.AsyncClient, who: Actor, rid: str, message_id: Any) -> httpx.Response:
    return await http.post(
        f"/api/rooms/{rid}/read", json={"message_id": message_id}, headers=who.headers
    )


async def test_unread_and_mentions_count_what_others_wrote_since_the_marker(
    http: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    rid = room["id"]
    assert room["unread_count"] is None  # creating answers with the room as created
    history = await post(http, alice, rid, "before bob came")
    await add_member(http, room, alice, bob)
    joined = await mine(http, bob, rid)
    assert counts(joined) == (0, 0)  # earlier history is not unread
    assert joined["last_read_id"] == history["id"]
    assert joined["last_message"]["id"] == history["id"]

    own = await post(http, bob, rid, "hello all")
    assert (await mine(http, bob, rid))["last_read_id"] == own["id"]  # sending reads
    await post(http, alice, rid, "welcome")
    await post(http, alice, rid, "@bob. see this")
    reply = await post(http, alice, rid, "agreed", reply_to=own["id"])
    await post(http, alice, rid, "@bobby x@bob.com @carol are not bob")
    gone = await post(http, alice, rid, "@BOB oops")
    seen = await mine(http, bob, rid)
    assert counts(seen) == (5, 3)
    assert seen["last_read_id"] == own["id"]

    resp = await http.delete(f"/api/messages/{gone['id']}", headers=alice.headers)
    assert resp.status_code == 204, resp.text
    seen = await mine(http, bob, rid)
    assert counts(seen) == (4, 2)
    assert seen["last_message"]["content"] == "@bobby x@bob.com @carol are not bob"
    assert set(seen["last_message"]) >= {"id", "content", "reactions", "mentions"}
    assert counts(await mine(http, alice, rid)) == (0, 0)  # her own messages never count
    # a visitor of the public room sees none of it
    outside = (await http.get(f"/api/rooms/{rid}", headers=carol.headers)).json()
    assert [outside[k] for k in ("unread_count", "mention_count", "last_read_id")] == [None] * 3
    assert outside["last_message"] is None
    public = (await http.get("/api/rooms?scope=public", headers=carol.headers)).json()["rooms"]
    assert [r["unread_count"] for r in public if r["id"] == rid] == [None]

    assert (await read(http, bob, rid, reply["id"])).status_code == 204
    assert counts(await mine(http, bob, rid)) == (1, 0)
    last = await post(http, bob, rid, "read it all")  # sending reads everything before
    seen = await mine(http, bob, rid)
    assert (counts(seen), seen["last_read_id"]) == ((0, 0), last["id"])
    assert counts(await mine(http, alice, rid)) == (1, 0)


async def test_joining_a_public_room_reads_its_history_and_broadcasts_carry_no_counts(
    http: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    rid = room["id"]
    await post(http, alice, rid, "first")
    newest = await post(http, alice, rid, "second")
    resp = await http.post(f"/api/rooms/{rid}/join", headers=carol.headers)
    assert resp.status_code == 200, resp.text
    seen = await mine(http, carol, rid)
    assert (counts(seen), seen["last_read_id"]) == ((0, 0), newest["id"])
    await post(http, alice, rid, "@carol welcome")
    sock = await carol.socket(join=(rid,))
    resp = await http.patch(f"/api/rooms/{rid}", json={"name": "lobby"}, headers=alice.headers)
    assert resp.status_code == 200, resp.text
    frame = await sock.expect("room_updated")
    shared = ("my_role", "unread_count", "mention_count", "last_read_id", "last_message")
    assert [frame["room"][k] for k in shared] == [None] * 5
    assert counts(await mine(http, carol, rid)) == (1, 1)


async def test_mentions_follow_edits_and_the_longest_name_wins(
    http: httpx.AsyncClient, register: Register, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    rid = room["id"]
    smith = await register("bob.smith")
    for who in (bob, smith):
        await add_member(http, room, alice, who)
    note = await post(http, alice, rid, "@bob.smith, lunch?")
    assert counts(await mine(http, bob, rid)) == (1, 0)
    assert counts(await mine(http, smith, rid)) == (1, 1)
    resp = await http.patch(
        f"/api/messages/{note['id']}", json={"content": "@bob lunch?"}, headers=alice.headers
    )
    assert resp.status_code == 200, resp.text
    assert counts(await mine(http, bob, rid)) == (1, 1)
    assert counts(await mine(http, smith, rid)) == (1, 0)


async def test_the_marker_moves_forward_only_and_tells_the_readers_other_tabs(
    http: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    rid = room["id"]
    await add_member(http, room, alice, bob)
    first = await post(http, alice, rid, "one")
    second = await post(http, alice, rid, "two")
    joined, elsewhere = await bob.socket(join=(rid,)), await bob.socket()
    watching = await alice.socket(join=(rid,))

    assert (await read(http, bob, rid, second["id"])).status_code == 204
    frame = {"type": "read_updated", "room_id": rid, "last_read_id": second["id"]}
    for sock in (joined, elsewhere):
        assert await sock.expect("read_updated") == frame
    await watching.silent(QUIET)
    assert (await mine(http, bob, rid))["last_read_id"] == second["id"]

    assert (await read(http, bob, rid, first["id"])).status_code == 204  # older: no-op
    assert (await read(http, bob, rid, second["id"])).status_code == 204  # the same: no-op
    await elsewhere.silent(QUIET)
    assert (await mine(http, bob, rid))["last_read_id"] == second["id"]


async def test_bad_markers_change_nothing(
    http: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    rid = room["id"]
    hidden = await create_room(http, alice, name="secret")
    await add_member(http, room, alice, bob)
    message = await post(http, alice, rid, "hi")
    elsewhere = await post(http, alice, hidden["id"], "not in that room")
    for bad in (elsewhere["id"], "01NOSUCHMESSAGE0000000000", "", 7, None):
        resp = await read(http, bob, rid, bad)
        assert resp.status_code == 422, (bad, resp.text)
    resp = await http.post(f"/api/rooms/{rid}/read", json={}, headers=bob.headers)
    assert resp.status_code == 422
    assert (await read(http, carol, rid, message["id"])).status_code == 404  # a visitor
    resp = await read(http, bob, hidden["id"], elsewhere["id"])
    assert resp.status_code == 404
    assert resp.json() == {"detail": "room not found"}
    assert counts(await mine(http, bob, rid)) == (1, 0)


async def test_the_room_list_costs_the_same_statements_for_3_rooms_or_30(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    engine = alice.server.services.db.engine.sync_engine
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    async def listing() -> int:
        statements.clear()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            resp = await http.get("/api/rooms", headers=bob.headers)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert resp.status_code == 200
        return len([s for s in statements if "ai_triggers" not in s])

    async def rooms(n: int) -> None:
        for i in range(n):
            room = await create_room(http, alice, name=f"r{i}", is_public=True)
            joined = await http.post(f"/api/rooms/{room['id']}/join", headers=bob.headers)
            assert joined.status_code == 200
            await post(http, alice, room["id"], f"@bob hello {i}")

    await rooms(3)
    few = await listing()
    await rooms(27)
    assert await listing() == few
    listed = (await http.get("/api/rooms", headers=bob.headers)).json()["rooms"]
    assert len(listed) == 30
    assert {counts(r) for r in listed} == {(1, 1)}
    assert {r["last_message"]["content"][:10] for r in listed} == {"@bob hello"}


async def test_without_group_commit_sending_reads_and_search_finds_it(tmp_path: Path) -> None:
    """GROUP_COMMIT=false stores each post in its own SQLAlchemy transaction: same rules."""
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    server = await start_server(make_settings(tmp_path, group_commit=False))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            alice, bob = [await sign_up(http, server, name) for name in ("alice", "bob")]
            room = await create_room(http, alice)
            await add_member(http, room, alice, bob)
            await post(http, alice, room["id"], "@bob the quarterly numbers")
            answer = await post(http, bob, room["id"], "thanks")
            seen = await mine(http, bob, room["id"])
            assert (counts(seen), seen["last_read_id"]) == ((0, 0), answer["id"])
            assert counts(await mine(http, alice, room["id"])) == (1, 0)
            resp = await http.get("/api/search", params={"q": "QUART"}, headers=bob.headers)
            found = [r["message"]["content"] for r in resp.json()["results"]]
            assert found == ["@bob the quarterly numbers"]
    finally:
        await server.stop()
