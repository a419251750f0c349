"""Accounts: alice, bob and carol register, sign in, edit profiles, upload avatars, sign out;
forged and malformed tokens and bodies are refused and leave nothing behind."""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import json
import re
import secrets
import time
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa
import websockets
from PIL import Image
from websockets.exceptions import ConnectionClosed

from conftest import TS, Actor, Register, Server
from groupchat.config import Settings
from groupchat.db.tables import revoked_tokens, users

PASSWORD = "correct horse 1"
USER_KEYS = {
    "id",
    "username",
    "display_name",
    "avatar_url",
    "nostr_pubkey",
    "bio",
    "created_at",
    "is_admin",
}
AVATAR_URL = re.compile(r"^/uploads/avatars/[0-9A-Z]{26}\.(png|jpg|gif|webp)$")
INVALID_LOGIN = {"detail": "invalid username or password"}


async def user_rows(server: Server) -> list[dict[str, Any]]:
    """Every stored users row, oldest first."""
    async with server.services.db.read() as conn:
        result = await conn.execute(sa.select(users).order_by(users.c.created_at))
        return [dict(row._mapping) for row in result.all()]


async def user_row(server: Server, user_id: str) -> dict[str, Any]:
    found = [row for row in await user_rows(server) if row["id"] == user_id]
    assert len(found) == 1
    return found[0]


async def post_raw(http: httpx.AsyncClient, url: str, raw: str, **headers: str) -> httpx.Response:
    """POST a JSON text exactly as written (escapes such as \\ud800 reach the server as is)."""
    return await http.post(
        url, content=raw.encode(), headers={"content-type": "application/json", **headers}
    )


def assert_error(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in resp.text


def image(fmt: str = "PNG", size: tuple[int, int] = (8, 6), **save: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(buf, fmt, **save)
    return buf.getvalue()


# ---------------------------------------------------------------- register
async def test_alice_registers_and_her_token_works(http, server: Server) -> None:
    body = {"username": "alice", "password": PASSWORD, "display_name": "Alice Liddell"}
    resp = await http.post("/api/auth/register", json=body)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert set(out) == {"token", "user"}
    user = out["user"]
    assert set(user) == USER_KEYS
    assert user["username"] == "alice" and user["display_name"] == "Alice Liddell"
    assert user["avatar_url"] is None and user["nostr_pubkey"] is None and user["bio"] is None
    assert TS.match(user["created_at"])

    me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {out['token']}"})
    assert me.status_code == 200, me.text
    assert me.json() == user

    row = await user_row(server, user["id"])
    assert row["username"] == "alice" and row["username_key"] == "alice"
    assert row["display_name"] == "Alice Liddell" and row["created_at"] == user["created_at"]
    assert row["password_hash"].startswith("$argon2id$") and PASSWORD not in row["password_hash"]


async def test_display_name_defaults_to_the_username(http, server: Server) -> None:
    resp = await http.post("/api/auth/register", json={"username": "Bob_2", "password": PASSWORD})
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["display_name"] == "Bob_2"
    assert (await user_row(server, resp.json()["user"]["id"]))["display_name"] == "Bob_2"


async def test_display_name_is_trimmed(http) -> None:
    body = {"username": "carol", "password": PASSWORD, "display_name": "  Carol  "}
    resp = await http.post("/api/auth/register", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["display_name"] == "Carol"


@pytest.mark.parametrize("taken", ["alice", "Alice", "ALICE", "aLiCe"])
async def test_username_is_taken_case_insensitively(
    http, server: Server, alice: Actor, taken: str
) -> None:
    resp = await http.post("/api/auth/register", json={"username": taken, "password": PASSWORD})
    assert_error(resp, 409)
    rows = await user_rows(server)
    assert [r["username"] for r in rows] == ["alice"]


async def test_alice_registered_as_capitalized_blocks_lowercase(http, server: Server) -> None:
    first = await http.post("/api/auth/register", json={"username": "Alice", "password": PASSWORD})
    assert first.status_code == 201, first.text
    assert first.json()["user"]["username"] == "Alice"  # the spelling is kept
    again = await http.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
    assert_error(again, 409)
    assert len(await user_rows(server)) == 1


@pytest.mark.parametrize("username", ["abc", "a" * 32, "A.b_c-9", "...", "0123", "x-Y_z.1"])
async def test_usernames_that_follow_the_rules(http, server: Server, username: str) -> None:
    resp = await http.post("/api/auth/register", json={"username": username, "password": PASSWORD})
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["username"] == username
    assert [r["username"] for r in await user_rows(server)] == [username]


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 33,
        "",
        "al ice",
        "alice!",
        "al@ce",
        "ålice",
        "аlice",  # Cyrillic а
        "alice\n",
        " alice",
        "al\u200bice",  # zero-width space
        "al\u202eice",  # right-to-left override
        "alice\u0000",
        "ali/ce",
        "😀😀😀",
    ],
)
async def test_usernames_that_break_the_rules(http, server: Server, username: str) -> None:
    resp = await http.post("/api/auth/register", json={"username": username, "password": PASSWORD})
    assert_error(resp, 422)
    assert await user_rows(server) == []


@pytest.mark.parametrize(
    ("password", "status"),
    [("a" * 7, 422), ("a" * 8, 201), ("a" * 256, 201), ("a" * 257, 422), ("é" * 8, 201)],
)
async def test_password_length(http, server: Server, password: str, status: int) -> None:
    resp = await http.post("/api/auth/register", json={"username": "dave", "password": password})
    assert resp.status_code == status, resp.text
    assert len(await user_rows(server)) == (1 if status == 201 else 0)
    if status == 201:
        login = await http.post("/api/auth/login", json={"username": "dave", "password": password})
        assert login.status_code == 200, login.text


@pytest.mark.parametrize(
    "display_name",
    ["x" * 64, "שלום עולם", "مرحبا", "Zoë 👋", "👨‍👩‍👧 family", "日本語の名前", "a\u200db"],
)
async def test_display_names_in_any_script_are_kept_exactly(
    http, server: Server, display_name: str
) -> None:
    body = {"username": "dave", "password": PASSWORD, "display_name": display_name}
    resp = await http.post("/api/auth/register", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["user"]["display_name"] == display_name
    assert (await user_rows(server))[0]["display_name"] == display_name


@pytest.mark.parametrize(
    "display_name", ["", "   ", "x" * 65, "two\nlines", "tab\there", "a\u2028b", "nul\u0000"]
)
async def test_display_names_out_of_bounds(http, server: Server, display_name: str) -> None:
    body = {"username": "dave", "password": PASSWORD, "display_name": display_name}
    assert_error(await http.post("/api/auth/register", json=body), 422)
    assert await user_rows(server) == []


@pytest.mark.parametrize("display_name", ["\u200b", "\u200b\u200c\u2060", " \ufeff "])
async def test_invisible_display_names_are_refused(http, server: Server, display_name: str) -> None:
    body = {"username": "dave", "password": PASSWORD, "display_name": display_name}
    assert_error(await http.post("/api/auth/register", json=body), 422)
    assert await user_rows(server) == []


# ---------------------------------------------------------------- bad bodies
REGISTER_BAD = [
    ("{}", "missing everything"),
    ('{"username": "dave"}', "missing password"),
    ('{"password": "correct horse 1"}', "missing username"),
    ('{"username": 12345678, "password": "correct horse 1"}', "number for a string"),
    ('{"username": "dave", "password": 12345678}', "number password"),
    ('{"username": null, "password": "correct horse 1"}', "null username"),
    ('{"username": "dave", "password": null}', "null password"),
    ('{"username": ["dave"], "password": "correct horse 1"}', "list username"),
    ('{"username": {"a": 1}, "password": "correct horse 1"}', "object username"),
    ('{"username": "dave", "password": "correct horse 1", "display_name": 5}', "number name"),
    ('{"username": "dave", "password": "correct horse 1", "display_name": []}', "list name"),
    ('{"username": "dave", "password": "correct horse 1", "is_admin": true}', "unknown field"),
    ('{"username": "dave", "password": "correct horse 1", "id": "X"}', "chosen id"),
    ('{"username": "da\\u0000ve", "password": "correct horse 1"}', "NUL in username"),
    ('{"username": "dave", "password": "correct\\u0000horse"}', "NUL in password"),
    ('{"username": "dave", "password": "correct\\ud800horse"}', "lone surrogate password"),
    ('{"username": "da\\ud800ve", "password": "correct horse 1"}', "lone surrogate username"),
    (
        '{"username": "dave", "password": "correct horse 1", "display_name": "D\\ud800"}',
        "lone surrogate name",
    ),
    (
        '{"username": "dave", "password": "correct horse 1", "display_name": "D\\udfff\\ud800"}',
        "reversed surrogate pair",
    ),
    ('{"username": "dave", "password": "correct horse 1", "display_name": ""}', "empty name"),
    ('{"username": "", "password": ""}', "empty strings"),
    ('["dave", "correct horse 1"]', "a list body"),
    ('"dave"', "a string body"),
    ("null", "null body"),
    ("", "empty body"),
    ('{"username": "dave", "password": "correct horse 1"', "cut-off JSON"),
    ("username=dave&password=correct+horse+1", "a form body"),
]


@pytest.mark.parametrize(("raw", "case"), REGISTER_BAD, ids=[c for _, c in REGISTER_BAD])
async def test_register_refuses_bad_bodies(http, server: Server, raw: str, case: str) -> None:
    assert_error(await post_raw(http, "/api/auth/register", raw), 422)
    assert await user_rows(server) == []


async def test_register_refuses_oversize_fields(http, server: Server) -> None:
    for body in [
        {"username": "d" * 1000, "password": PASSWORD},
        {"username": "dave", "password": "p" * 100_000},
        {"username": "dave", "password": PASSWORD, "display_name": "D" * 100_000},
    ]:
        assert_error(await http.post("/api/auth/register", json=body), 422)
    assert await user_rows(server) == []


LOGIN_BAD = [
    ("{}", "missing everything"),
    ('{"username": "alice"}', "missing password"),
    ('{"password": "correct horse 1"}', "missing username"),
    ('{"username": 12345, "password": "correct horse 1"}', "number username"),
    ('{"username": "alice", "password": 12345678}', "number password"),
    ('{"username": null, "password": "correct horse 1"}', "null username"),
    ('{"username": "alice", "password": ["correct horse 1"]}', "list password"),
    ('{"username": "alice", "password": "correct horse 1", "otp": "1"}', "unknown field"),
    ('{"username": "al\\ud800ice", "password": "correct horse 1"}', "lone surrogate"),
    ('{"username": "alice", "password": "x\\ud800"}', "lone surrogate password"),
    ('{"username": "' + "a" * 65 + '", "password": "correct horse 1"}', "oversize username"),
    ('{"username": "alice", "password": "' + "p" * 257 + '"}', "oversize password"),
    ('["alice", "correct horse 1"]', "a list body"),
    ("", "empty body"),
]


@pytest.mark.parametrize(("raw", "case"), LOGIN_BAD, ids=[c for _, c in LOGIN_BAD])
async def test_login_refuses_bad_bodies(http, server: Server, raw: str, case: str) -> None:
    await http.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
    assert_error(await post_raw(http, "/api/auth/login", raw), 422)


LOGIN_BAD_STRINGS = [
    ('{"username": "", "password": ""}', "empty strings"),
    ('{"username": "alice", "password": ""}', "empty password"),
    ('{"username": "al\\u0000ice", "password": "correct horse 1"}', "NUL in username"),
    ('{"username": "alice", "password": "correct\\u0000horse"}', "NUL in password"),
]


@pytest.mark.parametrize(("raw", "case"), LOGIN_BAD_STRINGS, ids=[c for _, c in LOGIN_BAD_STRINGS])
async def test_login_refuses_empty_and_nul_strings(
    http, server: Server, raw: str, case: str
) -> None:
    await http.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
    assert_error(await post_raw(http, "/api/auth/login", raw), 422)


# ---------------------------------------------------------------- login
async def test_alice_signs_in_with_any_case_of_her_username(http, server: Server) -> None:
    reg = await http.post("/api/auth/register", json={"username": "Alice", "password": PASSWORD})
    assert reg.status_code == 201, reg.text
    for spelling in ["Alice", "alice", "ALICE"]:
        resp = await http.post("/api/auth/login", json={"username": spelling, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        out = resp.json()
        assert out["user"] == reg.json()["user"]
        assert out["token"] != reg.json()["token"]  # every sign-in is a token of its own
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {out['token']}"})
        assert me.status_code == 200 and me.json()["id"] == out["user"]["id"]


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    http, server: Server, alice: Actor
) -> None:
    await http.post("/api/auth/register", json={"username": "bob", "password": PASSWORD})
    wrong = await http.post("/api/auth/login", json={"username": "bob", "password": PASSWORD + "x"})
    unknown = await http.post("/api/auth/login", json={"username": "zed", "password": PASSWORD})
    case = await http.post(
        "/api/auth/login", json={"username": "bob", "password": PASSWORD.upper()}
    )
    for resp in (wrong, unknown, case):
        assert_error(resp, 401)
        assert resp.json() == INVALID_LOGIN
    assert wrong.content == unknown.content
    drop = {"date", "content-length"}
    assert {k: v for k, v in wrong.headers.items() if k not in drop} == {
        k: v for k, v in unknown.headers.items() if k not in drop
    }


async def test_an_account_without_password_cannot_sign_in_with_one(http, server: Server) -> None:
    # Nostr-only accounts have no password hash: no password may open them.
    async with server.services.db.write() as conn:
        await conn.execute(
            users.insert().values(
                id="01JNOSTR0000000000000000AA",
                username="nostr_nick",
                username_key="nostr_nick",
                password_hash=None,
                display_name="Nick",
                created_at="2026-01-01T00:00:00.000Z",
            )
        )
    for password in [PASSWORD, "", "x" * 8]:
        resp = await http.post(
            "/api/auth/login", json={"username": "nostr_nick", "password": password}
        )
        assert resp.status_code in (401, 422), resp.text
        assert resp.status_code != 401 or resp.json() == INVALID_LOGIN


async def test_me_needs_a_token(http, server: Server) -> None:
    assert_error(await http.get("/api/auth/me"), 401)


# ---------------------------------------------------------------- profile
async def test_alice_edits_her_profile(http, server: Server, alice: Actor) -> None:
    body = {"display_name": "Alice in Chains", "bio": "I write **markdown**\nand poems."}
    resp = await http.patch("/api/auth/profile", json=body, headers=alice.headers)
    assert resp.status_code == 200, resp.text
    user = resp.json()
    assert set(user) == USER_KEYS
    assert user["display_name"] == "Alice in Chains" and user["bio"] == body["bio"]
    assert user["username"] == "alice" and user["id"] == alice.id
    assert (await http.get("/api/auth/me", headers=alice.headers)).json() == user
    row = await user_row(server, alice.id)
    assert row["display_name"] == "Alice in Chains" and row["bio"] == body["bio"]

    # bio alone: the display name stays; then bio cleared with null
    resp = await http.patch("/api/auth/profile", json={"bio": "b" * 500}, headers=alice.headers)
    assert resp.status_code == 200 and resp.json()["display_name"] == "Alice in Chains"
    resp = await http.patch("/api/auth/profile", json={"bio": None}, headers=alice.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["bio"] is None and resp.json()["display_name"] == "Alice in Chains"
    row = await user_row(server, alice.id)
    assert row["bio"] is None and row["display_name"] == "Alice in Chains"


async def test_an_empty_patch_changes_nothing(http, server: Server, alice: Actor) -> None:
    before = await user_row(server, alice.id)
    resp = await http.patch("/api/auth/profile", json={}, headers=alice.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == alice.user
    assert await user_row(server, alice.id) == before


async def test_bob_edits_only_his_own_profile(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    alice_before = await user_row(server, alice.id)
    resp = await http.patch(
        "/api/auth/profile", json={"display_name": "Bobby"}, headers=bob.headers
    )
    assert resp.status_code == 200 and resp.json()["id"] == bob.id
    assert await user_row(server, alice.id) == alice_before


@pytest.mark.parametrize(
    "body",
    [
        {"display_name": None},
        {"display_name": None, "bio": "a fine bio"},
        {"bio": "b" * 501},
        {"display_name": "New Name", "bio": "b" * 501},
        {"display_name": ""},
        {"display_name": "   "},
        {"display_name": "x" * 65},
        {"display_name": "New Name", "bio": 5},
        {"display_name": 5},
        {"display_name": ["New Name"]},
        {"bio": ["b"]},
        {"bio": "nul\u0000"},
        {"display_name": "New Name", "avatar_url": "/uploads/avatars/x.png"},
        {"username": "x"},
        {"display_name": "New Name", "username": None},
        {"display_name": "New Name", "nostr_pubkey": "ab" * 32},
    ],
)
async def test_a_refused_patch_changes_nothing(
    http, server: Server, alice: Actor, body: dict[str, Any]
) -> None:
    await http.patch("/api/auth/profile", json={"bio": "old bio"}, headers=alice.headers)
    before = await user_row(server, alice.id)
    assert_error(await http.patch("/api/auth/profile", json=body, headers=alice.headers), 422)
    assert await user_row(server, alice.id) == before


@pytest.mark.parametrize(
    "raw",
    [
        '{"display_name": "A\\ud800"}',
        '{"bio": "\\udc00 lone low surrogate"}',
        "[]",
        "null",
        "",
        '{"bio": "x"',
    ],
)
async def test_profile_refuses_malformed_json(http, server: Server, alice: Actor, raw: str) -> None:
    before = await user_row(server, alice.id)
    resp = await http.patch(
        "/api/auth/profile",
        content=raw.encode(),
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert_error(resp, 422)
    assert await user_row(server, alice.id) == before


async def test_profile_needs_a_token(http, server: Server, alice: Actor) -> None:
    assert_error(await http.patch("/api/auth/profile", json={"display_name": "X"}), 401)
    assert (await user_row(server, alice.id))["display_name"] == "Alice"


# ---------------------------------------------------------------- avatar
async def upload_avatar(
    http: httpx.AsyncClient, who: Actor, data: bytes, name: str = "me.png", ctype: str = "image/png"
) -> httpx.Response:
    return await http.post(
        "/api/auth/avatar", files={"file": (name, data, ctype)}, headers=who.headers
    )


def stored_avatars(server: Server) -> list[str]:
    folder = server.settings.upload_dir / "avatars"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def test_alice_uploads_an_avatar_that_is_served_back(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    resp = await upload_avatar(http, alice, image("PNG", (40, 30)))
    assert resp.status_code == 200, resp.text
    user = resp.json()
    assert set(user) == USER_KEYS and user["id"] == alice.id
    url = user["avatar_url"]
    assert AVATAR_URL.match(url) and url.endswith(".png")
    assert (await user_row(server, alice.id))["avatar_url"] == url
    assert (await http.get("/api/auth/me", headers=alice.headers)).json()["avatar_url"] == url
    assert stored_avatars(server) == [url.rsplit("/", 1)[1]]

    got = await http.get(url)  # served to anyone, signed in or not
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert (
        got.content == (server.settings.upload_dir / "avatars" / url.rsplit("/", 1)[1]).read_bytes()
    )
    with Image.open(io.BytesIO(got.content)) as img:
        assert img.format == "PNG" and img.size == (40, 30)


async def test_avatar_jpeg_loses_its_exif(http, server: Server, alice: Actor) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCamMaker"  # Make
    exif[0x0131] = "SecretSoftware"  # Software
    data = image("JPEG", (64, 48), exif=exif.tobytes())
    assert b"SecretCamMaker" in data
    resp = await upload_avatar(http, alice, data, "photo.jpg", "image/jpeg")
    assert resp.status_code == 200, resp.text
    url = resp.json()["avatar_url"]
    assert AVATAR_URL.match(url) and url.endswith(".jpg")
    got = await http.get(url)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert b"SecretCamMaker" not in got.content and b"SecretSoftware" not in got.content
    assert b"Exif" not in got.content
    with Image.open(io.BytesIO(got.content)) as img:
        assert img.format == "JPEG" and img.size == (64, 48)
        assert dict(img.getexif()) == {}


async def test_a_large_avatar_is_shrunk(http, server: Server, alice: Actor) -> None:
    resp = await upload_avatar(http, alice, image("PNG", (1200, 600)))
    assert resp.status_code == 200, resp.text
    got = await http.get(resp.json()["avatar_url"])
    with Image.open(io.BytesIO(got.content)) as img:
        assert max(img.size) <= 512 and img.size[0] == 2 * img.size[1]


@pytest.mark.parametrize("extra", [1, 200_000], ids=["a byte over", "far over"])
async def test_avatar_over_2_mb_is_413(
    http, server: Server, alice: Actor, png_bytes: bytes, extra: int
) -> None:
    limit = 2 * 1024 * 1024
    data = png_bytes + b"\0" * (limit + extra - len(png_bytes))  # a PNG with trailing bytes
    assert_error(await upload_avatar(http, alice, data), 413)
    assert (await user_row(server, alice.id))["avatar_url"] is None
    assert stored_avatars(server) == []


@pytest.mark.parametrize(
    ("data", "name", "ctype"),
    [
        (b"just some text, not a picture", "me.png", "image/png"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "me.svg",
            "image/svg+xml",
        ),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "me.pdf", "application/pdf"),
        (b"", "empty.png", "image/png"),
    ],
    ids=["text", "svg", "pdf", "empty"],
)
async def test_avatar_that_is_not_an_image_is_415(
    http, server: Server, alice: Actor, data: bytes, name: str, ctype: str
) -> None:
    assert_error(await upload_avatar(http, alice, data, name, ctype), 415)
    assert (await user_row(server, alice.id))["avatar_url"] is None
    assert stored_avatars(server) == []


async def test_avatar_in_an_unsupported_format_is_415(http, server: Server, alice: Actor) -> None:
    assert_error(await upload_avatar(http, alice, image("BMP"), "me.bmp", "image/bmp"), 415)
    assert (await user_row(server, alice.id))["avatar_url"] is None


async def test_avatar_needs_a_token_and_a_file(
    http, server: Server, alice: Actor, png_bytes: bytes
) -> None:
    resp = await http.post("/api/auth/avatar", files={"file": ("a.png", png_bytes, "image/png")})
    assert_error(resp, 401)
    wrong_field = await http.post(
        "/api/auth/avatar",
        files={"picture": ("a.png", png_bytes, "image/png")},
        headers=alice.headers,
    )
    assert_error(wrong_field, 422)
    assert stored_avatars(server) == []


# ---------------------------------------------------------------- logout
async def sign_in(http: httpx.AsyncClient, username: str, password: str) -> str:
    resp = await http.post("/api/auth/login", json={"username": username, "password": password})
    assert resp.status_code == 200, resp.text
    token: str = resp.json()["token"]
    return token


async def closed_with(ws: websockets.ClientConnection) -> int | None:
    """Read until the server closes the socket; the close code it sent."""
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    return caught.value.rcvd.code if caught.value.rcvd else None


async def test_logout_refuses_only_that_token_and_closes_only_its_sockets(
    http, server: Server
) -> None:
    reg = await http.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
    phone = reg.json()["token"]
    laptop = await sign_in(http, "alice", PASSWORD)
    phone_ws = await websockets.connect(f"{server.ws_url}?token={phone}", open_timeout=5)
    laptop_ws = await websockets.connect(f"{server.ws_url}?token={laptop}", open_timeout=5)
    try:
        for ws in (phone_ws, laptop_ws):  # both sockets are signed in and answering
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}

        resp = await http.post("/api/auth/logout", headers={"Authorization": f"Bearer {phone}"})
        assert resp.status_code == 204 and resp.content == b""

        assert await closed_with(phone_ws) == 4401
        await laptop_ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await asyncio.wait_for(laptop_ws.recv(), 5)) == {"type": "pong"}
    finally:
        await phone_ws.close()
        await laptop_ws.close()

    assert_error(await http.get("/api/auth/me", headers={"Authorization": f"Bearer {phone}"}), 401)
    me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {laptop}"})
    assert me.status_code == 200 and me.json()["username"] == "alice"
    jti = jwt.decode(phone, options={"verify_signature": False})["jti"]
    async with server.services.db.read() as conn:
        stored = (await conn.execute(sa.select(revoked_tokens.c.jti))).scalars().all()
    assert stored == [jti]

    # the signed-out token cannot open a new socket, sign out again or change anything
    again = await websockets.connect(f"{server.ws_url}?token={phone}", open_timeout=5)
    try:
        assert await closed_with(again) == 4401
    finally:
        await again.close()
    assert_error(
        await http.post("/api/auth/logout", headers={"Authorization": f"Bearer {phone}"}), 401
    )
    resp = await http.patch(
        "/api/auth/profile", json={"bio": "hacked"}, headers={"Authorization": f"Bearer {phone}"}
    )
    assert_error(resp, 401)
    assert (await user_rows(server))[0]["bio"] is None


async def test_logout_does_not_touch_other_users(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    bob_ws = await bob.socket()
    resp = await http.post("/api/auth/logout", headers=alice.headers)
    assert resp.status_code == 204
    await bob_ws.send({"type": "ping"})
    assert await bob_ws.recv() == {"type": "pong"}
    assert (await http.get("/api/auth/me", headers=bob.headers)).status_code == 200


async def test_logout_needs_a_token(http, server: Server) -> None:
    assert_error(await http.post("/api/auth/logout"), 401)


# ---------------------------------------------------------------- forged tokens
def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_for(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user_id,
        "iat": now,
        "exp": now + 3600,
        "jti": secrets.token_hex(16),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def hs256_with_header(
    header: dict[str, Any], claims: dict[str, Any], secret: str, digest: str = "sha256"
) -> str:
    """A token whose header says anything, signed HMAC-SHA256 (or `digest`) with our secret."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    sig = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(sig)}"


def forged_tokens(settings: Settings, alice: Actor, bob: Actor) -> dict[str, str]:
    secret = str(settings.jwt_secret)
    claims = claims_for(alice.id)
    real_header, real_payload, real_sig = alice.token.split(".")
    bob_claims = {**jwt.decode(alice.token, options={"verify_signature": False}), "sub": bob.id}
    return {
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}.",
        "alg None": f"{b64({'alg': 'None', 'typ': 'JWT'})}.{b64(claims)}.",
        "alg none signed": hs256_with_header({"alg": "none"}, claims, secret),
        "HS512": hs256_with_header({"alg": "HS512", "typ": "JWT"}, claims, secret, "sha512"),
        "HS512 header, HS256 signature": hs256_with_header({"alg": "HS512"}, claims, secret),
        "RS256 header": hs256_with_header({"alg": "RS256", "typ": "JWT"}, claims, secret),
        "other secret": jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256"),
        "no exp": jwt.encode(claims_for(alice.id, exp=None), secret, algorithm="HS256"),
        "expired": jwt.encode(
            claims_for(alice.id, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
            secret,
            algorithm="HS256",
        ),
        "no sub": jwt.encode(claims_for(alice.id, sub=None), secret, algorithm="HS256"),
        "no jti": jwt.encode(claims_for(alice.id, jti=None), secret, algorithm="HS256"),
        "no iat": jwt.encode(claims_for(alice.id, iat=None), secret, algorithm="HS256"),
        "exp as string": hs256_with_header(
            {"alg": "HS256", "typ": "JWT"}, claims_for(alice.id, exp="99999999999"), secret
        ),
        "exp in year 10000+": hs256_with_header(
            {"alg": "HS256", "typ": "JWT"}, claims_for(alice.id, exp=10**12), secret
        ),
        "exp huge float": hs256_with_header(
            {"alg": "HS256", "typ": "JWT"}, claims_for(alice.id, exp=1e300), secret
        ),
        "sub a number": hs256_with_header(
            {"alg": "HS256", "typ": "JWT"}, claims_for(alice.id, sub=12345), secret
        ),
        "tampered payload": f"{real_header}.{b64(bob_claims)}.{real_sig}",
        "tampered signature": f"{real_header}.{real_payload}.{real_sig[:-4]}AAAA",
        "nonexistent user": jwt.encode(claims_for("01JZZZZZZZZZZZZZZZZZZZZZZZ"), secret),
        "not a jwt": "hello",
        "two parts": f"{real_header}.{real_payload}",
    }


async def test_forged_tokens_are_refused(
    http, server: Server, settings: Settings, alice: Actor, bob: Actor
) -> None:
    # the control: a token made the same way with the right algorithm works
    good = jwt.encode(claims_for(alice.id), str(settings.jwt_secret), algorithm="HS256")
    me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {good}"})
    assert me.status_code == 200 and me.json()["id"] == alice.id

    for name, token in forged_tokens(settings, alice, bob).items():
        resp = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert_error(resp, 401)


async def test_a_token_that_worked_is_refused_once_it_expires(
    http, settings: Settings, alice: Actor
) -> None:
    """The server keeps the claims of each token it verified (security.Tokens), never past the
    token's exp: a request after it gets 401."""
    exp = int(time.time()) + 2
    token = jwt.encode(claims_for(alice.id, exp=exp), str(settings.jwt_secret), algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await http.get("/api/auth/me", headers=headers)).status_code == 200
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    assert_error(await http.get("/api/auth/me", headers=headers), 401)


async def test_forged_tokens_cannot_open_a_socket(
    server: Server, settings: Settings, alice: Actor, bob: Actor
) -> None:
    tokens = forged_tokens(settings, alice, bob)
    for name in ("alg none", "RS256 header", "no exp", "expired", "tampered payload"):
        ws = await websockets.connect(f"{server.ws_url}?token={tokens[name]}", open_timeout=5)
        try:
            assert await closed_with(ws) == 4401, name
        finally:
            await ws.close()


async def test_a_deleted_users_token_is_refused(http, server: Server, register: Register) -> None:
    dave = await register("dave")
    assert (await http.get("/api/auth/me", headers=dave.headers)).status_code == 200
    async with server.services.db.write() as conn:
        await conn.execute(users.delete().where(users.c.id == dave.id))
    assert_error(await http.get("/api/auth/me", headers=dave.headers), 401)
    assert_error(
        await http.patch("/api/auth/profile", json={"bio": "ghost"}, headers=dave.headers), 401
    )
    assert await user_rows(server) == []


@pytest.mark.parametrize(
    "header",
    ["Token {t}", "{t}", "Basic {t}", "Bearer", "JWT {t}", "Bearer: {t}", "Bearer{t}"],
)
async def test_authorization_must_be_a_bearer_token(
    http, server: Server, alice: Actor, header: str
) -> None:
    resp = await http.get("/api/auth/me", headers={"Authorization": header.format(t=alice.token)})
    assert_error(resp, 401)


async def test_the_bearer_scheme_is_case_insensitive(http, server: Server, alice: Actor) -> None:
    for scheme in ("bearer", "BEARER"):
        resp = await http.get("/api/auth/me", headers={"Authorization": f"{scheme} {alice.token}"})
        assert resp.status_code == 200, resp.text


async def test_a_token_in_the_query_string_does_not_sign_in_http(
    http, server: Server, alice: Actor
) -> None:
    assert_error(await http.get(f"/api/auth/me?token={alice.token}"), 401)


async def test_username_can_change_through_the_profile(
    http: httpx.AsyncClient, server: Server, alice: Actor, bob: Actor
) -> None:
    resp = await http.patch(
        "/api/auth/profile", json={"username": "Alice.New"}, headers=alice.headers
    )
    assert resp.status_code == 200 and resp.json()["username"] == "Alice.New"
    me = await http.get("/api/auth/me", headers=alice.headers)
    assert me.json()["username"] == "Alice.New"
    # bob may not take it in any case, nor pass an invalid one; nothing changes
    for name, status in (("alice.new", 409), ("ALICE.NEW", 409), ("no", 422), ("bad name", 422)):
        resp = await http.patch("/api/auth/profile", json={"username": name}, headers=bob.headers)
        assert resp.status_code == status, (name, resp.text)
    async with server.services.db.read() as conn:
        rows = (await conn.execute(sa.select(users.c.username, users.c.username_key))).all()
    assert sorted(tuple(r) for r in rows) == [("Alice.New", "alice.new"), ("bob", "bob")]
    # the old name is free again and the new one signs in (case-insensitively)
    resp = await http.post(
        "/api/auth/register", json={"username": "alice", "password": "password9"}
    )
    assert resp.status_code == 201
