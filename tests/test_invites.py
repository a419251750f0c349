"""Invites: alice makes links, bob and carol follow them, links expire, run out and get revoked."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import (
    ROOM_KEYS,
    TS,
    USER_PUBLIC_KEYS,
    Actor,
    Register,
    Server,
    add_member,
    create_room,
)
from groupchat.db.tables import invites, room_members

INVITE_KEYS = {
    "token",
    "room_id",
    "created_by",
    "created_at",
    "expires_at",
    "max_uses",
    "uses",
    "url",
}
GHOST_ROOM = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
GHOST_TOKEN = "no-such-invite-token-at-all-0123"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def invite_rows(server: Server, **where: Any) -> list[dict[str, Any]]:
    query = sa.select(invites).order_by(invites.c.created_at, invites.c.token)
    for column, value in where.items():
        query = query.where(invites.c[column] == value)
    async with server.services.db.read() as conn:
        return [dict(row._mapping) for row in (await conn.execute(query)).all()]


async def invite_row(server: Server, token: str) -> dict[str, Any]:
    found = await invite_rows(server, token=token)
    assert len(found) == 1
    return found[0]


async def member_ids(server: Server, room_id: str) -> set[str]:
    query = sa.select(room_members.c.user_id).where(room_members.c.room_id == room_id)
    async with server.services.db.read() as conn:
        return set((await conn.execute(query)).scalars())


async def expire(server: Server, token: str) -> None:
    """Move an invite's expiry into the past (no waiting)."""
    async with server.services.db.write() as conn:
        await conn.execute(
            invites.update()
            .where(invites.c.token == token)
            .values(expires_at="2001-01-01T00:00:00.000Z")
        )


async def new_invite(http, room: dict[str, Any], by: Actor, **fields: Any) -> dict[str, Any]:
    resp = await http.post(
        "/api/invites", json={"room_id": room["id"], **fields}, headers=by.headers
    )
    assert resp.status_code == 201, resp.text
    invite: dict[str, Any] = resp.json()
    return invite


async def accept(http, token: str, who: Actor) -> Any:
    return await http.post(f"/api/invites/{token}/accept", headers=who.headers)


async def promote(http, room: dict[str, Any], owner: Actor, who: Actor) -> None:
    resp = await http.patch(
        f"/api/rooms/{room['id']}/members/{who.id}", json={"role": "admin"}, headers=owner.headers
    )
    assert resp.status_code == 200, resp.text


# ---------------------------------------------------------------- create
async def test_alice_creates_an_invite_with_defaults(http, server: Server, alice: Actor) -> None:
    room = await create_room(http, alice)
    resp = await http.post("/api/invites", json={"room_id": room["id"]}, headers=alice.headers)
    assert resp.status_code == 201, resp.text
    invite = resp.json()
    assert set(invite) == INVITE_KEYS
    assert invite["room_id"] == room["id"] and invite["created_by"] == alice.id
    assert invite["url"] == f"/invite/{invite['token']}"
    assert len(invite["token"]) >= 16 and re.fullmatch(r"[A-Za-z0-9_-]+", invite["token"])
    assert invite["uses"] == 0 and invite["max_uses"] is None
    assert TS.match(invite["created_at"]) and TS.match(invite["expires_at"])
    assert ts(invite["expires_at"]) - ts(invite["created_at"]) == timedelta(hours=168)
    stored = await invite_row(server, invite["token"])
    assert stored["room_id"] == room["id"] and stored["created_by"] == alice.id
    assert stored["expires_at"] == invite["expires_at"] and stored["uses"] == 0
    assert stored["revoked"] is False


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (1, timedelta(hours=1)),
        (0.5, timedelta(minutes=30)),
        (0.0003, timedelta(seconds=1.08)),
        (8760, timedelta(hours=8760)),
        (None, None),
    ],
)
async def test_expiry_choices(
    http, server: Server, alice: Actor, hours: float | None, expected: timedelta | None
) -> None:
    room = await create_room(http, alice)
    invite = await new_invite(http, room, alice, expires_in_hours=hours)
    if expected is None:
        assert invite["expires_at"] is None
    else:
        assert ts(invite["expires_at"]) - ts(invite["created_at"]) == expected
    assert (await invite_row(server, invite["token"]))["expires_at"] == invite["expires_at"]


async def test_max_uses_is_stored(http, server: Server, alice: Actor) -> None:
    room = await create_room(http, alice)
    invite = await new_invite(http, room, alice, max_uses=3)
    assert invite["max_uses"] == 3 and invite["uses"] == 0
    assert (await invite_row(server, invite["token"]))["max_uses"] == 3


async def test_who_may_create_invites(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor, register: Register
) -> None:
    dave = await register("dave")
    private = await create_room(http, alice)
    public = await create_room(http, alice, name="open", is_public=True)
    await add_member(http, private, alice, bob)
    await add_member(http, private, alice, carol)
    await promote(http, private, alice, carol)
    await http.post(f"/api/rooms/{public['id']}/join", headers=bob.headers)
    before = await invite_rows(server)

    async def create(room: dict[str, Any], who: Actor) -> Any:
        return await http.post("/api/invites", json={"room_id": room["id"]}, headers=who.headers)

    assert (await create(private, carol)).status_code == 201  # admin
    assert (await create(public, bob)).status_code == 201  # any member of a public room
    member = await create(private, bob)
    assert member.status_code == 403 and member.json()["detail"]
    outsider = await create(private, dave)
    ghost = await http.post("/api/invites", json={"room_id": GHOST_ROOM}, headers=dave.headers)
    assert outsider.status_code == ghost.status_code == 404
    assert outsider.json() == ghost.json()
    visitor = await create(public, dave)  # can see the public room, is not a member
    assert visitor.status_code == 403
    after = await invite_rows(server)
    assert sorted(r["created_by"] for r in after if r not in before) == sorted([carol.id, bob.id])


BAD_CREATE: list[tuple[str, Any]] = [
    ("expires zero", {"expires_in_hours": 0}),
    ("expires zero float", {"expires_in_hours": 0.0}),
    ("expires negative", {"expires_in_hours": -1}),
    ("expires over a year", {"expires_in_hours": 8761}),
    ("expires just over a year", {"expires_in_hours": 8760.01}),
    ("expires as string", {"expires_in_hours": "24"}),
    ("expires as bool", {"expires_in_hours": True}),
    ("expires as list", {"expires_in_hours": [1]}),
    ("max_uses zero", {"max_uses": 0}),
    ("max_uses negative", {"max_uses": -2}),
    ("max_uses fraction", {"max_uses": 1.5}),
    ("max_uses as string", {"max_uses": "3"}),
    ("max_uses as bool", {"max_uses": True}),
    ("max_uses huge", {"max_uses": 10**20}),
    ("unknown field", {"role": "admin"}),
    ("unknown field uses", {"uses": 5}),
]


@pytest.mark.parametrize(("case", "extra"), BAD_CREATE, ids=[c for c, _ in BAD_CREATE])
async def test_bad_create_bodies_are_422(
    http, server: Server, alice: Actor, case: str, extra: dict[str, Any]
) -> None:
    room = await create_room(http, alice)
    body = {"room_id": room["id"], **extra}
    resp = await http.post("/api/invites", json=body, headers=alice.headers)
    assert resp.status_code == 422, (case, resp.text)
    assert resp.json()["detail"]
    assert await invite_rows(server) == []


BAD_SHAPES: list[tuple[str, Any]] = [
    ("missing room_id", {}),
    ("room_id null", {"room_id": None}),
    ("room_id number", {"room_id": 5}),
    ("room_id empty", {"room_id": ""}),
    ("room_id too long", {"room_id": "r" * 65}),
    ("body is a list", []),
    ("body is null", None),
]


@pytest.mark.parametrize(("case", "body"), BAD_SHAPES, ids=[c for c, _ in BAD_SHAPES])
async def test_bad_invite_shapes_are_422(
    http, server: Server, alice: Actor, case: str, body: Any
) -> None:
    await create_room(http, alice)
    resp = await http.post("/api/invites", json=body, headers=alice.headers)
    assert resp.status_code == 422, (case, resp.text)
    assert await invite_rows(server) == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"room_id": "ROOM", "expires_in_hours": NaN}',
        '{"room_id": "ROOM", "expires_in_hours": Infinity}',
        '{"room_id": "ROOM", "expires_in_hours": -Infinity}',
        '{"room_id": "ROOM\\ud800"}',
        '{"room_id": "ROOM"',
        "",
    ],
    ids=["nan", "infinity", "minus-infinity", "lone-surrogate", "truncated", "empty"],
)
async def test_malformed_invite_bodies_are_422(
    http, server: Server, alice: Actor, raw: str
) -> None:
    room = await create_room(http, alice)
    headers = {**alice.headers, "Content-Type": "application/json"}
    body = raw.replace("ROOM", room["id"]).encode()
    resp = await http.post("/api/invites", content=body, headers=headers)
    assert resp.status_code == 422, resp.text
    assert await invite_rows(server) == []


# ---------------------------------------------------------------- list
async def test_the_list_shows_active_invites_only(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    other = await create_room(http, alice, name="other")
    await add_member(http, room, alice, carol)  # makes and uses an unlimited link
    await promote(http, room, alice, carol)
    forever = await new_invite(http, room, alice, expires_in_hours=None)
    limited = await new_invite(http, room, carol, max_uses=2)
    expired = await new_invite(http, room, alice)
    await expire(server, expired["token"])
    used_up = await new_invite(http, room, alice, max_uses=1)
    assert (await accept(http, used_up["token"], bob)).status_code == 200
    revoked = await new_invite(http, room, alice)
    assert (await http.delete(f"/api/invites/{revoked['token']}", headers=alice.headers)).is_success
    await new_invite(http, other, alice)  # another room's link is not listed

    for who in (alice, carol):
        resp = await http.get(f"/api/invites?room_id={room['id']}", headers=who.headers)
        assert resp.status_code == 200, resp.text
        assert set(resp.json()) == {"invites"}
        listed = resp.json()["invites"]
        active = {forever["token"], limited["token"]}
        first_link = {i["token"] for i in listed} - active  # the one add_member used, unlimited
        assert len(listed) == 3 and len(first_link) == 1
        for invite in listed:
            assert set(invite) == INVITE_KEYS and invite["room_id"] == room["id"]
        by_token = {i["token"]: i for i in listed}
        assert by_token[forever["token"]] == forever
        assert by_token[limited["token"]] == limited
    refused = await http.get(f"/api/invites?room_id={room['id']}", headers=bob.headers)
    assert refused.status_code == 403


async def test_listing_needs_a_visible_room_and_a_room_id(http, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    hidden = await http.get(f"/api/invites?room_id={room['id']}", headers=bob.headers)
    ghost = await http.get(f"/api/invites?room_id={GHOST_ROOM}", headers=bob.headers)
    assert hidden.status_code == ghost.status_code == 404
    assert hidden.json() == ghost.json()
    missing = await http.get("/api/invites", headers=alice.headers)
    assert missing.status_code == 422
    anonymous = await http.get(f"/api/invites?room_id={room['id']}")
    assert anonymous.status_code == 401


# ---------------------------------------------------------------- preview
async def test_anyone_with_the_link_sees_a_preview(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, name="book club", description="we read")
    await add_member(http, room, alice, bob)
    invite = await new_invite(http, room, alice)
    resp = await http.get(f"/api/invites/{invite['token']}")  # no Authorization header
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "room": {
            "id": room["id"],
            "name": "book club",
            "description": "we read",
            "member_count": 2,
        },
        "expires_at": invite["expires_at"],
    }
    forever = await new_invite(http, room, alice, expires_in_hours=None)
    open_ended = await http.get(f"/api/invites/{forever['token']}")
    assert open_ended.status_code == 200 and open_ended.json()["expires_at"] is None
    assert (await invite_row(server, invite["token"]))["uses"] == 0  # looking uses nothing


async def test_previews_of_unknown_revoked_expired_and_used_up_links(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    unknown = await http.get(f"/api/invites/{GHOST_TOKEN}")
    assert unknown.status_code == 404 and unknown.json()["detail"]
    revoked = await new_invite(http, room, alice)
    await http.delete(f"/api/invites/{revoked['token']}", headers=alice.headers)
    gone = await http.get(f"/api/invites/{revoked['token']}")
    assert gone.status_code == 404 and gone.json() == unknown.json()
    expired = await new_invite(http, room, alice)
    await expire(server, expired["token"])
    late = await http.get(f"/api/invites/{expired['token']}")
    assert late.status_code == 410 and late.json()["detail"]
    used_up = await new_invite(http, room, alice, max_uses=1)
    assert (await accept(http, used_up["token"], bob)).status_code == 200
    full = await http.get(f"/api/invites/{used_up['token']}")
    assert full.status_code == 410 and full.json()["detail"]


async def test_links_to_a_deleted_room_are_404(http, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    invite = await new_invite(http, room, alice)
    assert (await http.delete(f"/api/rooms/{room['id']}", headers=alice.headers)).status_code == 204
    assert (await http.get(f"/api/invites/{invite['token']}")).status_code == 404
    assert (await accept(http, invite["token"], bob)).status_code == 404


# ---------------------------------------------------------------- accept
async def test_bob_accepts_an_invite(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    invite = await new_invite(http, room, alice)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket()
    c = await carol.socket()
    resp = await accept(http, invite["token"], bob)
    assert resp.status_code == 200, resp.text
    joined = resp.json()
    assert set(joined) == ROOM_KEYS
    assert joined["id"] == room["id"] and joined["my_role"] == "member"
    assert joined["member_count"] == 2
    event = {
        "type": "member_joined",
        "room_id": room["id"],
        "user": {k: bob.user[k] for k in USER_PUBLIC_KEYS},
    }
    assert await a.expect("member_joined") == event
    assert await b.expect("member_joined") == event
    await c.silent()
    assert await member_ids(server, room["id"]) == {alice.id, bob.id}
    assert (await invite_row(server, invite["token"]))["uses"] == 1
    await b.join(room["id"])

    again = await accept(http, invite["token"], bob)
    assert again.status_code == 200 and again.json() == joined
    assert (await invite_row(server, invite["token"]))["uses"] == 1
    owner = await accept(http, invite["token"], alice)
    assert owner.status_code == 200 and owner.json()["my_role"] == "owner"
    assert (await invite_row(server, invite["token"]))["uses"] == 1
    await a.silent()
    await b.silent()


async def test_max_uses_runs_out(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor, register: Register
) -> None:
    dave = await register("dave")
    room = await create_room(http, alice)
    invite = await new_invite(http, room, alice, max_uses=2)
    a = await alice.socket(join=(room["id"],))
    assert (await accept(http, invite["token"], bob)).status_code == 200
    assert (await invite_row(server, invite["token"]))["uses"] == 1
    assert (await accept(http, invite["token"], carol)).status_code == 200
    assert (await invite_row(server, invite["token"]))["uses"] == 2
    await a.expect("member_joined")
    await a.expect("member_joined")
    d = await dave.socket()
    refused = await accept(http, invite["token"], dave)
    assert refused.status_code == 410 and refused.json()["detail"]
    assert await member_ids(server, room["id"]) == {alice.id, bob.id, carol.id}
    assert (await invite_row(server, invite["token"]))["uses"] == 2
    # a member following a used-up link changes nothing and is not refused
    member_again = await accept(http, invite["token"], bob)
    assert member_again.status_code == 200 and member_again.json()["my_role"] == "member"
    assert (await invite_row(server, invite["token"]))["uses"] == 2
    await a.silent()
    await d.silent()


async def test_an_expired_invite_is_410(http, server: Server, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    invite = await new_invite(http, room, alice, expires_in_hours=0.0003)
    await expire(server, invite["token"])  # as if the ~1 s had passed
    a = await alice.socket(join=(room["id"],))
    resp = await accept(http, invite["token"], bob)
    assert resp.status_code == 410 and resp.json()["detail"]
    assert await member_ids(server, room["id"]) == {alice.id}
    assert (await invite_row(server, invite["token"]))["uses"] == 0
    await a.silent()


async def test_accepting_unknown_or_anonymously(http, server: Server, alice: Actor) -> None:
    room = await create_room(http, alice)
    invite = await new_invite(http, room, alice)
    unknown = await http.post(f"/api/invites/{GHOST_TOKEN}/accept", headers=alice.headers)
    assert unknown.status_code == 404 and unknown.json()["detail"]
    anonymous = await http.post(f"/api/invites/{invite['token']}/accept")
    assert anonymous.status_code == 401
    assert (await invite_row(server, invite["token"]))["uses"] == 0


async def test_an_invite_to_a_public_room_from_a_member(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    assert (await http.post(f"/api/rooms/{room['id']}/join", headers=bob.headers)).is_success
    invite = await new_invite(http, room, bob)
    assert invite["created_by"] == bob.id
    resp = await accept(http, invite["token"], carol)
    assert resp.status_code == 200 and resp.json()["member_count"] == 3
    assert carol.id in await member_ids(server, room["id"])


# ---------------------------------------------------------------- revoke
async def test_revoking_by_creator_owner_and_admin(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    await http.post(f"/api/rooms/{room['id']}/join", headers=bob.headers)
    await http.post(f"/api/rooms/{room['id']}/join", headers=carol.headers)
    await promote(http, room, alice, carol)
    cases = [(bob, bob), (bob, alice), (bob, carol), (alice, carol), (carol, alice)]
    for creator, revoker in cases:
        invite = await new_invite(http, room, creator)
        resp = await http.delete(f"/api/invites/{invite['token']}", headers=revoker.headers)
        assert resp.status_code == 204 and resp.content == b"", (creator.name, revoker.name)
        assert (await invite_row(server, invite["token"]))["revoked"] is True


async def test_revoked_links_are_404(http, server: Server, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    invite = await new_invite(http, room, alice)
    assert (await http.delete(f"/api/invites/{invite['token']}", headers=alice.headers)).is_success
    preview = await http.get(f"/api/invites/{invite['token']}")
    assert preview.status_code == 404
    joined = await accept(http, invite["token"], bob)
    assert joined.status_code == 404
    assert await member_ids(server, room["id"]) == {alice.id}
    listed = await http.get(f"/api/invites?room_id={room['id']}", headers=alice.headers)
    assert listed.json() == {"invites": []}
    twice = await http.delete(f"/api/invites/{invite['token']}", headers=alice.headers)
    assert twice.status_code == 404


async def test_who_may_not_revoke(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor, register: Register
) -> None:
    dave = await register("dave")
    private = await create_room(http, alice)
    public = await create_room(http, alice, name="open", is_public=True)
    await add_member(http, private, alice, bob)
    await http.post(f"/api/rooms/{public['id']}/join", headers=bob.headers)
    await http.post(f"/api/rooms/{public['id']}/join", headers=carol.headers)
    private_link = await new_invite(http, private, alice)
    public_link = await new_invite(http, public, carol)

    async def revoke(token: str, who: Actor) -> Any:
        return await http.delete(f"/api/invites/{token}", headers=who.headers)

    member = await revoke(private_link["token"], bob)  # neither creator nor owner/admin
    assert member.status_code == 403 and member.json()["detail"]
    other_member = await revoke(public_link["token"], bob)
    assert other_member.status_code == 403
    outsider = await revoke(private_link["token"], dave)
    ghost = await revoke(GHOST_TOKEN, dave)
    assert outsider.status_code == ghost.status_code == 404
    assert outsider.json() == ghost.json()
    visitor = await revoke(public_link["token"], dave)  # sees the public room, may not manage it
    assert visitor.status_code == 403
    anonymous = await http.delete(f"/api/invites/{private_link['token']}")
    assert anonymous.status_code == 401
    for link in (private_link, public_link):
        assert (await invite_row(server, link["token"]))["revoked"] is False
        assert (await http.get(f"/api/invites/{link['token']}")).status_code == 200
