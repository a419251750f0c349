"""Rooms: alice creates, lists, reads, changes, clears and deletes rooms; bob joins public ones."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from conftest import ROOM_KEYS, TS, USER_PUBLIC_KEYS, Actor, Server, add_member, create_room
from groupchat.db.tables import invites, messages, room_members, rooms

MODEL = "openai/gpt-4o-mini"  # the configured default model: known with or without a provider


async def rows(server: Server, table: sa.Table, **where: Any) -> list[dict[str, Any]]:
    """Stored rows of `table` matching `where`, as dicts, in primary-key order."""
    query = sa.select(table).order_by(*table.primary_key.columns)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with server.services.db.read() as conn:
        return [dict(row._mapping) for row in (await conn.execute(query)).all()]


async def room_row(server: Server, room_id: str) -> dict[str, Any]:
    found = await rows(server, rooms, id=room_id)
    assert len(found) == 1
    return found[0]


async def post(http: Any, room: dict[str, Any], who: Actor, content: str) -> dict[str, Any]:
    resp = await http.post(
        f"/api/rooms/{room['id']}/messages", json={"content": content}, headers=who.headers
    )
    assert resp.status_code == 201, resp.text
    message: dict[str, Any] = resp.json()
    return message


# ---------------------------------------------------------------- create
async def test_alice_creates_a_room_with_defaults(http, server: Server, alice: Actor) -> None:
    resp = await http.post("/api/rooms", json={"name": "general"}, headers=alice.headers)
    assert resp.status_code == 201, resp.text
    room = resp.json()
    assert set(room) == ROOM_KEYS
    assert room["name"] == "general"
    assert room["description"] == ""
    assert room["is_public"] is False
    assert room["ai_mode"] == "mention"
    assert room["ai_model"] is None and room["ai_system_prompt"] is None
    assert room["created_by"] == alice.id
    assert TS.match(room["created_at"])
    assert room["member_count"] == 1 and room["my_role"] == "owner"
    stored = await room_row(server, room["id"])
    assert stored["name"] == "general" and stored["is_public"] is False
    assert stored["created_by"] == alice.id and stored["head_hash"] is None
    members = await rows(server, room_members, room_id=room["id"])
    assert [(m["user_id"], m["role"]) for m in members] == [(alice.id, "owner")]


async def test_alice_creates_a_room_with_every_field(http, server: Server, alice: Actor) -> None:
    body = {
        "name": "Ünïcode 🎉 room",
        "description": "line one\nline two",
        "is_public": True,
        "ai_mode": "always",
        "ai_model": MODEL,
        "ai_system_prompt": "Be brief.\nBe kind.",
    }
    resp = await http.post("/api/rooms", json=body, headers=alice.headers)
    assert resp.status_code == 201, resp.text
    room = resp.json()
    assert {k: room[k] for k in body} == body
    stored = await room_row(server, room["id"])
    assert {k: stored[k] for k in body} == body


async def test_name_and_description_at_their_limits_are_accepted(http, alice: Actor) -> None:
    body = {"name": "n" * 100, "description": "d" * 1000}
    resp = await http.post("/api/rooms", json=body, headers=alice.headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "n" * 100 and resp.json()["description"] == "d" * 1000


async def test_creating_a_room_needs_a_sign_in(http, server: Server) -> None:
    resp = await http.post("/api/rooms", json={"name": "general"})
    assert resp.status_code == 401 and "detail" in resp.json()
    bad = await http.post(
        "/api/rooms", json={"name": "general"}, headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401
    assert await rows(server, rooms) == []


# ---------------------------------------------------------------- list
async def test_room_lists_mine_and_public(http, alice: Actor, bob: Actor, carol: Actor) -> None:
    a_private = await create_room(http, alice, name="a-private")
    a_public = await create_room(http, alice, name="a-public", is_public=True)
    b_public = await create_room(http, bob, name="b-public", is_public=True)

    async def names(who: Actor, query: str = "") -> list[tuple[str, str | None]]:
        resp = await http.get(f"/api/rooms{query}", headers=who.headers)
        assert resp.status_code == 200, resp.text
        assert set(resp.json()) == {"rooms"}
        for room in resp.json()["rooms"]:
            assert set(room) == ROOM_KEYS
        return [(r["name"], r["my_role"]) for r in resp.json()["rooms"]]

    mine = [("a-public", "owner"), ("a-private", "owner")]  # newest first
    assert await names(alice) == mine
    assert await names(alice, "?scope=mine") == mine
    assert await names(alice, "?scope=public") == [("b-public", None), ("a-public", "owner")]
    assert await names(bob) == [("b-public", "owner")]
    assert await names(carol) == []
    assert await names(carol, "?scope=public") == [("b-public", None), ("a-public", None)]
    public = await http.get("/api/rooms?scope=public", headers=carol.headers)
    assert [r["id"] for r in public.json()["rooms"]] == [b_public["id"], a_public["id"]]
    assert a_private["id"] not in public.text
    await http.post(f"/api/rooms/{b_public['id']}/join", headers=carol.headers)
    assert await names(carol) == [("b-public", "member")]


@pytest.mark.parametrize("scope", ["all", "", "MINE", "private"])
async def test_an_unknown_scope_is_422(http, alice: Actor, scope: str) -> None:
    resp = await http.get(f"/api/rooms?scope={scope}", headers=alice.headers)
    assert resp.status_code == 422 and "detail" in resp.json()


# ---------------------------------------------------------------- read
async def test_room_detail_lists_members_owner_first(
    http, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, description="our room")
    await add_member(http, room, alice, bob)
    await add_member(http, room, alice, carol)
    promote = await http.patch(
        f"/api/rooms/{room['id']}/members/{carol.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert promote.status_code == 200, promote.text
    resp = await http.get(f"/api/rooms/{room['id']}", headers=bob.headers)
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert set(detail) == ROOM_KEYS | {"members"}
    assert detail["my_role"] == "member" and detail["member_count"] == 3
    assert detail["description"] == "our room"
    members = detail["members"]
    assert [(m["user"]["username"], m["role"]) for m in members] == [
        ("alice", "owner"),
        ("carol", "admin"),
        ("bob", "member"),
    ]
    for member in members:
        assert set(member) == {"user", "role", "joined_at"}
        assert set(member["user"]) == USER_PUBLIC_KEYS
        assert TS.match(member["joined_at"])
    assert members[2]["user"] == {k: bob.user[k] for k in USER_PUBLIC_KEYS}


async def test_an_unknown_room_is_404(http, alice: Actor) -> None:
    resp = await http.get("/api/rooms/01HZZZZZZZZZZZZZZZZZZZZZZZ", headers=alice.headers)
    assert resp.status_code == 404 and resp.json()["detail"]


# ---------------------------------------------------------------- update
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "renamed"),
        ("description", "new words\nover two lines"),
        ("is_public", True),
        ("ai_mode", "off"),
        ("ai_mode", "always"),
        ("ai_model", MODEL),
        ("ai_system_prompt", "You are a pirate."),
    ],
)
async def test_alice_changes_one_field(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor, field: str, value: Any
) -> None:
    room = await create_room(http, alice, description="before")
    await add_member(http, room, alice, bob)
    b = await bob.socket(join=(room["id"],))
    outsider = await carol.socket()
    before = await room_row(server, room["id"])
    resp = await http.patch(f"/api/rooms/{room['id']}", json={field: value}, headers=alice.headers)
    assert resp.status_code == 200, resp.text
    changed = resp.json()
    assert set(changed) == ROOM_KEYS
    assert changed[field] == value and changed["my_role"] == "owner"
    untouched = ROOM_KEYS - {field, "my_role", "member_count"}
    assert {k: changed[k] for k in untouched} == {k: room[k] for k in untouched}
    after = await room_row(server, room["id"])
    assert after == {**before, field: value}
    event = await b.expect("room_updated")
    assert event == {"type": "room_updated", "room": {**changed, "my_role": None}}
    await b.silent()
    await outsider.silent()


async def test_an_admin_may_change_the_room(http, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    await http.patch(
        f"/api/rooms/{room['id']}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers
    )
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"name": "bob's now"}, headers=bob.headers
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "bob's now" and resp.json()["my_role"] == "admin"


async def test_ai_model_and_prompt_may_be_set_back_to_null(
    http, server: Server, alice: Actor
) -> None:
    room = await create_room(http, alice, ai_model=MODEL, ai_system_prompt="Be brief.")
    assert room["ai_model"] == MODEL and room["ai_system_prompt"] == "Be brief."
    body = {"ai_model": None, "ai_system_prompt": None}
    resp = await http.patch(f"/api/rooms/{room['id']}", json=body, headers=alice.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["ai_model"] is None and resp.json()["ai_system_prompt"] is None
    stored = await room_row(server, room["id"])
    assert stored["ai_model"] is None and stored["ai_system_prompt"] is None


async def test_patching_several_fields_at_once(http, server: Server, alice: Actor) -> None:
    room = await create_room(http, alice)
    body = {"name": "two", "is_public": True, "ai_mode": "off", "description": "x"}
    resp = await http.patch(f"/api/rooms/{room['id']}", json=body, headers=alice.headers)
    assert resp.status_code == 200, resp.text
    stored = await room_row(server, room["id"])
    assert {k: stored[k] for k in body} == body


async def test_an_empty_patch_changes_nothing(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    b = await bob.socket(join=(room["id"],))
    before = await room_row(server, room["id"])
    resp = await http.patch(f"/api/rooms/{room['id']}", json={}, headers=alice.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {**room, "member_count": 2}
    assert await room_row(server, room["id"]) == before
    await b.silent()


# ---------------------------------------------------------------- delete
async def test_alice_deletes_a_room_and_everything_in_it(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    other = await create_room(http, alice, name="other")
    await add_member(http, room, alice, bob)
    await post(http, room, alice, "one")
    await post(http, room, bob, "two")
    kept = await post(http, other, alice, "stays")
    await http.post("/api/invites", json={"room_id": room["id"]}, headers=alice.headers)
    a = await alice.socket(join=(room["id"],))
    b_idle = await bob.socket()  # never joined: room_deleted still reaches every member socket
    outsider = await carol.socket()
    resp = await http.delete(f"/api/rooms/{room['id']}", headers=alice.headers)
    assert resp.status_code == 204 and resp.content == b""
    deleted = {"type": "room_deleted", "room_id": room["id"]}
    assert await a.expect("room_deleted") == deleted
    assert await b_idle.expect("room_deleted") == deleted
    await outsider.silent()
    assert await rows(server, rooms, id=room["id"]) == []
    assert await rows(server, messages, room_id=room["id"]) == []
    assert await rows(server, room_members, room_id=room["id"]) == []
    assert await rows(server, invites, room_id=room["id"]) == []
    assert [m["id"] for m in await rows(server, messages, room_id=other["id"])] == [kept["id"]]
    gone = await http.get(f"/api/rooms/{room['id']}", headers=alice.headers)
    assert gone.status_code == 404
    listed = await http.get("/api/rooms", headers=bob.headers)
    assert listed.json() == {"rooms": []}


async def test_deleted_room_sockets_hear_nothing_more(http, alice: Actor) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    resp = await http.delete(f"/api/rooms/{room['id']}", headers=alice.headers)
    assert resp.status_code == 204
    await a.expect("room_deleted")
    await a.send({"type": "join_room", "room_id": room["id"]})
    error = await a.recv()
    assert error["type"] == "error" and error["code"] == "not_found"
    await a.silent()


# ---------------------------------------------------------------- join
async def test_bob_joins_a_public_room(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket()
    outsider = await carol.socket()
    resp = await http.post(f"/api/rooms/{room['id']}/join", headers=bob.headers)
    assert resp.status_code == 200, resp.text
    joined = resp.json()
    assert set(joined) == ROOM_KEYS
    assert joined["my_role"] == "member" and joined["member_count"] == 2
    assert joined["id"] == room["id"]
    bob_public = {k: bob.user[k] for k in USER_PUBLIC_KEYS}
    event = {"type": "member_joined", "room_id": room["id"], "user": bob_public}
    assert await a.expect("member_joined") == event
    assert await b.expect("member_joined") == event
    await outsider.silent()
    stored = await rows(server, room_members, room_id=room["id"], user_id=bob.id)
    assert [r["role"] for r in stored] == ["member"]
    await b.join(room["id"])  # now a member, the socket may join the room

    again = await http.post(f"/api/rooms/{room['id']}/join", headers=bob.headers)
    assert again.status_code == 200 and again.json() == joined
    assert await rows(server, room_members, room_id=room["id"], user_id=bob.id) == stored
    await a.silent()
    await b.silent()


async def test_the_owner_joining_is_a_no_op(http, server: Server, alice: Actor) -> None:
    room = await create_room(http, alice, is_public=True)
    a = await alice.socket(join=(room["id"],))
    before = await rows(server, room_members, room_id=room["id"])
    resp = await http.post(f"/api/rooms/{room['id']}/join", headers=alice.headers)
    assert resp.status_code == 200 and resp.json()["my_role"] == "owner"
    assert resp.json()["member_count"] == 1
    assert await rows(server, room_members, room_id=room["id"]) == before
    await a.silent()


async def test_a_private_room_cannot_be_joined(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    resp = await http.post(f"/api/rooms/{room['id']}/join", headers=bob.headers)
    ghost = await http.post("/api/rooms/01HZZZZZZZZZZZZZZZZZZZZZZZ/join", headers=bob.headers)
    assert resp.status_code == ghost.status_code == 404
    assert resp.json() == ghost.json()
    assert await rows(server, room_members, room_id=room["id"], user_id=bob.id) == []
    await a.silent()


# ---------------------------------------------------------------- clear
async def test_alice_clears_the_room_and_the_chain_restarts(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    other = await create_room(http, alice, name="other")
    await add_member(http, room, alice, bob)
    first = await post(http, room, alice, "one")
    second = await post(http, room, bob, "two")
    assert first["prev_hash"] is None and second["prev_hash"] == first["hash"]
    kept = await post(http, other, alice, "stays")
    b = await bob.socket(join=(room["id"],))
    outsider = await carol.socket()
    resp = await http.post(f"/api/rooms/{room['id']}/clear", headers=alice.headers)
    assert resp.status_code == 204 and resp.content == b""
    assert await b.expect("room_cleared") == {"type": "room_cleared", "room_id": room["id"]}
    await outsider.silent()
    assert await rows(server, messages, room_id=room["id"]) == []
    assert (await room_row(server, room["id"]))["head_hash"] is None
    assert [m["id"] for m in await rows(server, messages, room_id=other["id"])] == [kept["id"]]
    page = await http.get(f"/api/rooms/{room['id']}/messages", headers=bob.headers)
    assert page.json() == {"messages": [], "has_more": False}
    fresh = await post(http, room, bob, "after the clear")
    assert fresh["prev_hash"] is None
    assert (await b.expect("new_message"))["message"]["id"] == fresh["id"]
    next_one = await post(http, room, alice, "and on")
    assert next_one["prev_hash"] == fresh["hash"]


async def test_clearing_an_empty_room_is_fine(http, server: Server, alice: Actor) -> None:
    room = await create_room(http, alice)
    resp = await http.post(f"/api/rooms/{room['id']}/clear", headers=alice.headers)
    assert resp.status_code == 204
    assert (await post(http, room, alice, "first"))["prev_hash"] is None


# ---------------------------------------------------------------- bad input
GOOD_CREATE = {"name": "general"}
BAD_CREATE: list[tuple[str, Any]] = [
    ("missing name", {}),
    ("missing name with others", {"description": "x", "is_public": True}),
    ("name null", {"name": None}),
    ("name number", {"name": 5}),
    ("name list", {"name": ["general"]}),
    ("name object", {"name": {"text": "general"}}),
    ("name empty", {"name": ""}),
    ("name whitespace", {"name": "   \t "}),
    ("name 101 chars", {"name": "n" * 101}),
    ("name newline", {"name": "two\nlines"}),
    ("name NUL", {"name": "a\x00b"}),
    ("name bell", {"name": "a\x07b"}),
    ("name escape", {"name": "a\x1bb"}),
    ("name DEL", {"name": "a\x7fb"}),
    ("name line separator", {"name": "a\u2028b"}),
    ("description null", {"name": "x", "description": None}),
    ("description number", {"name": "x", "description": 7}),
    ("description 1001", {"name": "x", "description": "d" * 1001}),
    ("description NUL", {"name": "x", "description": "a\x00"}),
    ("description control", {"name": "x", "description": "a\x01"}),
    ("is_public null", {"name": "x", "is_public": None}),
    ("is_public as string", {"name": "x", "is_public": "true"}),
    ("is_public as number", {"name": "x", "is_public": 1}),
    ("ai_mode null", {"name": "x", "ai_mode": None}),
    ("ai_mode unknown", {"name": "x", "ai_mode": "sometimes"}),
    ("ai_mode upper", {"name": "x", "ai_mode": "MENTION"}),
    ("ai_mode number", {"name": "x", "ai_mode": 1}),
    ("ai_model number", {"name": "x", "ai_model": 4}),
    ("ai_model empty", {"name": "x", "ai_model": ""}),
    ("ai_model newline", {"name": "x", "ai_model": "a\nb"}),
    ("ai_model too long", {"name": "x", "ai_model": "m" * 201}),
    ("ai_system_prompt number", {"name": "x", "ai_system_prompt": 1}),
    ("ai_system_prompt NUL", {"name": "x", "ai_system_prompt": "\x00"}),
    ("ai_system_prompt too long", {"name": "x", "ai_system_prompt": "p" * 8001}),
    ("unknown field", {"name": "x", "owner": "bob"}),
    ("unknown field created_by", {"name": "x", "created_by": "someone"}),
    ("unknown field member_count", {"name": "x", "member_count": 9}),
    ("body is a list", [{"name": "x"}]),
    ("body is a string", "general"),
    ("body is null", None),
]
RAW_BAD = [
    ("lone surrogate in name", '{"name": "\\ud800"}'),
    ("lone low surrogate in description", '{"name": "x", "description": "a\\udc00"}'),
    ("not json", "name=general"),
    ("truncated json", '{"name": "gen'),
    ("empty body", ""),
]


async def _create_raw(http, who: Actor, body: Any, raw: str | None = None) -> Any:
    if raw is not None:
        headers = {**who.headers, "Content-Type": "application/json"}
        return await http.post("/api/rooms", content=raw.encode(), headers=headers)
    return await http.post("/api/rooms", json=body, headers=who.headers)


@pytest.mark.parametrize(("case", "body"), BAD_CREATE, ids=[c for c, _ in BAD_CREATE])
async def test_bad_create_bodies_are_422(http, server: Server, alice: Actor, case, body) -> None:
    resp = await _create_raw(http, alice, body)
    assert resp.status_code == 422, (case, resp.text)
    assert resp.json()["detail"]
    assert await rows(server, rooms) == []
    assert await rows(server, room_members) == []


@pytest.mark.parametrize(("case", "raw"), RAW_BAD, ids=[c for c, _ in RAW_BAD])
async def test_malformed_create_bodies_are_422(
    http, server: Server, alice: Actor, case, raw
) -> None:
    resp = await _create_raw(http, alice, None, raw)
    assert resp.status_code == 422, (case, resp.text)
    assert resp.json()["detail"]
    assert await rows(server, rooms) == []


BAD_PATCH: list[tuple[str, Any]] = [
    ("name null", {"name": None}),
    ("name empty", {"name": ""}),
    ("name whitespace", {"name": "  "}),
    ("name 101 chars", {"name": "n" * 101}),
    ("name number", {"name": 3}),
    ("name control", {"name": "a\x08"}),
    ("name newline", {"name": "a\r\nb"}),
    ("description null", {"description": None}),
    ("description 1001", {"description": "d" * 1001}),
    ("description control", {"description": "\x0b"}),
    ("is_public null", {"is_public": None}),
    ("is_public as string", {"is_public": "false"}),
    ("is_public as number", {"is_public": 0}),
    ("ai_mode null", {"ai_mode": None}),
    ("ai_mode unknown", {"ai_mode": "never"}),
    ("ai_model number", {"ai_model": 1.5}),
    ("ai_model empty", {"ai_model": ""}),
    ("ai_system_prompt list", {"ai_system_prompt": ["x"]}),
    ("ai_system_prompt too long", {"ai_system_prompt": "p" * 8001}),
    ("unknown field", {"owner": "bob"}),
    ("unknown and good field", {"name": "ok", "head_hash": "00"}),
    ("good then bad field", {"name": "ok", "is_public": "yes"}),
    ("body is a list", [{"name": "x"}]),
    ("body is null", None),
]


@pytest.mark.parametrize(("case", "body"), BAD_PATCH, ids=[c for c, _ in BAD_PATCH])
async def test_bad_patch_bodies_are_422_and_change_nothing(
    http, server: Server, alice: Actor, bob: Actor, case, body
) -> None:
    room = await create_room(http, alice, description="kept", ai_model=MODEL)
    await add_member(http, room, alice, bob)
    b = await bob.socket(join=(room["id"],))
    before = await room_row(server, room["id"])
    resp = await http.patch(f"/api/rooms/{room['id']}", json=body, headers=alice.headers)
    assert resp.status_code == 422, (case, resp.text)
    assert resp.json()["detail"]
    assert await room_row(server, room["id"]) == before
    await b.silent()


@pytest.mark.parametrize(("case", "raw"), RAW_BAD, ids=[c for c, _ in RAW_BAD])
async def test_malformed_patch_bodies_are_422(
    http, server: Server, alice: Actor, case, raw
) -> None:
    room = await create_room(http, alice)
    before = await room_row(server, room["id"])
    headers = {**alice.headers, "Content-Type": "application/json"}
    resp = await http.patch(f"/api/rooms/{room['id']}", content=raw.encode(), headers=headers)
    assert resp.status_code == 422, (case, resp.text)
    assert await room_row(server, room["id"]) == before
