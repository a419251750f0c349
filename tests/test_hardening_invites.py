"""An invite only works while its creator could still create it: bob, a plain member of a public
room, mints links; alice makes the room private, removes or demotes people, and bob's links die."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from conftest import Actor, Server, add_member, create_room
from groupchat.db.tables import invites, room_members, users
from test_nostr_api import NostrKey, pending_invites
from test_nostr_api import login as nostr_login


async def mint(http: httpx.AsyncClient, room: dict[str, Any], who: Actor) -> str:
    """A never-expiring invite made by `who`."""
    resp = await http.post(
        "/api/invites", json={"room_id": room["id"], "expires_in_hours": None}, headers=who.headers
    )
    assert resp.status_code == 201, resp.text
    token: str = resp.json()["token"]
    return token


async def join(http: httpx.AsyncClient, room: dict[str, Any], who: Actor) -> None:
    resp = await http.post(f"/api/rooms/{room['id']}/join", headers=who.headers)
    assert resp.status_code == 200, resp.text


async def revoked(server: Server, token: str) -> bool:
    query = sa.select(invites.c.revoked).where(invites.c.token == token)
    async with server.services.db.read() as conn:
        return bool((await conn.execute(query)).scalar_one())


async def member_ids(server: Server, room_id: str) -> set[str]:
    query = sa.select(room_members.c.user_id).where(room_members.c.room_id == room_id)
    async with server.services.db.read() as conn:
        return set((await conn.execute(query)).scalars())


async def listed(http: httpx.AsyncClient, room: dict[str, Any], admin: Actor) -> set[str]:
    resp = await http.get("/api/invites", params={"room_id": room["id"]}, headers=admin.headers)
    assert resp.status_code == 200, resp.text
    return {invite["token"] for invite in resp.json()["invites"]}


async def test_a_removed_member_cannot_come_back_through_their_own_invite(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    await join(http, room, bob)
    token = await mint(http, room, bob)
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"is_public": False}, headers=alice.headers
    )
    assert resp.status_code == 200
    assert await revoked(server, token)
    resp = await http.delete(f"/api/rooms/{room['id']}/members/{bob.id}", headers=alice.headers)
    assert resp.status_code == 204
    alice_sock = await alice.socket(join=(room["id"],))

    resp = await http.post(f"/api/invites/{token}/accept", headers=bob.headers)

    assert resp.status_code == 404
    assert resp.json() == {"detail": "invite not found"}
    assert await member_ids(server, room["id"]) == {alice.id}
    assert (await http.get(f"/api/rooms/{room['id']}", headers=bob.headers)).status_code == 404
    assert (await http.get(f"/api/invites/{token}")).status_code == 404
    await alice_sock.silent()  # no member_joined


async def test_making_a_room_private_revokes_only_plain_members_invites(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor, register
) -> None:
    dave = await register("dave")
    room = await create_room(http, alice, is_public=True)
    for who in (bob, carol):
        await join(http, room, who)
    resp = await http.patch(
        f"/api/rooms/{room['id']}/members/{carol.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert resp.status_code == 200
    from_bob, from_carol, from_alice = [await mint(http, room, who) for who in (bob, carol, alice)]

    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"is_public": False}, headers=alice.headers
    )

    assert resp.status_code == 200
    assert [await revoked(server, t) for t in (from_bob, from_carol, from_alice)] == [
        True,
        False,
        False,
    ]
    assert await listed(http, room, alice) == {from_carol, from_alice}
    assert (await http.get(f"/api/invites/{from_bob}")).status_code == 404
    assert (
        await http.post(f"/api/invites/{from_bob}/accept", headers=dave.headers)
    ).status_code == 404
    assert (
        await http.post(f"/api/invites/{from_carol}/accept", headers=dave.headers)
    ).status_code == 200
    assert dave.id in await member_ids(server, room["id"])


async def test_a_public_rooms_member_invites_still_work(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    await join(http, room, bob)
    token = await mint(http, room, bob)

    preview = await http.get(f"/api/invites/{token}")
    accepted = await http.post(f"/api/invites/{token}/accept", headers=carol.headers)

    assert preview.status_code == 200 and preview.json()["room"]["id"] == room["id"]
    assert accepted.status_code == 200
    assert carol.id in await member_ids(server, room["id"])


async def test_leaving_or_demotion_revokes_the_members_invites(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor, register
) -> None:
    dave = await register("dave")
    room = await create_room(http, alice)
    for who in (bob, carol):
        await add_member(http, room, alice, who)
        resp = await http.patch(
            f"/api/rooms/{room['id']}/members/{who.id}",
            json={"role": "admin"},
            headers=alice.headers,
        )
        assert resp.status_code == 200
    from_bob, from_carol = await mint(http, room, bob), await mint(http, room, carol)

    demoted = await http.patch(
        f"/api/rooms/{room['id']}/members/{bob.id}", json={"role": "member"}, headers=alice.headers
    )
    left = await http.delete(f"/api/rooms/{room['id']}/members/{carol.id}", headers=carol.headers)

    assert (demoted.status_code, left.status_code) == (200, 204)
    assert await revoked(server, from_bob) and await revoked(server, from_carol)
    for token in (from_bob, from_carol):
        resp = await http.post(f"/api/invites/{token}/accept", headers=dave.headers)
        assert resp.status_code == 404
    assert await member_ids(server, room["id"]) == {alice.id, bob.id}


async def test_an_invite_is_checked_against_its_creator_at_use_time(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    """A link minted before this rule existed, whose creator lost the right without the link
    being revoked (an older server demoted them), is refused all the same."""
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    resp = await http.patch(
        f"/api/rooms/{room['id']}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert resp.status_code == 200
    token = await mint(http, room, bob)
    async with server.services.db.write() as conn:  # what an older server left behind
        await conn.execute(
            room_members.update()
            .where(room_members.c.room_id == room["id"], room_members.c.user_id == bob.id)
            .values(role="member")
        )
    assert not await revoked(server, token)

    preview = await http.get(f"/api/invites/{token}")
    accepted = await http.post(f"/api/invites/{token}/accept", headers=carol.headers)

    assert (preview.status_code, accepted.status_code) == (404, 404)
    assert token not in await listed(http, room, alice)
    assert carol.id not in await member_ids(server, room["id"])
    async with server.services.db.read() as conn:
        uses = (
            await conn.execute(sa.select(invites.c.uses).where(invites.c.token == token))
        ).scalar()
    assert uses == 0  # nothing was counted for carol


async def test_signing_up_with_a_dead_invite_is_refused(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    """The sign-up path uses the same usable-invite rule (open mode still honours a token)."""
    room = await create_room(http, alice, is_public=True)
    await join(http, room, bob)
    token = await mint(http, room, bob)
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"is_public": False}, headers=alice.headers
    )
    assert resp.status_code == 200

    resp = await http.post(
        "/api/auth/register",
        json={"username": "dave", "password": "correct horse 1", "invite_token": token},
    )

    assert resp.status_code == 403
    assert await member_ids(server, room["id"]) == {alice.id, bob.id}
    async with server.services.db.read() as conn:
        names = set((await conn.execute(sa.select(users.c.username))).scalars())
    assert names == {"alice", "bob"}


async def nostr_invite(http: httpx.AsyncClient, room: dict[str, Any], who: Actor, key: Any) -> None:
    resp = await http.post(
        "/api/invites/nostr",
        json={"room_id": room["id"], "pubkey": key.pubkey},
        headers=who.headers,
    )
    assert resp.status_code == 201, resp.text


async def test_a_removed_members_nostr_invites_go_with_them(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, is_public=True)
    await join(http, room, bob)
    from_bob, from_alice = NostrKey(), NostrKey()
    await nostr_invite(http, room, bob, from_bob)
    await nostr_invite(http, room, alice, from_alice)

    resp = await http.delete(f"/api/rooms/{room['id']}/members/{bob.id}", headers=alice.headers)

    assert resp.status_code == 204
    assert await pending_invites(server) == [(room["id"], from_alice.pubkey)]
    newcomer = await nostr_login(http, from_bob)
    assert newcomer["user"]["id"] not in await member_ids(server, room["id"])


async def test_a_nostr_invite_is_checked_against_its_creator_at_first_login(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    resp = await http.patch(
        f"/api/rooms/{room['id']}/members/{bob.id}", json={"role": "admin"}, headers=alice.headers
    )
    assert resp.status_code == 200
    key = NostrKey()
    await nostr_invite(http, room, bob, key)
    async with server.services.db.write() as conn:  # demoted by an older server: not revoked
        await conn.execute(
            room_members.update()
            .where(room_members.c.room_id == room["id"], room_members.c.user_id == bob.id)
            .values(role="member")
        )

    newcomer = await nostr_login(http, key)

    assert newcomer["user"]["id"] not in await member_ids(server, room["id"])
    assert await pending_invites(server) == []  # consumed all the same
