"""Who may sign up (REGISTRATION_MODE), the first account (the server admin) and its setup token,
and GET /api/server: password and Nostr sign-ups against a running server in each mode."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import Server, start_server
from groupchat.actions.signup import setup_base_url
from groupchat.config import ConfigError, Settings, load_settings
from groupchat.db.tables import invites, room_members, server_state, users
from test_nostr_api import NostrKey, new_challenge

PASSWORD = "correct horse 1"
SETUP_URL = re.compile(
    r"Open (https?://\S+)/setup/([A-Za-z0-9_\-]{43}) to create the admin account"
)
INVITE_NEEDED = {"detail": "an invite is needed to sign up"}
CLOSED = {"detail": "sign-up is closed"}
SERVER_KEYS = {"registration", "needs_setup", "ai_enabled", "ai_name", "version"}

Serve = Callable[..., Awaitable[Server]]


@pytest.fixture
async def serve(settings: Settings) -> AsyncIterator[Serve]:
    """serve(mode, **settings) -> a running server on the test's (empty) database."""
    started: list[Server] = []

    async def start(mode: str, **overrides: Any) -> Server:
        srv = await start_server(
            settings.model_copy(update={"registration_mode": mode, **overrides})
        )
        started.append(srv)
        return srv

    yield start
    for srv in started:
        await srv.stop()


async def post(server: Server, path: str, body: dict[str, Any], token: str = "") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        return await client.post(path, json=body, headers=headers)


async def get(server: Server, path: str, token: str = "") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        return await client.get(path, headers=headers)


async def sign_up(server: Server, username: str, **extra: Any) -> httpx.Response:
    body = {"username": username, "password": PASSWORD, **extra}
    return await post(server, "/api/auth/register", body)


async def nostr_sign_up(server: Server, key: NostrKey, **extra: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        event = key.auth_event(await new_challenge(client))
        return await client.post("/api/auth/nostr/verify", json={"event": event, **extra})


async def usernames(server: Server) -> set[str]:
    async with server.services.db.read() as conn:
        return set((await conn.execute(sa.select(users.c.username))).scalars())


async def members(server: Server, room_id: str) -> set[str]:
    query = sa.select(users.c.username).join(room_members).where(room_members.c.room_id == room_id)
    async with server.services.db.read() as conn:
        return set((await conn.execute(query)).scalars())


async def invite_uses(server: Server, token: str) -> int:
    async with server.services.db.read() as conn:
        query = sa.select(invites.c.uses).where(invites.c.token == token)
        return int((await conn.execute(query)).scalar_one())


def printed_setup_token(capsys: pytest.CaptureFixture[str]) -> str:
    found = SETUP_URL.search(capsys.readouterr().out)
    assert found, "the server printed no setup URL"
    return found.group(2)


async def set_up(server: Server, capsys: pytest.CaptureFixture[str]) -> str:
    """Alice creates the admin account with the printed setup token; her token."""
    resp = await sign_up(server, "alice", setup_token=printed_setup_token(capsys))
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["is_admin"] is True
    return str(resp.json()["token"])


async def room_and_invite(server: Server, token: str, **invite: Any) -> tuple[str, str]:
    """A room of the caller and an invite link to it: (room id, invite token)."""
    resp = await post(server, "/api/rooms", {"name": "general"}, token)
    assert resp.status_code == 201, resp.text
    room_id = resp.json()["id"]
    resp = await post(server, "/api/invites", {"room_id": room_id, **invite}, token)
    assert resp.status_code == 201, resp.text
    return room_id, resp.json()["token"]


# ---------------------------------------------------------------- the setup token


@pytest.mark.parametrize("mode", ["invite", "closed"])
async def test_a_fresh_server_prints_a_setup_url_that_creates_the_admin_once(
    serve: Serve, mode: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="groupchat")
    server = await serve(mode)
    out = capsys.readouterr().out
    found = SETUP_URL.search(out)
    assert found and found.group(1) == setup_base_url(server.settings), out
    token = found.group(2)
    assert any(token in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)

    info = (await get(server, "/api/server")).json()
    assert set(info) == SERVER_KEYS
    assert info["registration"] == mode and info["needs_setup"] is True
    assert info["ai_enabled"] is False and info["ai_name"] == "ai" and info["version"]

    # without the token, or with a wrong one, nobody gets in
    missing = await sign_up(server, "mallory")
    assert missing.status_code == 403 and "setup token" in missing.json()["detail"]
    wrong = await sign_up(server, "mallory", setup_token=token[::-1])
    assert wrong.status_code == 403 and "setup token" in wrong.json()["detail"]
    assert await usernames(server) == set()

    resp = await sign_up(server, "alice", setup_token=token)
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["is_admin"] is True
    # used once: bob cannot use it again, and the server no longer needs setting up
    again = await sign_up(server, "bob", setup_token=token)
    assert again.status_code == 403 and "setup token" in again.json()["detail"]
    assert await usernames(server) == {"alice"}
    assert (await get(server, "/api/server")).json()["needs_setup"] is False
    async with server.services.db.read() as conn:
        keys = set((await conn.execute(sa.select(server_state.c.key))).scalars())
    assert keys == {"first_account"}  # the setup token is gone


async def test_several_starts_share_one_setup_token_until_it_is_used(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    first = await serve("invite")
    token = printed_setup_token(capsys)
    second = await serve("invite")  # another process on the same database
    assert printed_setup_token(capsys) == token
    resp = await sign_up(second, "alice", setup_token=token)
    assert resp.status_code == 201, resp.text
    third = await serve("invite")
    assert "setup" not in capsys.readouterr().out
    assert (await get(first, "/api/server")).json()["needs_setup"] is False
    assert (await get(third, "/api/server")).json()["needs_setup"] is False


async def test_in_open_mode_the_first_registrant_is_the_admin_without_a_token(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    server = await serve("open")
    assert "setup" not in capsys.readouterr().out
    info = (await get(server, "/api/server")).json()
    assert info["registration"] == "open" and info["needs_setup"] is False
    alice = await sign_up(server, "alice")
    bob = await sign_up(server, "bob")
    assert alice.json()["user"]["is_admin"] is True
    assert bob.status_code == 201 and bob.json()["user"]["is_admin"] is False
    me = await get(server, "/api/auth/me", bob.json()["token"])
    assert me.json()["is_admin"] is False


async def test_the_setup_url_starts_with_the_public_url(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    await serve("invite", public_url="https://chat.example.org/")
    found = SETUP_URL.search(capsys.readouterr().out)
    assert found and found.group(1) == "https://chat.example.org"


async def test_of_simultaneous_first_sign_ups_one_becomes_the_admin(serve: Serve) -> None:
    server = await serve("open")
    names = [f"user{n}" for n in range(6)]
    answers = await asyncio.gather(*(sign_up(server, name) for name in names))
    assert [a.status_code for a in answers] == [201] * 6
    assert sum(a.json()["user"]["is_admin"] for a in answers) == 1


def test_registration_mode_is_one_of_three_words() -> None:
    assert load_settings(None, registration_mode=" Closed ").registration_mode == "closed"
    assert load_settings(None).registration_mode == "invite"
    with pytest.raises(ConfigError, match=r"^REGISTRATION_MODE: "):
        load_settings(None, registration_mode="public")


def test_the_setup_url_names_the_public_url_or_a_reachable_bind_address(
    settings: Settings,
) -> None:
    def base(**values: Any) -> str:
        return setup_base_url(settings.model_copy(update=values))

    assert base(public_url=None, bind_addr="0.0.0.0:3001") == "http://127.0.0.1:3001"
    assert base(public_url=None, bind_addr="192.168.1.5:80") == "http://192.168.1.5:80"
    assert base(public_url=None, bind_addr="[::]:3001") == "http://[::1]:3001"
    assert base(public_url="https://chat.example.org/", bind_addr="0.0.0.0:1") == (
        "https://chat.example.org"
    )


# ---------------------------------------------------------------- password sign-up per mode


async def test_invite_mode_needs_a_usable_invite_that_joins_its_room(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    server = await serve("invite")
    alice = await set_up(server, capsys)
    room_id, token = await room_and_invite(server, alice, max_uses=1)

    assert (await sign_up(server, "bob")).json() == INVITE_NEEDED
    for bad in ("no-such-invite", ""):
        resp = await sign_up(server, "bob", invite_token=bad)
        assert resp.status_code == 403 and "invite" in resp.json()["detail"]
    assert await usernames(server) == {"alice"}

    resp = await sign_up(server, "bob", invite_token=token)
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["is_admin"] is False
    assert await members(server, room_id) == {"alice", "bob"}
    assert await invite_uses(server, token) == 1
    rooms = await get(server, "/api/rooms", resp.json()["token"])
    assert [r["id"] for r in rooms.json()["rooms"]] == [room_id]

    # used up: carol is refused with the same 403, and no account is left behind
    used = await sign_up(server, "carol", invite_token=token)
    assert used.status_code == 403 and "invite" in used.json()["detail"]
    assert await usernames(server) == {"alice", "bob"}


async def test_a_refused_account_gives_the_invite_use_back(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    server = await serve("invite")
    alice = await set_up(server, capsys)
    room_id, token = await room_and_invite(server, alice, max_uses=1)
    taken = await sign_up(server, "ALICE", invite_token=token)
    assert taken.status_code == 409
    assert await invite_uses(server, token) == 0 and await members(server, room_id) == {"alice"}
    assert (await sign_up(server, "bob", invite_token=token)).status_code == 201


async def test_closed_mode_refuses_every_sign_up_but_the_admins_accounts(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    server = await serve("closed")
    alice = await set_up(server, capsys)
    _, token = await room_and_invite(server, alice)
    assert (await sign_up(server, "bob")).json() == CLOSED
    assert (await sign_up(server, "bob", invite_token=token)).json() == CLOSED
    assert (await nostr_sign_up(server, NostrKey())).json() == CLOSED
    assert await usernames(server) == {"alice"}
    resp = await post(server, "/api/admin/users", {"username": "bob", "password": PASSWORD}, alice)
    assert resp.status_code == 201, resp.text
    # existing accounts sign in as before
    login = await post(server, "/api/auth/login", {"username": "bob", "password": PASSWORD})
    assert login.status_code == 200, login.text


async def test_open_mode_signs_anyone_up_and_an_invite_token_still_joins(
    serve: Serve,
) -> None:
    server = await serve("open")
    alice = (await sign_up(server, "alice")).json()["token"]
    room_id, token = await room_and_invite(server, alice)
    assert (await sign_up(server, "bob")).status_code == 201
    assert (await sign_up(server, "carol", invite_token=token)).status_code == 201
    assert await members(server, room_id) == {"alice", "carol"}
    bad = await sign_up(server, "dave", invite_token="no-such-invite")
    assert bad.status_code == 403 and "dave" not in await usernames(server)


async def test_a_modes_change_never_locks_existing_accounts_out(
    settings: Settings, serve: Serve
) -> None:
    server = await serve("open")
    assert (await sign_up(server, "alice")).status_code == 201
    await server.stop()
    closed = await serve("closed")
    login = await post(closed, "/api/auth/login", {"username": "alice", "password": PASSWORD})
    assert login.status_code == 200 and login.json()["user"]["is_admin"] is True


# ---------------------------------------------------------------- Nostr sign-up per mode


async def test_invite_mode_nostr_sign_up_needs_an_invite_token_or_a_key_invite(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    server = await serve("invite")
    alice = await set_up(server, capsys)
    room_id, token = await room_and_invite(server, alice)
    bob, carol, dave = NostrKey(), NostrKey(), NostrKey()

    assert (await nostr_sign_up(server, bob)).json() == INVITE_NEEDED
    bad = await nostr_sign_up(server, bob, invite_token="no-such-invite")
    assert bad.status_code == 403
    assert await usernames(server) == {"alice"}

    resp = await nostr_sign_up(server, bob, invite_token=token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["nostr_pubkey"] == bob.pubkey
    assert resp.json()["user"]["is_admin"] is False
    bob_name = resp.json()["user"]["username"]

    # a pending invite for carol's key lets her in and into that room
    invited = await post(
        server, "/api/invites/nostr", {"room_id": room_id, "pubkey": carol.npub}, alice
    )
    assert invited.status_code == 201, invited.text
    resp = await nostr_sign_up(server, carol)
    assert resp.status_code == 200, resp.text
    carol_name = resp.json()["user"]["username"]
    assert await members(server, room_id) == {"alice", bob_name, carol_name}

    assert (await nostr_sign_up(server, dave)).json() == INVITE_NEEDED
    # bob's later sign-ins need nothing
    assert (await nostr_sign_up(server, bob)).status_code == 200


async def test_open_mode_nostr_first_login_creates_the_account(serve: Serve) -> None:
    server = await serve("open")
    first = await nostr_sign_up(server, NostrKey())
    assert first.status_code == 200 and first.json()["user"]["is_admin"] is True
    second = await nostr_sign_up(server, NostrKey())
    assert second.status_code == 200 and second.json()["user"]["is_admin"] is False


async def test_without_an_account_a_nostr_key_cannot_set_the_server_up(
    serve: Serve, capsys: pytest.CaptureFixture[str]
) -> None:
    server = await serve("invite")
    resp = await nostr_sign_up(server, NostrKey())
    assert resp.status_code == 403 and "setup token" in resp.json()["detail"]
    assert await usernames(server) == set()
    assert printed_setup_token(capsys)
