"""Nostr sign-in, key linking and key-bound invites, through the running server.

Events are built and signed here with coincurve and our own NIP-01 serialization, so the
server's checks are tested against an independent implementation.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from bech32 import bech32_encode, convertbits
from coincurve import PrivateKey

from conftest import Actor, Server, add_member, create_room, start_server
from groupchat.db.tables import nostr_challenges, nostr_invites, room_members, users
from groupchat.ids import parse_ts, utc_now

Event = dict[str, Any]
OFF_CURVE_KEY = "ff" * 32  # above the field prime: not an x coordinate of any point


def nip01_id(event: Event) -> str:
    fields = [
        0,
        event["pubkey"],
        event["created_at"],
        event["kind"],
        event["tags"],
        event["content"],
    ]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class NostrKey:
    """A fresh key pair that signs events as a NIP-07 extension would."""

    def __init__(self) -> None:
        self.secret = PrivateKey()
        self.pubkey = self.secret.public_key_xonly.format().hex()
        words = convertbits(bytes.fromhex(self.pubkey), 8, 5)
        assert words is not None
        self.npub = str(bech32_encode("npub", words))

    def sign_id(self, event_id: str) -> str:
        return self.secret.sign_schnorr(bytes.fromhex(event_id), os.urandom(32)).hex()

    def sign(self, event: Event) -> Event:
        signed = {"pubkey": self.pubkey, **event}
        signed["id"] = nip01_id(signed)
        signed["sig"] = self.sign_id(signed["id"])
        return signed

    def auth_event(
        self,
        challenge: str,
        *,
        kind: int = 22242,
        age: int = 0,
        content: str = "",
        tags: list[list[str]] | None = None,
    ) -> Event:
        if tags is None:
            tags = [["relay", "http://127.0.0.1"], ["challenge", challenge]]
        created_at = int(time.time()) - age
        return self.sign({"created_at": created_at, "kind": kind, "tags": tags, "content": content})


async def new_challenge(http: httpx.AsyncClient) -> str:
    resp = await http.post("/api/auth/nostr/challenge")
    assert resp.status_code == 200, resp.text
    challenge: str = resp.json()["challenge"]
    return challenge


async def login(http: httpx.AsyncClient, key: NostrKey) -> dict[str, Any]:
    """A complete sign-in: challenge, signed event, verify."""
    event = key.auth_event(await new_challenge(http))
    resp = await http.post("/api/auth/nostr/verify", json={"event": event})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def link(http: httpx.AsyncClient, who: Actor, key: NostrKey) -> httpx.Response:
    event = key.auth_event(await new_challenge(http))
    return await http.post("/api/auth/nostr/link", json={"event": event}, headers=who.headers)


async def user_count(server: Server) -> int:
    async with server.services.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(users))).scalar_one())


async def stored_challenges(server: Server) -> set[str]:
    async with server.services.db.read() as conn:
        return set((await conn.execute(sa.select(nostr_challenges.c.challenge))).scalars())


async def users_with_key(server: Server, pubkey: str) -> list[str]:
    query = sa.select(users.c.id).where(users.c.nostr_pubkey == pubkey)
    async with server.services.db.read() as conn:
        return list((await conn.execute(query)).scalars())


async def role_of(server: Server, room_id: str, user_id: str) -> str | None:
    query = sa.select(room_members.c.role).where(
        room_members.c.room_id == room_id, room_members.c.user_id == user_id
    )
    async with server.services.db.read() as conn:
        return (await conn.execute(query)).scalar_one_or_none()


async def pending_invites(server: Server) -> list[tuple[str, str]]:
    query = sa.select(nostr_invites.c.room_id, nostr_invites.c.pubkey)
    async with server.services.db.read() as conn:
        return [(row.room_id, row.pubkey) for row in (await conn.execute(query)).all()]


def public_user(user: dict[str, Any]) -> dict[str, Any]:
    return {k: user[k] for k in ("id", "username", "display_name", "avatar_url", "nostr_pubkey")}


# ---------------------------------------------------------------- challenges and login
async def test_challenge_is_random_stored_and_valid_five_minutes(server: Server, http) -> None:
    first = await http.post("/api/auth/nostr/challenge")
    second = await http.post("/api/auth/nostr/challenge")
    assert first.status_code == second.status_code == 200
    body = first.json()
    assert set(body) == {"challenge", "expires_at"}
    challenge = body["challenge"]
    assert len(challenge) >= 32 and all(c in "0123456789abcdef" for c in challenge)
    assert challenge != second.json()["challenge"]
    ahead = parse_ts(body["expires_at"]) - utc_now()
    assert timedelta(minutes=4, seconds=50) < ahead <= timedelta(minutes=5)
    assert await stored_challenges(server) == {challenge, second.json()["challenge"]}


async def test_first_login_creates_the_account_and_later_logins_find_it(
    server: Server, http, alice: Actor
) -> None:
    key = NostrKey()
    before = await user_count(server)
    challenge = await new_challenge(http)
    resp = await http.post("/api/auth/nostr/verify", json={"event": key.auth_event(challenge)})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    user = body["user"]
    assert user["nostr_pubkey"] == key.pubkey
    assert user["username"] == key.npub[:15]
    assert user["display_name"] == f"{key.npub[:12]}…{key.npub[-4:]}"
    assert user["bio"] is None and user["avatar_url"] is None
    assert await user_count(server) == before + 1
    assert await users_with_key(server, key.pubkey) == [user["id"]]
    assert challenge not in await stored_challenges(server)

    me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json() == user

    again = await login(http, key)
    assert again["user"] == user and again["token"] != body["token"]
    assert await user_count(server) == before + 1


async def test_the_nostr_token_works_for_websockets(server: Server, http, alice: Actor) -> None:
    room = await create_room(http, alice, is_public=True)
    body = await login(http, NostrKey())
    newcomer = Actor("nostr", body["token"], body["user"], server)
    joined = await http.post(f"/api/rooms/{room['id']}/join", headers=newcomer.headers)
    assert joined.status_code == 200, joined.text
    a = await alice.socket(join=(room["id"],))
    n = await newcomer.socket(join=(room["id"],))
    try:
        await n.send({"type": "ping"})
        assert await n.recv() == {"type": "pong"}
        await n.send({"type": "send_message", "room_id": room["id"], "content": "hello from nostr"})
        got = await a.expect("new_message")
        assert got["message"]["author"] == public_user(body["user"])
    finally:
        await n.close()


async def test_challenge_in_content_is_accepted(server: Server, http) -> None:
    key = NostrKey()
    challenge = await new_challenge(http)
    event = key.auth_event(challenge, tags=[["relay", "http://127.0.0.1"]], content=challenge)
    resp = await http.post("/api/auth/nostr/verify", json={"event": event})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["nostr_pubkey"] == key.pubkey
    assert challenge not in await stored_challenges(server)


async def test_a_username_taken_by_someone_else_gets_a_suffix(
    server: Server, http, register
) -> None:
    key = NostrKey()
    squatter = await register(key.npub[:15].upper())
    body = await login(http, key)
    assert body["user"]["id"] != squatter.id
    assert body["user"]["username"] == f"{key.npub[:15]}-2"


async def test_concurrent_first_logins_make_one_account(server: Server, http) -> None:
    key = NostrKey()
    events = [key.auth_event(await new_challenge(http)) for _ in range(3)]
    answers = await asyncio.gather(
        *(http.post("/api/auth/nostr/verify", json={"event": e}) for e in events)
    )
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]
    ids = {a.json()["user"]["id"] for a in answers}
    assert len(ids) == 1
    assert await users_with_key(server, key.pubkey) == list(ids)
    assert await user_count(server) == 1


# ---------------------------------------------------------------- refused events
def _with(**changes: Any) -> Callable[[NostrKey, str], Event]:
    def make(key: NostrKey, challenge: str) -> Event:
        return {**key.auth_event(challenge), **changes}

    return make


def _tampered_content(key: NostrKey, challenge: str) -> Event:
    return {**key.auth_event(challenge, content="I agree"), "content": "I disagree"}


def _foreign_signature(key: NostrKey, challenge: str) -> Event:
    event = key.auth_event(challenge)
    return {**event, "sig": NostrKey().sign_id(event["id"])}


def _off_curve_key(key: NostrKey, challenge: str) -> Event:
    event = {**key.auth_event(challenge), "pubkey": OFF_CURVE_KEY}
    return {**event, "id": nip01_id(event)}


def _missing(name: str) -> Callable[[NostrKey, str], Event]:
    def make(key: NostrKey, challenge: str) -> Event:
        event = key.auth_event(challenge)
        del event[name]
        return event

    return make


def _tags_not_a_list(key: NostrKey, challenge: str) -> Event:
    # The challenge is still findable, in the content.
    return {**key.auth_event(challenge), "tags": {"challenge": challenge}, "content": challenge}


def _many_tags(key: NostrKey, challenge: str) -> Event:
    tags = [["challenge", challenge]] + [["t", str(i)] for i in range(100)]
    return key.auth_event(challenge, tags=tags)


def _long_tag(key: NostrKey, challenge: str) -> Event:
    return key.auth_event(challenge, tags=[["challenge", challenge], ["relay", "x" * 1025]])


REFUSED: dict[str, tuple[Callable[[NostrKey, str], Event], int]] = {
    "wrong kind": (lambda k, c: k.auth_event(c, kind=1), 401),
    "tampered content": (_tampered_content, 401),
    "tampered id": (_with(id=hashlib.sha256(b"another event").hexdigest()), 401),
    "signature by another key": (_foreign_signature, 401),
    "all-zero signature": (_with(sig="0" * 128), 401),
    "stale created_at": (lambda k, c: k.auth_event(c, age=11 * 60), 401),
    "future created_at": (lambda k, c: k.auth_event(c, age=-11 * 60), 401),
    "key not on the curve": (_off_curve_key, 401),
    "non-hex pubkey": (_with(pubkey="zz" * 32), 422),
    "upper-case id": (_with(id="AB" * 32), 422),
    "non-hex sig": (_with(sig="g" * 128), 422),
    "short sig": (_with(sig="ab" * 32), 422),
    "created_at as a string": (_with(created_at=str(int(time.time()))), 422),
    "kind as a boolean": (_with(kind=True), 422),
    "tags not a list": (_tags_not_a_list, 422),
    "too many tags": (_many_tags, 422),
    "oversize tag value": (_long_tag, 422),
    "missing sig": (_missing("sig"), 422),
}


@pytest.mark.parametrize("case", list(REFUSED))
async def test_refused_event_creates_nothing_and_uses_up_the_challenge(
    server: Server, http, case: str
) -> None:
    make, status = REFUSED[case]
    key = NostrKey()
    challenge = await new_challenge(http)
    event = make(key, challenge)
    resp = await http.post("/api/auth/nostr/verify", json={"event": event})
    assert resp.status_code == status, resp.text
    assert isinstance(resp.json()["detail"], str) and resp.json()["detail"]
    assert await user_count(server) == 0
    assert challenge not in await stored_challenges(server)


async def test_lone_surrogate_is_422_and_uses_up_the_challenge(server: Server, http) -> None:
    challenge = await new_challenge(http)
    event = {**NostrKey().auth_event(challenge), "content": "\ud800"}
    body = json.dumps({"event": event})  # ASCII-escaped, as httpx could not encode it
    resp = await http.post(
        "/api/auth/nostr/verify", content=body, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    assert "surrogate" in resp.json()["detail"]
    assert await user_count(server) == 0
    assert challenge not in await stored_challenges(server)


@pytest.mark.parametrize("event", [None, "x", 42, [], ["challenge"], {}])
async def test_an_event_that_is_not_an_event_is_422(server: Server, http, event: Any) -> None:
    challenge = await new_challenge(http)
    resp = await http.post("/api/auth/nostr/verify", json={"event": event})
    assert resp.status_code == 422, resp.text
    assert await user_count(server) == 0
    assert await stored_challenges(server) == {challenge}  # it named no challenge


async def test_a_body_without_an_event_is_422(server: Server, http) -> None:
    for body in ({}, {"event": {}, "extra": 1}, []):
        resp = await http.post("/api/auth/nostr/verify", json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["detail"]


async def test_an_event_without_a_challenge_is_401(server: Server, http) -> None:
    challenge = await new_challenge(http)
    event = NostrKey().auth_event(challenge, tags=[["relay", "http://127.0.0.1"]])
    resp = await http.post("/api/auth/nostr/verify", json={"event": event})
    assert resp.status_code == 401, resp.text
    assert resp.json()["detail"] == "event has no challenge"
    assert await stored_challenges(server) == {challenge}  # it never named it


async def test_a_replayed_challenge_is_refused(server: Server, http) -> None:
    key = NostrKey()
    event = key.auth_event(await new_challenge(http))
    assert (await http.post("/api/auth/nostr/verify", json={"event": event})).status_code == 200
    replay = await http.post("/api/auth/nostr/verify", json={"event": event})
    assert replay.status_code == 401
    assert replay.json()["detail"] == "unknown, expired or already used challenge"
    assert await user_count(server) == 1


async def test_a_failed_attempt_uses_up_the_challenge(server: Server, http) -> None:
    key = NostrKey()
    challenge = await new_challenge(http)
    wrong = await http.post(
        "/api/auth/nostr/verify", json={"event": key.auth_event(challenge, kind=1)}
    )
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong event kind"
    retry = await http.post("/api/auth/nostr/verify", json={"event": key.auth_event(challenge)})
    assert retry.status_code == 401
    assert retry.json()["detail"] == "unknown, expired or already used challenge"
    assert await user_count(server) == 0


async def test_an_expired_challenge_is_refused(server: Server, http) -> None:
    challenge = await new_challenge(http)
    async with server.services.db.write() as conn:
        await conn.execute(
            nostr_challenges.update()
            .where(nostr_challenges.c.challenge == challenge)
            .values(expires_at="2020-01-01T00:00:00.000Z")
        )
    resp = await http.post(
        "/api/auth/nostr/verify", json={"event": NostrKey().auth_event(challenge)}
    )
    assert resp.status_code == 401
    assert resp.json()["detail"] == "unknown, expired or already used challenge"
    assert await user_count(server) == 0
    assert challenge not in await stored_challenges(server)


async def test_unknown_challenges_are_refused(server: Server, http, bob: Actor) -> None:
    key = NostrKey()
    never_issued = hashlib.sha256(b"never issued").hexdigest()
    for challenge in (never_issued, "not a challenge", "x" * 1000):
        resp = await http.post("/api/auth/nostr/verify", json={"event": key.auth_event(challenge)})
        assert resp.status_code == 401, resp.text
        assert resp.json()["detail"] == "unknown, expired or already used challenge"
    # A challenge that the link flow already used is gone for login too.
    challenge = await new_challenge(http)
    event = key.auth_event(challenge)
    linked = await http.post("/api/auth/nostr/link", json={"event": event}, headers=bob.headers)
    assert linked.status_code == 200, linked.text
    resp = await http.post("/api/auth/nostr/verify", json={"event": key.auth_event(challenge)})
    assert resp.status_code == 401
    assert await user_count(server) == 1  # bob only


async def test_a_challenge_survives_a_restart(settings) -> None:
    key = NostrKey()
    first = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=first.base_url, timeout=10) as http:
            challenge = await new_challenge(http)
    finally:
        await first.stop()
    second = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=second.base_url, timeout=10) as http:
            event = key.auth_event(challenge)
            resp = await http.post("/api/auth/nostr/verify", json={"event": event})
            assert resp.status_code == 200, resp.text
            assert resp.json()["user"]["nostr_pubkey"] == key.pubkey
            assert challenge not in await stored_challenges(second)
    finally:
        await second.stop()


# ---------------------------------------------------------------- linking a key
async def test_bob_links_his_key_and_then_signs_in_with_it(
    server: Server, http, bob: Actor
) -> None:
    key = NostrKey()
    resp = await link(http, bob, key)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {**bob.user, "nostr_pubkey": key.pubkey}
    assert await users_with_key(server, key.pubkey) == [bob.id]

    again = await link(http, bob, key)  # re-linking one's own key changes nothing
    assert again.status_code == 200 and again.json() == resp.json()

    body = await login(http, key)
    assert body["user"]["id"] == bob.id and body["user"]["username"] == "bob"
    assert await user_count(server) == 1


async def test_a_key_belongs_to_one_account(server: Server, http, bob: Actor, carol: Actor) -> None:
    key = NostrKey()
    assert (await link(http, bob, key)).status_code == 200
    challenge = await new_challenge(http)
    event = key.auth_event(challenge)
    taken = await http.post("/api/auth/nostr/link", json={"event": event}, headers=carol.headers)
    assert taken.status_code == 409
    assert taken.json()["detail"] == "this Nostr key belongs to another account"
    assert challenge not in await stored_challenges(server)
    me = await http.get("/api/auth/me", headers=carol.headers)
    assert me.json()["nostr_pubkey"] is None

    # A key whose first login made its own account cannot be linked elsewhere either.
    other = NostrKey()
    owner = (await login(http, other))["user"]
    assert (await link(http, bob, other)).status_code == 409
    assert await users_with_key(server, other.pubkey) == [owner["id"]]
    assert await users_with_key(server, key.pubkey) == [bob.id]


async def test_concurrent_links_of_one_key_let_one_win(
    server: Server, http, bob: Actor, carol: Actor
) -> None:
    key = NostrKey()
    events = [key.auth_event(await new_challenge(http)) for _ in range(2)]
    answers = await asyncio.gather(
        http.post("/api/auth/nostr/link", json={"event": events[0]}, headers=bob.headers),
        http.post("/api/auth/nostr/link", json={"event": events[1]}, headers=carol.headers),
    )
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    winner = bob if answers[0].status_code == 200 else carol
    assert await users_with_key(server, key.pubkey) == [winner.id]


async def test_linking_needs_a_signed_in_user_and_a_good_event(
    server: Server, http, bob: Actor
) -> None:
    key = NostrKey()
    anonymous = await http.post(
        "/api/auth/nostr/link", json={"event": key.auth_event(await new_challenge(http))}
    )
    assert anonymous.status_code == 401
    challenge = await new_challenge(http)
    stale = key.auth_event(challenge, age=3600)
    resp = await http.post("/api/auth/nostr/link", json={"event": stale}, headers=bob.headers)
    assert resp.status_code == 401
    assert challenge not in await stored_challenges(server)
    assert await users_with_key(server, key.pubkey) == []


# ---------------------------------------------------------------- invites bound to a key
async def test_npub_invite_for_a_new_key_joins_at_first_login(
    server: Server, http, alice: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    c = await carol.socket()
    key = NostrKey()
    resp = await http.post(
        "/api/invites/nostr",
        json={"room_id": room["id"], "pubkey": key.npub},
        headers=alice.headers,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"room_id": room["id"], "pubkey": key.pubkey}
    assert await pending_invites(server) == [(room["id"], key.pubkey)]
    await a.silent()

    body = await login(http, key)
    newcomer = body["user"]
    frame = await a.expect("member_joined")
    assert frame == {"type": "member_joined", "room_id": room["id"], "user": public_user(newcomer)}
    assert await role_of(server, room["id"], newcomer["id"]) == "member"
    assert await pending_invites(server) == []
    rooms = await http.get("/api/rooms", headers={"Authorization": f"Bearer {body['token']}"})
    assert [r["id"] for r in rooms.json()["rooms"]] == [room["id"]]
    await c.silent()

    await login(http, key)  # a later login joins nothing again
    await a.silent()


async def test_hex_invite_for_a_known_key_joins_at_once(
    server: Server, http, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    key = NostrKey()
    assert (await link(http, bob, key)).status_code == 200
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket()
    c = await carol.socket()
    resp = await http.post(
        "/api/invites/nostr",
        json={"room_id": room["id"], "pubkey": key.pubkey.upper()},
        headers=alice.headers,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"room_id": room["id"], "pubkey": key.pubkey}
    assert await role_of(server, room["id"], bob.id) == "member"
    assert await pending_invites(server) == []
    bob_public = {**public_user(bob.user), "nostr_pubkey": key.pubkey}
    expected = {"type": "member_joined", "room_id": room["id"], "user": bob_public}
    assert await a.expect("member_joined") == expected
    assert await b.expect("member_joined") == expected
    await c.silent()

    again = await http.post(
        "/api/invites/nostr",
        json={"room_id": room["id"], "pubkey": key.npub},
        headers=alice.headers,
    )
    assert again.status_code == 201  # already a member: nothing happens
    await a.silent()


async def test_a_pending_invite_joins_when_the_key_is_linked(
    server: Server, http, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    key = NostrKey()
    resp = await http.post(
        "/api/invites/nostr",
        json={"room_id": room["id"], "pubkey": key.npub},
        headers=alice.headers,
    )
    assert resp.status_code == 201
    assert (await link(http, bob, key)).status_code == 200
    frame = await a.expect("member_joined")
    assert frame["user"]["id"] == bob.id and frame["user"]["nostr_pubkey"] == key.pubkey
    assert await role_of(server, room["id"], bob.id) == "member"
    assert await pending_invites(server) == []


async def test_who_may_invite_a_key(
    server: Server, http, alice: Actor, bob: Actor, carol: Actor
) -> None:
    private = await create_room(http, alice)
    public = await create_room(http, alice, name="lobby", is_public=True)
    await add_member(http, private, alice, bob)
    assert (
        await http.post(f"/api/rooms/{public['id']}/join", headers=bob.headers)
    ).status_code == 200

    async def invite(who: Actor | None, room: dict[str, Any]) -> httpx.Response:
        headers = who.headers if who else {}
        body = {"room_id": room["id"], "pubkey": NostrKey().npub}
        return await http.post("/api/invites/nostr", json=body, headers=headers)

    assert (await invite(carol, private)).status_code == 404  # outsider: no existence leak
    assert (await invite(bob, private)).status_code == 403  # plain member of a private room
    assert (await invite(carol, public)).status_code == 403  # visitor, not a member
    assert (await invite(None, private)).status_code == 401
    missing = {"id": "01JUNKUNKNOWNROOM000000000"}
    assert (await invite(alice, missing)).status_code == 404
    assert await pending_invites(server) == []
    assert (await invite(bob, public)).status_code == 201  # any member of a public room
    assert (await invite(alice, private)).status_code == 201
    assert len(await pending_invites(server)) == 2


@pytest.mark.parametrize(
    ("pubkey", "reason"),
    [
        ("nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5", "secret key"),
        ("abc", "64 hex characters or an npub1"),
        (OFF_CURVE_KEY, "not a valid public key"),
        ("npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w7", "bech32"),
    ],
)
async def test_a_bad_key_is_refused_with_its_reason(
    server: Server, http, alice: Actor, pubkey: str, reason: str
) -> None:
    room = await create_room(http, alice)
    resp = await http.post(
        "/api/invites/nostr", json={"room_id": room["id"], "pubkey": pubkey}, headers=alice.headers
    )
    assert resp.status_code == 422, resp.text
    assert reason in resp.json()["detail"]
    assert await pending_invites(server) == []
