"""Looking after one's own account: change the password, sign out everywhere, and the sign-in
rate limit on username changes."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

import conftest
from conftest import Actor, Server, start_server
from groupchat.config import Settings
from groupchat.db.tables import users
from test_auth import closed_with

PASSWORD = "correct horse 1"
NEW_PASSWORD = "battery staple 2"


async def sign_up(http: httpx.AsyncClient, server: Server, username: str) -> Actor:
    return await conftest.sign_up(http, server, username, PASSWORD)


async def sign_in(http: httpx.AsyncClient, server: Server, username: str, password: str) -> Actor:
    resp = await http.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    return Actor(username, resp.json()["token"], resp.json()["user"], server)


async def me_status(http: httpx.AsyncClient, who: Actor) -> int:
    return (await http.get("/api/auth/me", headers=who.headers)).status_code


async def password_hash(server: Server, user_id: str) -> str:
    async with server.services.db.read() as conn:
        query = sa.select(users.c.password_hash).where(users.c.id == user_id)
        return str((await conn.execute(query)).scalar_one())


async def test_a_password_change_signs_out_every_other_session(
    http: httpx.AsyncClient, server: Server
) -> None:
    laptop = await sign_up(http, server, "alice")
    phone = await sign_in(http, server, "alice", PASSWORD)
    laptop_ws, phone_ws = await laptop.socket(), await phone.socket()

    resp = await http.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=laptop.headers,
    )
    assert resp.status_code == 204 and resp.content == b""
    assert await closed_with(phone_ws.ws) == 4401
    assert await me_status(http, phone) == 401
    # the laptop, which changed it, stays signed in, socket and all
    assert await me_status(http, laptop) == 200
    await laptop_ws.send({"type": "ping"})
    assert await laptop_ws.recv() == {"type": "pong"}
    old = await http.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert old.status_code == 401
    assert await me_status(http, await sign_in(http, server, "alice", NEW_PASSWORD)) == 200


async def test_a_wrong_current_password_changes_nothing(
    http: httpx.AsyncClient, server: Server
) -> None:
    alice = await sign_up(http, server, "alice")
    phone = await sign_in(http, server, "alice", PASSWORD)
    before = await password_hash(server, alice.id)
    resp = await http.post(
        "/api/auth/password",
        json={"current_password": "not it at all", "new_password": NEW_PASSWORD},
        headers=alice.headers,
    )
    assert resp.status_code == 403 and resp.json() == {"detail": "the current password is wrong"}
    too_short = await http.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=alice.headers,
    )
    assert too_short.status_code == 422
    assert await password_hash(server, alice.id) == before
    assert await me_status(http, phone) == 200
    no_token = await http.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert no_token.status_code == 401


async def test_logout_all_refuses_every_token_and_closes_every_socket(
    http: httpx.AsyncClient, server: Server
) -> None:
    laptop = await sign_up(http, server, "alice")
    phone = await sign_in(http, server, "alice", PASSWORD)
    bob = await sign_up(http, server, "bob")
    laptop_ws, phone_ws, bob_ws = await laptop.socket(), await phone.socket(), await bob.socket()

    resp = await http.post("/api/auth/logout-all", headers=phone.headers)
    assert resp.status_code == 204 and resp.content == b""
    assert await closed_with(laptop_ws.ws) == 4401
    assert await closed_with(phone_ws.ws) == 4401
    assert await me_status(http, laptop) == 401 and await me_status(http, phone) == 401
    await bob_ws.send({"type": "ping"})
    assert await bob_ws.recv() == {"type": "pong"}
    assert await me_status(http, bob) == 200
    # a password change kept its own token once; logout-all refuses that one too
    again = await sign_in(http, server, "alice", PASSWORD)
    changed = await http.post(
        "/api/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=again.headers,
    )
    assert changed.status_code == 204
    assert (await http.post("/api/auth/logout-all", headers=again.headers)).status_code == 204
    assert await me_status(http, again) == 401
    assert await me_status(http, await sign_in(http, server, "alice", NEW_PASSWORD)) == 200


async def test_profile_changes_count_against_the_sign_in_rate_limit(
    settings: Settings,
) -> None:
    server = await start_server(settings.model_copy(update={"auth_rate_per_minute": 4}))
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            alice = await sign_up(http, server, "alice")  # one call of the four
            answers = []
            for name in ("alice1", "bob", "carol", "dave"):
                resp = await http.patch(
                    "/api/auth/profile", json={"username": name}, headers=alice.headers
                )
                answers.append(resp.status_code)
            assert answers == [200, 200, 200, 429]
            assert resp.headers["retry-after"].isdigit()
            # what the refused call asked for did not happen
            me = await http.get("/api/auth/me", headers=alice.headers)
            assert me.json()["username"] == "carol"
    finally:
        await server.stop()
