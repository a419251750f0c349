"""Who may do what in a room: every room-scoped call and WebSocket frame, for every role.

The cast: alice owns the room, carol is an admin, bob and erin are plain members, dave is an
outsider, and an anonymous caller has no token. A refused call must leave every table (and
every socket) as it was; a private room must look exactly like a room that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import Actor, Register, Server, add_member, create_room
from groupchat.db.tables import invites, messages, room_members, rooms

GHOST_ROOM = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
GHOST_TOKEN = "no-such-invite-token-at-all-0123"
ROLES = ("outsider", "member", "admin", "owner")


@dataclass
class World:
    """A room with one of each role, a message and an invite made by the owner."""

    room: dict[str, Any]
    actors: dict[str, Actor]  # owner, admin, member, outsider, target (a second member)
    token: str


async def build_world(http: httpx.AsyncClient, register: Register, *, public: bool) -> World:
    owner, admin, member = await register("alice"), await register("carol"), await register("bob")
    outsider, target = await register("dave"), await register("erin")
    room = await create_room(http, owner, name="matrix", is_public=public)
    link = await http.post("/api/invites", json={"room_id": room["id"]}, headers=owner.headers)
    for who in (admin, member, target):
        joined = await http.post(f"/api/invites/{link.json()['token']}/accept", headers=who.headers)
        assert joined.status_code == 200, joined.text
    resp = await http.patch(
        f"/api/rooms/{room['id']}/members/{admin.id}", json={"role": "admin"}, headers=owner.headers
    )
    assert resp.status_code == 200, resp.text
    said = await http.post(
        f"/api/rooms/{room['id']}/messages", json={"content": "hello"}, headers=member.headers
    )
    assert said.status_code == 201, said.text
    made = await http.post("/api/invites", json={"room_id": room["id"]}, headers=owner.headers)
    assert made.status_code == 201, made.text
    actors = {"owner": owner, "admin": admin, "member": member, "outsider": outsider}
    return World(room, {**actors, "target": target}, made.json()["token"])


async def snapshot(server: Server) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the room tables, in a stable order."""
    state = {}
    async with server.services.db.read() as conn:
        for table in (rooms, room_members, messages, invites):
            query = sa.select(table).order_by(*table.primary_key.columns)
            state[table.name] = [tuple(row) for row in (await conn.execute(query)).all()]
    return state


# ---------------------------------------------------------------- HTTP calls
@dataclass(frozen=True)
class Call:
    """One room-scoped call and the status each role gets (outsider member admin owner)."""

    name: str
    method: str
    path: str  # {room}, {target}, {me} and {token} are filled in from the world
    body: Any
    private: str
    public: str
    reads: bool = False  # never changes state

    def expected(self, role: str, public: bool) -> int:
        statuses = (self.public if public else self.private).split()
        return int(statuses[ROLES.index(role)])


CALLS = [
    Call("get_room", "GET", "/api/rooms/{room}", None, "404 200 200 200", "200 200 200 200", True),
    Call(
        "patch_room", "PATCH", "/api/rooms/{room}", {"name": "renamed"},
        "404 403 200 200", "403 403 200 200",
    ),
    Call("delete_room", "DELETE", "/api/rooms/{room}", None, "404 403 403 204", "403 403 403 204"),
    Call("join", "POST", "/api/rooms/{room}/join", None, "404 200 200 200", "200 200 200 200"),
    Call("clear", "POST", "/api/rooms/{room}/clear", None, "404 403 204 204", "403 403 204 204"),
    Call(
        "remove_member", "DELETE", "/api/rooms/{room}/members/{target}", None,
        "404 403 204 204", "403 403 204 204",
    ),
    Call(
        "leave", "DELETE", "/api/rooms/{room}/members/{me}", None,
        "404 204 204 409", "404 204 204 409",
    ),
    Call(
        "set_role", "PATCH", "/api/rooms/{room}/members/{target}", {"role": "admin"},
        "404 403 403 200", "403 403 403 200",
    ),
    Call(
        "get_messages", "GET", "/api/rooms/{room}/messages", None,
        "404 200 200 200", "200 200 200 200", True,
    ),
    Call(
        "post_message", "POST", "/api/rooms/{room}/messages", {"content": "hi all"},
        "404 201 201 201", "403 201 201 201",
    ),
    Call(
        "create_invite", "POST", "/api/invites", {"room_id": "{room}"},
        "404 403 201 201", "403 201 201 201",
    ),
    Call(
        "list_invites", "GET", "/api/invites?room_id={room}", None,
        "404 403 200 200", "403 403 200 200", True,
    ),
    Call(
        "revoke_invite", "DELETE", "/api/invites/{token}", None,
        "404 403 204 204", "403 403 204 204",
    ),
]  # fmt: skip


def _names(world: World, who: Actor | None, *, ghost: bool = False) -> dict[str, str]:
    return {
        "room": GHOST_ROOM if ghost else world.room["id"],
        "token": GHOST_TOKEN if ghost else world.token,
        "target": world.actors["target"].id,
        "me": who.id if who else world.actors["member"].id,
    }


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


async def perform(
    http: httpx.AsyncClient, call: Call, world: World, who: Actor | None, *, ghost: bool = False
) -> httpx.Response:
    """Make the call as `who`; with ghost, aim it at a room (or invite) that does not exist."""
    names = _names(world, who, ghost=ghost)
    headers = who.headers if who else {}
    kwargs: dict[str, Any] = {"headers": headers}
    if call.body is not None:
        kwargs["json"] = _fill(call.body, names)
    return await http.request(call.method, _fill(call.path, names), **kwargs)


def changes_state(call: Call, role: str, status: int) -> bool:
    """Whether a call answered with `status` should have written anything."""
    if status >= 300 or call.reads:
        return False
    return call.name != "join" or role == "outsider"  # joining again is a no-op


CASES = [
    pytest.param(call, role, public, id=f"{call.name}-{role}-{'public' if public else 'private'}")
    for call in CALLS
    for public in (False, True)
    for role in ROLES
]


@pytest.mark.parametrize(("call", "role", "public"), CASES)
async def test_http_call_by_role(
    http, server: Server, register: Register, call: Call, role: str, public: bool
) -> None:
    world = await build_world(http, register, public=public)
    who = world.actors[role]
    watcher = await world.actors["target"].socket(join=(world.room["id"],))
    before = await snapshot(server)
    resp = await perform(http, call, world, who)
    want = call.expected(role, public)
    assert resp.status_code == want, (call.name, role, resp.text)
    if resp.status_code >= 400:
        assert resp.json()["detail"]
    after = await snapshot(server)
    if changes_state(call, role, resp.status_code):
        assert after != before
    else:
        assert after == before
    if resp.status_code >= 400:
        await watcher.silent()
    if want == 404 and role == "outsider" and not public:
        ghost = await perform(http, call, world, who, ghost=True)
        assert (ghost.status_code, ghost.json()) == (resp.status_code, resp.json())


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
async def test_every_call_without_a_token_is_401(
    http, server: Server, register: Register, public: bool
) -> None:
    world = await build_world(http, register, public=public)
    watcher = await world.actors["target"].socket(join=(world.room["id"],))
    before = await snapshot(server)
    for call in CALLS:
        resp = await perform(http, call, world, None)
        assert resp.status_code == 401, (call.name, resp.text)
        assert resp.json()["detail"]
        tampered = {"Authorization": "Bearer " + world.actors["owner"].token[:-4] + "AAAA"}
        forged = await http.request(
            call.method, _fill(call.path, _names(world, None)), headers=tampered
        )
        assert forged.status_code == 401, (call.name, forged.text)
    assert await snapshot(server) == before
    await watcher.silent()


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
async def test_members_read_the_room_and_outsiders_only_a_public_one(
    http, register: Register, public: bool
) -> None:
    world = await build_world(http, register, public=public)
    for role in ROLES:
        who = world.actors[role]
        resp = await http.get(f"/api/rooms/{world.room['id']}", headers=who.headers)
        if role == "outsider" and not public:
            assert resp.status_code == 404
            continue
        assert resp.status_code == 200
        assert resp.json()["my_role"] == (None if role == "outsider" else role)
        assert len(resp.json()["members"]) == 4
        page = await http.get(f"/api/rooms/{world.room['id']}/messages", headers=who.headers)
        assert [m["content"] for m in page.json()["messages"]] == ["hello"]


# ---------------------------------------------------------------- WebSocket frames
FRAMES = ("join_room", "typing", "send_message", "cancel_ai")


def frame_for(kind: str, room_id: str) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "typing": {"is_typing": True},
        "send_message": {"content": "over the socket", "client_id": "c-1"},
    }.get(kind, {})
    return {"type": kind, "room_id": room_id, **extra}


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
async def test_outsider_frames_are_not_found(
    http, server: Server, register: Register, public: bool
) -> None:
    world = await build_world(http, register, public=public)
    room_id = world.room["id"]
    members = [await world.actors[r].socket(join=(room_id,)) for r in ("owner", "member")]
    dave = await world.actors["outsider"].socket()
    before = await snapshot(server)
    for kind in FRAMES:
        await dave.send(frame_for(kind, room_id))
        error = await dave.recv()
        assert error["type"] == "error" and error["code"] == "not_found", (kind, error)
        assert error["detail"]
        await dave.send(frame_for(kind, GHOST_ROOM))
        assert await dave.recv() == error, kind  # the same answer as no room at all
    assert await snapshot(server) == before
    for sock in members:
        await sock.silent()
    await dave.send({"type": "ping"})
    assert await dave.recv() == {"type": "pong"}


@pytest.mark.parametrize("role", ["member", "admin", "owner"])
@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
async def test_member_frames_work(
    http, server: Server, register: Register, public: bool, role: str
) -> None:
    world = await build_world(http, register, public=public)
    room_id, me = world.room["id"], world.actors[role]
    other = await world.actors["target"].socket(join=(room_id,))
    outsider = await world.actors["outsider"].socket()
    sock = await me.socket()
    await sock.send(frame_for("join_room", room_id))
    assert await sock.recv() == {"type": "joined", "room_id": room_id}

    await sock.send(frame_for("typing", room_id))
    typing = await other.expect("user_typing")
    assert typing["user"]["id"] == me.id and typing["is_typing"] is True

    await sock.send(frame_for("send_message", room_id))
    mine = await sock.recv()  # the typing event was never echoed to the typist
    theirs = await other.expect("new_message")
    assert mine["type"] == "new_message" and mine["client_id"] == "c-1"
    assert "client_id" not in theirs
    assert theirs["message"]["author"]["id"] == me.id
    assert theirs["message"]["content"] == "over the socket"

    await sock.send(frame_for("cancel_ai", room_id))  # nothing streaming: nothing to say
    await sock.silent()
    await other.silent()
    await outsider.silent()


@pytest.mark.parametrize("public", [False, True], ids=["private", "public"])
async def test_an_outsider_socket_hears_nothing_of_the_room(
    http, server: Server, register: Register, public: bool
) -> None:
    world = await build_world(http, register, public=public)
    room_id, a = world.room["id"], world.actors
    dave = await a["outsider"].socket()
    await dave.send({"type": "join_room", "room_id": room_id})
    assert (await dave.recv())["code"] == "not_found"
    owner = await a["owner"].socket(join=(room_id,))
    bob = await a["member"].socket(join=(room_id,))
    base = f"/api/rooms/{room_id}"

    await owner.send(frame_for("send_message", room_id))
    await bob.expect("new_message")
    await owner.send(frame_for("typing", room_id))
    await bob.expect("user_typing")
    assert (await http.patch(base, json={"name": "x"}, headers=a["owner"].headers)).is_success
    await bob.expect("room_updated")
    role = {"role": "admin"}
    path = f"{base}/members/{a['member'].id}"
    assert (await http.patch(path, json=role, headers=a["owner"].headers)).is_success
    await bob.expect("room_updated")
    assert (await http.post(f"{base}/clear", headers=a["owner"].headers)).status_code == 204
    await bob.expect("room_cleared")
    newcomer = await register("frank")
    await add_member(http, world.room, a["owner"], newcomer)
    await bob.expect("member_joined")
    path = f"{base}/members/{a['target'].id}"
    assert (await http.delete(path, headers=a["owner"].headers)).status_code == 204
    await bob.expect("member_left")
    await dave.silent()
    await dave.send({"type": "ping"})
    assert await dave.recv() == {"type": "pong"}


ODD_IDS = [  # (as a path segment, as a JSON value)
    pytest.param("a%00b", "a\x00b", id="nul"),
    pytest.param("%07", "\x07", id="bell"),
    pytest.param("x" * 5000, "x" * 5000, id="long"),
    pytest.param("%C3%BC-room", "ü-room", id="unicode"),
    pytest.param("%ED%A0%80", "\u00ed", id="bad-utf8"),
]


@pytest.mark.parametrize(("segment", "value"), ODD_IDS)
async def test_odd_ids_look_like_missing_rooms(
    http, server: Server, register: Register, segment: str, value: str
) -> None:
    """IDs are opaque: one that names nothing is 404 (never a 500), whatever it holds."""
    world = await build_world(http, register, public=True)
    owner = world.actors["owner"]
    before = await snapshot(server)
    for call in CALLS:
        odd = value if call.name == "create_invite" else segment
        if call.name in ("create_invite", "list_invites"):
            odd = odd[:64]  # a room_id input over 64 characters is a 422, not a lookup
        resp = await perform(http, call, World({**world.room, "id": odd}, world.actors, odd), owner)
        ghost = await perform(http, call, world, owner, ghost=True)
        assert (resp.status_code, resp.json()) == (ghost.status_code, ghost.json()), call.name
    preview = await http.get(f"/api/invites/{segment}")
    accept = await http.post(f"/api/invites/{segment}/accept", headers=owner.headers)
    assert preview.status_code == accept.status_code == 404
    sock = await owner.socket()
    for kind in FRAMES:
        await sock.send(frame_for(kind, value[:64]))
        assert (await sock.recv())["code"] == "not_found", kind
    assert await snapshot(server) == before


@pytest.mark.parametrize("cursor", ["before", "after"])
async def test_odd_message_cursors_are_not_a_server_error(
    http, register: Register, cursor: str
) -> None:
    world = await build_world(http, register, public=False)
    path = f"/api/rooms/{world.room['id']}/messages?{cursor}=a%00b"
    resp = await http.get(path, headers=world.actors["member"].headers)
    assert resp.status_code in (200, 422), resp.text  # no such message: a page, or a bad cursor
    assert resp.json()
