"""Members: bob leaves, carol (an admin) removes people, alice (the owner) changes roles."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from conftest import USER_PUBLIC_KEYS, Actor, Register, Server, add_member, create_room
from groupchat.db.tables import room_members

GHOST_ROOM = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


async def members_of(server: Server, room_id: str) -> dict[str, tuple[str, str]]:
    """Stored membership: user id -> (role, joined_at)."""
    query = sa.select(room_members).where(room_members.c.room_id == room_id)
    async with server.services.db.read() as conn:
        found = (await conn.execute(query)).all()
    return {row.user_id: (row.role, row.joined_at) for row in found}


async def set_role(http, room: dict[str, Any], by: Actor, who: Actor, role: Any) -> Any:
    return await http.patch(
        f"/api/rooms/{room['id']}/members/{who.id}", json={"role": role}, headers=by.headers
    )


async def remove(http, room: dict[str, Any], by: Actor, who: Actor) -> Any:
    return await http.delete(f"/api/rooms/{room['id']}/members/{who.id}", headers=by.headers)


async def say(http, room: dict[str, Any], who: Actor, content: str) -> None:
    resp = await http.post(
        f"/api/rooms/{room['id']}/messages", json={"content": content}, headers=who.headers
    )
    assert resp.status_code == 201, resp.text


@pytest.fixture
async def team(http, alice: Actor, bob: Actor, carol: Actor) -> dict[str, Any]:
    """A private room: alice owns it, carol is an admin, bob a member."""
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    await add_member(http, room, alice, carol)
    resp = await set_role(http, room, alice, carol, "admin")
    assert resp.status_code == 200, resp.text
    return room


# ---------------------------------------------------------------- leave and remove
async def test_bob_leaves_and_hears_nothing_more(
    http, server: Server, team, alice: Actor, bob: Actor
) -> None:
    a = await alice.socket(join=(team["id"],))
    b_joined = await bob.socket(join=(team["id"],))
    b_idle = await bob.socket()
    resp = await remove(http, team, bob, bob)
    assert resp.status_code == 204 and resp.content == b""
    left = {"type": "member_left", "room_id": team["id"], "user_id": bob.id}
    assert await a.expect("member_left") == left
    assert await b_joined.expect("member_left") == left
    assert await b_idle.expect("member_left") == left
    assert bob.id not in await members_of(server, team["id"])
    await say(http, team, alice, "bob is gone")
    await a.send({"type": "typing", "room_id": team["id"], "is_typing": True})
    assert (await a.expect("new_message"))["message"]["content"] == "bob is gone"
    await b_joined.silent()
    await b_idle.silent()
    detail = await http.get(f"/api/rooms/{team['id']}", headers=alice.headers)
    assert detail.json()["member_count"] == 2
    assert bob.id not in [m["user"]["id"] for m in detail.json()["members"]]
    hidden = await http.get(f"/api/rooms/{team['id']}", headers=bob.headers)
    assert hidden.status_code == 404
    await b_joined.send({"type": "join_room", "room_id": team["id"]})
    assert (await b_joined.recv())["code"] == "not_found"


async def test_leaving_twice_is_404(http, server: Server, team, bob: Actor) -> None:
    assert (await remove(http, team, bob, bob)).status_code == 204
    again = await remove(http, team, bob, bob)
    assert again.status_code == 404 and again.json()["detail"]


async def test_the_owner_cannot_leave(http, server: Server, team, alice: Actor) -> None:
    a = await alice.socket(join=(team["id"],))
    before = await members_of(server, team["id"])
    resp = await remove(http, team, alice, alice)
    assert resp.status_code == 409 and resp.json()["detail"]
    assert await members_of(server, team["id"]) == before
    await a.silent()


async def test_an_admin_removes_a_member(
    http, server: Server, team, alice: Actor, bob: Actor, carol: Actor, register: Register
) -> None:
    dave = await register("dave")
    a = await alice.socket(join=(team["id"],))
    b = await bob.socket(join=(team["id"],))
    d = await dave.socket()
    resp = await remove(http, team, carol, bob)
    assert resp.status_code == 204
    left = {"type": "member_left", "room_id": team["id"], "user_id": bob.id}
    assert await a.expect("member_left") == left
    assert await b.expect("member_left") == left
    await d.silent()
    assert set(await members_of(server, team["id"])) == {alice.id, carol.id}
    await say(http, team, carol, "after bob")
    await a.expect("new_message")
    await b.silent()


async def test_an_admin_can_leave(http, server: Server, team, carol: Actor) -> None:
    assert (await remove(http, team, carol, carol)).status_code == 204
    assert carol.id not in await members_of(server, team["id"])


@pytest.mark.parametrize("target", ["alice", "other_admin"])
async def test_an_admin_cannot_remove_the_owner_or_another_admin(
    http, server: Server, team, alice: Actor, carol: Actor, register: Register, target: str
) -> None:
    dave = await register("dave")
    await add_member(http, team, alice, dave)
    assert (await set_role(http, team, alice, dave, "admin")).status_code == 200
    victim = alice if target == "alice" else dave
    a = await alice.socket(join=(team["id"],))
    before = await members_of(server, team["id"])
    resp = await remove(http, team, carol, victim)
    assert resp.status_code == 403 and resp.json()["detail"]
    assert await members_of(server, team["id"]) == before
    await a.silent()


async def test_the_owner_removes_an_admin(
    http, server: Server, team, alice: Actor, carol: Actor
) -> None:
    c = await carol.socket(join=(team["id"],))
    resp = await remove(http, team, alice, carol)
    assert resp.status_code == 204
    assert await c.expect("member_left") == {
        "type": "member_left",
        "room_id": team["id"],
        "user_id": carol.id,
    }
    assert carol.id not in await members_of(server, team["id"])
    await say(http, team, alice, "carol is gone")
    await c.silent()


async def test_a_member_cannot_remove_anyone_else(
    http, server: Server, team, alice: Actor, bob: Actor, carol: Actor
) -> None:
    before = await members_of(server, team["id"])
    for victim in (alice, carol):
        resp = await remove(http, team, bob, victim)
        assert resp.status_code == 403, resp.text
    assert await members_of(server, team["id"]) == before


async def test_removing_someone_who_is_not_a_member_is_404(
    http, server: Server, team, alice: Actor, register: Register
) -> None:
    dave = await register("dave")
    resp = await remove(http, team, alice, dave)
    assert resp.status_code == 404 and resp.json()["detail"]
    missing = await http.delete(
        f"/api/rooms/{team['id']}/members/{GHOST_ROOM}", headers=alice.headers
    )
    assert missing.status_code == 404


async def test_a_removed_member_of_a_public_room_may_come_back(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    assert (await http.post(f"/api/rooms/{room['id']}/join", headers=bob.headers)).is_success
    assert (await remove(http, room, alice, bob)).status_code == 204
    b = await bob.socket()
    await b.send({"type": "join_room", "room_id": room["id"]})
    assert (await b.recv())["code"] == "not_found"
    back = await http.post(f"/api/rooms/{room['id']}/join", headers=bob.headers)
    assert back.status_code == 200 and back.json()["my_role"] == "member"
    await b.expect("member_joined")
    await b.join(room["id"])


# ---------------------------------------------------------------- roles
async def test_the_owner_promotes_and_demotes(
    http, server: Server, team, alice: Actor, bob: Actor, register: Register
) -> None:
    dave = await register("dave")
    b = await bob.socket(join=(team["id"],))
    outsider = await dave.socket()
    joined_at = (await members_of(server, team["id"]))[bob.id][1]
    resp = await set_role(http, team, alice, bob, "admin")
    assert resp.status_code == 200, resp.text
    member = resp.json()
    assert set(member) == {"user", "role", "joined_at"}
    assert member["user"] == {k: bob.user[k] for k in USER_PUBLIC_KEYS}
    assert member["role"] == "admin" and member["joined_at"] == joined_at
    assert (await members_of(server, team["id"]))[bob.id] == ("admin", joined_at)
    event = await b.expect("room_updated")
    assert event["room"]["id"] == team["id"] and event["room"]["my_role"] is None
    assert event["room"]["member_count"] == 3
    await outsider.silent()
    # bob may now manage the room
    renamed = await http.patch(f"/api/rooms/{team['id']}", json={"name": "b"}, headers=bob.headers)
    assert renamed.status_code == 200

    down = await set_role(http, team, alice, bob, "member")
    assert down.status_code == 200 and down.json()["role"] == "member"
    assert (await members_of(server, team["id"]))[bob.id] == ("member", joined_at)
    await b.expect("room_updated")
    refused = await http.patch(f"/api/rooms/{team['id']}", json={"name": "c"}, headers=bob.headers)
    assert refused.status_code == 403


async def test_setting_the_same_role_again_is_fine(
    http, server: Server, team, alice: Actor, carol: Actor
) -> None:
    resp = await set_role(http, team, alice, carol, "admin")
    assert resp.status_code == 200 and resp.json()["role"] == "admin"
    assert (await members_of(server, team["id"]))[carol.id][0] == "admin"


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_the_owners_own_role_cannot_change(
    http, server: Server, team, alice: Actor, role: str
) -> None:
    a = await alice.socket(join=(team["id"],))
    before = await members_of(server, team["id"])
    resp = await set_role(http, team, alice, alice, role)
    assert resp.status_code == 409 and resp.json()["detail"]
    assert await members_of(server, team["id"]) == before
    await a.silent()


@pytest.mark.parametrize(("by", "who"), [("carol", "bob"), ("carol", "carol"), ("bob", "bob")])
async def test_only_the_owner_sets_roles(
    http, server: Server, team, bob: Actor, carol: Actor, by: str, who: str
) -> None:
    actors = {"bob": bob, "carol": carol}
    before = await members_of(server, team["id"])
    resp = await set_role(http, team, actors[by], actors[who], "admin")
    assert resp.status_code == 403 and resp.json()["detail"]
    assert await members_of(server, team["id"]) == before


async def test_setting_the_role_of_a_non_member_is_404(
    http, server: Server, team, alice: Actor, register: Register
) -> None:
    dave = await register("dave")
    resp = await set_role(http, team, alice, dave, "admin")
    assert resp.status_code == 404
    assert dave.id not in await members_of(server, team["id"])


BAD_ROLE_BODIES: list[tuple[str, Any]] = [
    ("owner", {"role": "owner"}),
    ("unknown role", {"role": "moderator"}),
    ("upper case", {"role": "ADMIN"}),
    ("null", {"role": None}),
    ("number", {"role": 1}),
    ("list", {"role": ["admin"]}),
    ("missing", {}),
    ("unknown field", {"role": "admin", "user_id": "x"}),
    ("role with spaces", {"role": " admin "}),
    ("control character", {"role": "admin\x00"}),
    ("body is a list", ["admin"]),
    ("body is a string", "admin"),
    ("body is null", None),
]


@pytest.mark.parametrize(("case", "body"), BAD_ROLE_BODIES, ids=[c for c, _ in BAD_ROLE_BODIES])
async def test_bad_role_bodies_are_422(
    http, server: Server, team, alice: Actor, bob: Actor, case: str, body: Any
) -> None:
    b = await bob.socket(join=(team["id"],))
    before = await members_of(server, team["id"])
    resp = await http.patch(
        f"/api/rooms/{team['id']}/members/{bob.id}", json=body, headers=alice.headers
    )
    assert resp.status_code == 422, (case, resp.text)
    assert resp.json()["detail"]
    assert await members_of(server, team["id"]) == before
    await b.silent()


@pytest.mark.parametrize(
    "raw", ['{"role": "\\ud800"}', '{"role": "admin"', "role=admin", ""], ids=str
)
async def test_malformed_role_bodies_are_422(
    http, server: Server, team, alice: Actor, bob: Actor, raw: str
) -> None:
    before = await members_of(server, team["id"])
    headers = {**alice.headers, "Content-Type": "application/json"}
    resp = await http.patch(
        f"/api/rooms/{team['id']}/members/{bob.id}", content=raw.encode(), headers=headers
    )
    assert resp.status_code == 422, resp.text
    assert await members_of(server, team["id"]) == before
