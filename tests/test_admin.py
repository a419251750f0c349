"""The server admin: /api/admin/users (list, create, promote, demote, disable, enable) and
`groupchat admin create|grant`. Alice registers first, so she is the server's admin."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets

from conftest import (
    TEST_DATABASE_URL,
    TS,
    Actor,
    Register,
    Server,
    create_room,
    sign_up,
    start_server,
)
from groupchat.db.tables import ai_ledger, messages, room_members, users
from groupchat.ids import format_ts, new_id, utc_now
from test_auth import closed_with
from test_nostr_api import NostrKey, new_challenge

PASSWORD = "correct horse 1"
ADMIN_USER_KEYS = {
    "id",
    "username",
    "display_name",
    "avatar_url",
    "nostr_pubkey",
    "bio",
    "created_at",
    "is_admin",
    "disabled",
    "last_seen_at",
    "ai_cost_period",
}
DISABLED = {"detail": "account disabled"}
LAST_ADMIN = {"detail": "the server needs at least one enabled admin"}


async def patch_user(
    http: httpx.AsyncClient, admin: Actor, who: Actor | str, **body: Any
) -> httpx.Response:
    user_id = who if isinstance(who, str) else who.id
    return await http.patch(f"/api/admin/users/{user_id}", json=body, headers=admin.headers)


async def login(http: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await http.post("/api/auth/login", json={"username": username, "password": password})


async def create(http: httpx.AsyncClient, admin: Actor, **body: Any) -> httpx.Response:
    return await http.post(
        "/api/admin/users", json={"password": PASSWORD, **body}, headers=admin.headers
    )


async def test_only_server_admins_reach_the_admin_api(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    assert alice.user["is_admin"] is True and bob.user["is_admin"] is False
    calls = [
        ("GET", "/api/admin/users", None),
        ("POST", "/api/admin/users", {"username": "mallory", "password": PASSWORD}),
        ("PATCH", f"/api/admin/users/{bob.id}", {"is_admin": True}),
        ("PATCH", f"/api/admin/users/{alice.id}", {"disabled": True}),
    ]
    for method, path, body in calls:
        resp = await http.request(method, path, json=body, headers=bob.headers)
        assert resp.status_code == 403, (method, path, resp.text)
        assert (await http.request(method, path, json=body)).status_code == 401
    me = await http.get("/api/auth/me", headers=bob.headers)
    assert me.json()["is_admin"] is False
    listed = await http.get("/api/admin/users", headers=alice.headers)
    assert [u["username"] for u in listed.json()["users"]] == ["bob", "alice"]
    assert all(u["is_admin"] is (u["username"] == "alice") for u in listed.json()["users"])


async def test_admins_list_accounts_newest_first_and_find_them_by_name(
    http: httpx.AsyncClient, alice: Actor, register: Register
) -> None:
    await register("bob")
    await register("carol")
    await register("robert")
    resp = await http.get("/api/admin/users", headers=alice.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["total"] == 4
    assert [u["username"] for u in body["users"]] == ["robert", "carol", "bob", "alice"]
    for user in body["users"]:
        assert set(user) == ADMIN_USER_KEYS
        assert user["disabled"] is False and user["ai_cost_period"] == 0
        assert TS.match(user["last_seen_at"])  # each signed up, so each was seen

    found = await http.get("/api/admin/users?query=OB", headers=alice.headers)
    assert [u["username"] for u in found.json()["users"]] == ["robert", "bob"]
    assert found.json()["total"] == 2
    by_display_name = await http.get("/api/admin/users?query=caro", headers=alice.headers)
    assert [u["username"] for u in by_display_name.json()["users"]] == ["carol"]
    page = await http.get("/api/admin/users?limit=2&offset=1", headers=alice.headers)
    assert [u["username"] for u in page.json()["users"]] == ["carol", "bob"]
    assert page.json()["total"] == 4
    none = await http.get("/api/admin/users?query=%25", headers=alice.headers)
    assert none.json() == {"users": [], "total": 0}
    for bad in ("limit=0", "limit=201", "offset=-1"):
        assert (await http.get(f"/api/admin/users?{bad}", headers=alice.headers)).status_code == 422


async def test_an_admin_creates_accounts_that_sign_in(
    http: httpx.AsyncClient, alice: Actor
) -> None:
    resp = await create(http, alice, username="dave", display_name="Dave D")
    assert resp.status_code == 201, resp.text
    dave = resp.json()
    assert set(dave) == ADMIN_USER_KEYS
    assert dave["username"] == "dave" and dave["display_name"] == "Dave D"
    assert dave["is_admin"] is False and dave["disabled"] is False
    assert dave["last_seen_at"] is None  # never signed in yet
    signed_in = await login(http, "dave", PASSWORD)
    assert signed_in.status_code == 200 and signed_in.json()["user"]["id"] == dave["id"]

    erin = await create(http, alice, username="erin", is_admin=True)
    assert erin.status_code == 201 and erin.json()["is_admin"] is True
    assert (await create(http, alice, username="DAVE")).status_code == 409
    assert (await create(http, alice, username="x", is_admin=True)).status_code == 422
    assert (await create(http, alice, username="frank", role="admin")).status_code == 422


async def test_admin_rights_follow_the_account_not_the_token(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    resp = await patch_user(http, alice, bob, is_admin=True)
    assert resp.status_code == 200, resp.text
    assert resp.json()["is_admin"] is True and set(resp.json()) == ADMIN_USER_KEYS
    # bob's token from before the promotion now reaches the admin API
    assert (await http.get("/api/admin/users", headers=bob.headers)).status_code == 200
    assert (await http.get("/api/auth/me", headers=bob.headers)).json()["is_admin"] is True
    # and bob may demote alice, after which her token is refused there
    assert (await patch_user(http, bob, alice, is_admin=False)).status_code == 200
    assert (await http.get("/api/admin/users", headers=alice.headers)).status_code == 403


async def test_the_last_enabled_admin_cannot_step_down(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    for change in ({"is_admin": False}, {"disabled": True}, {"is_admin": False, "disabled": True}):
        resp = await patch_user(http, alice, alice, **change)
        assert resp.status_code == 409 and resp.json() == LAST_ADMIN, change
    assert (await http.get("/api/auth/me", headers=alice.headers)).json()["is_admin"] is True

    # with bob promoted and then disabled, alice is still the only enabled admin
    assert (await patch_user(http, alice, bob, is_admin=True)).status_code == 200
    assert (await patch_user(http, alice, bob, disabled=True)).status_code == 200
    assert (await patch_user(http, alice, alice, is_admin=False)).json() == LAST_ADMIN
    assert (await patch_user(http, alice, bob, disabled=False)).status_code == 200
    resp = await patch_user(http, alice, alice, is_admin=False)
    assert resp.status_code == 200 and resp.json()["is_admin"] is False


async def test_unknown_accounts_and_bad_changes(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    assert (await patch_user(http, alice, "01NOSUCHUSER", disabled=True)).status_code == 404
    assert (await patch_user(http, alice, bob, disabled="yes")).status_code == 422
    assert (await patch_user(http, alice, bob, username="robert")).status_code == 422
    unchanged = await patch_user(http, alice, bob)
    assert unchanged.status_code == 200 and unchanged.json()["disabled"] is False


async def signed_in(http: httpx.AsyncClient, server: Server, username: str) -> Actor:
    """Sign in with PASSWORD: an Actor for an account an admin created."""
    resp = await login(http, username, PASSWORD)
    assert resp.status_code == 200, resp.text
    return Actor(username, resp.json()["token"], resp.json()["user"], server)


async def test_disabling_signs_the_account_out_everywhere_until_enabled_again(
    http: httpx.AsyncClient, server: Server, alice: Actor
) -> None:
    assert (await create(http, alice, username="bob")).status_code == 201
    bob = await signed_in(http, server, "bob")
    bob_phone = await signed_in(http, server, "bob")
    room = await create_room(http, bob)
    posted = await http.post(
        f"/api/rooms/{room['id']}/messages", json={"content": "hi"}, headers=bob.headers
    )
    assert posted.status_code == 201
    bob_ws, phone_ws, alice_ws = await bob.socket(), await bob_phone.socket(), await alice.socket()

    resp = await patch_user(http, alice, bob, disabled=True)
    assert resp.status_code == 200 and resp.json()["disabled"] is True
    assert await closed_with(bob_ws.ws) == 4401
    assert await closed_with(phone_ws.ws) == 4401
    await alice_ws.send({"type": "ping"})
    assert await alice_ws.recv() == {"type": "pong"}
    for token in (bob.token, bob_phone.token):
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401
    again = await websockets.connect(f"{server.ws_url}?token={bob.token}", open_timeout=5)
    try:
        assert await closed_with(again) == 4401
    finally:
        await again.close()
    refused = await login(http, "bob", PASSWORD)
    assert refused.status_code == 403 and refused.json() == DISABLED
    wrong = await login(http, "bob", "not his password")
    assert wrong.status_code == 401  # only whoever knows the password learns it is disabled
    # his rooms and messages stay
    async with server.services.db.read() as conn:
        mine = sa.select(sa.func.count()).where(messages.c.author_id == bob.id)
        assert (await conn.execute(mine)).scalar_one() == 1
        role = sa.select(room_members.c.role).where(room_members.c.user_id == bob.id)
        assert (await conn.execute(role)).scalar_one() == "owner"

    # enabled again: the old tokens stay refused, a new sign-in works
    resp = await patch_user(http, alice, bob, disabled=False)
    assert resp.status_code == 200 and resp.json()["disabled"] is False
    assert (await http.get("/api/auth/me", headers=bob.headers)).status_code == 401
    fresh = await signed_in(http, server, "bob")
    assert (await http.get("/api/auth/me", headers=fresh.headers)).status_code == 200


async def test_a_disabled_nostr_account_cannot_sign_in(
    http: httpx.AsyncClient, alice: Actor
) -> None:
    key = NostrKey()

    async def verify() -> httpx.Response:
        event = key.auth_event(await new_challenge(http))
        return await http.post("/api/auth/nostr/verify", json={"event": event})

    first = await verify()
    assert first.status_code == 200, first.text
    user_id = first.json()["user"]["id"]
    assert (await patch_user(http, alice, user_id, disabled=True)).status_code == 200
    refused = await verify()
    assert refused.status_code == 403 and refused.json() == DISABLED
    assert (await patch_user(http, alice, user_id, disabled=False)).status_code == 200
    assert (await verify()).status_code == 200


# ---------------------------------------------------------------- the command line


def run_admin(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DATABASE_URL": TEST_DATABASE_URL or f"sqlite:{tmp_path}/fresh.db",
        "JWT_SECRET": "cli-test-secret-" + "c" * 32,
        "ARGON2_MEMORY_KIB": "8192",
        "ARGON2_TIME_COST": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "groupchat", "admin", *args],
        input=stdin,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_admin_create_and_grant_work_before_the_first_serve(
    settings: Any, tmp_path: Path
) -> None:
    created = run_admin(tmp_path, "create", "alice", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert "alice" in created.stdout
    taken = run_admin(tmp_path, "create", "ALICE", stdin=PASSWORD + "\n")
    assert taken.returncode == 1 and "taken" in taken.stderr
    short = run_admin(tmp_path, "create", "bob", stdin="short\n")
    assert short.returncode == 1 and "password" in short.stderr
    unknown = run_admin(tmp_path, "grant", "nobody")
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
    assert run_admin(tmp_path, "frobnicate", "alice").returncode == 2

    server = await start_server(
        settings.model_copy(
            update={"database_url": TEST_DATABASE_URL or f"sqlite:///{tmp_path}/fresh.db"}
        )
    )
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            info = (await http.get("/api/server")).json()
            assert info["needs_setup"] is False
            alice = await signed_in(http, server, "alice")
            assert alice.user["is_admin"] is True
            assert (await create(http, alice, username="bob")).status_code == 201
            bob = await signed_in(http, server, "bob")
            assert (await http.get("/api/admin/users", headers=bob.headers)).status_code == 403
            granted = run_admin(tmp_path, "grant", "bob")
            assert granted.returncode == 0, granted.stderr
            assert (await http.get("/api/admin/users", headers=bob.headers)).status_code == 200
        async with server.services.db.read() as conn:
            admins = sa.select(users.c.username).where(users.c.is_admin.is_(True))
            assert set((await conn.execute(admins)).scalars()) == {"alice", "bob"}
    finally:
        await server.stop()


async def test_the_list_shows_what_each_account_spent_on_the_ai_this_period(
    http: httpx.AsyncClient, server: Server, alice: Actor, bob: Actor
) -> None:
    now = utc_now()
    last_month = now.replace(day=1) - timedelta(days=2)
    answers = [
        (bob.id, 0.25, now),
        (bob.id, 0.5, now),
        (alice.id, 0.125, now),
        (bob.id, 9, last_month),
    ]
    async with server.services.db.write() as conn:
        for user_id, cost, when in answers:
            await conn.execute(
                ai_ledger.insert().values(
                    id=new_id(),
                    room_id=new_id(),
                    room_name="general",
                    user_id=user_id,
                    model="m",
                    prompt_tokens=1,
                    completion_tokens=1,
                    cost_usd=cost,
                    outcome="finished",
                    created_at=format_ts(when),
                )
            )
    listed = (await http.get("/api/admin/users", headers=alice.headers)).json()["users"]
    assert {u["username"]: u["ai_cost_period"] for u in listed} == {"alice": 0.125, "bob": 0.75}
    patched = await patch_user(http, alice, bob, is_admin=False)
    assert patched.json()["ai_cost_period"] == 0.75


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="two processes need PostgreSQL and Redis")
async def test_disabling_closes_the_accounts_sockets_on_every_process(settings: Any) -> None:
    shared = settings.model_copy(update={"redis_url": "redis://127.0.0.1:6379/0"})
    a, b = await start_server(shared), await start_server(shared)
    try:
        async with (
            httpx.AsyncClient(base_url=a.base_url, timeout=10) as http_a,
            httpx.AsyncClient(base_url=b.base_url, timeout=10) as http_b,
        ):
            alice = await sign_up(http_a, a, "alice", PASSWORD)
            assert (await create(http_a, alice, username="bob")).status_code == 201
            bob_on_a, bob_on_b = (
                await signed_in(http_a, a, "bob"),
                await signed_in(http_b, b, "bob"),
            )
            ws_a, ws_b = await bob_on_a.socket(), await bob_on_b.socket()
            assert (await patch_user(http_a, alice, bob_on_a, disabled=True)).status_code == 200
            assert await closed_with(ws_a.ws) == 4401
            assert await closed_with(ws_b.ws) == 4401
            assert (await http_b.get("/api/auth/me", headers=bob_on_b.headers)).status_code == 401
    finally:
        await a.stop()
        await b.stop()
