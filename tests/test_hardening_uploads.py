"""Uploads have an owner: alice's chat images leave with the room that alone showed them, are
served privately and sandboxed, and uploads are limited per user in rate and, optionally, bytes."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from PIL import Image

from conftest import (
    Actor,
    Server,
    add_member,
    create_room,
    make_settings,
    sign_up,
    start_server,
)
from groupchat.config import ConfigError, load_settings
from groupchat.db.tables import uploads


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


async def upload(http: httpx.AsyncClient, who: Actor, data: bytes) -> httpx.Response:
    return await http.post(
        "/api/upload", files={"file": ("p.png", data, "image/png")}, headers=who.headers
    )


async def uploaded(http: httpx.AsyncClient, who: Actor, data: bytes) -> str:
    resp = await upload(http, who, data)
    assert resp.status_code == 201, resp.text
    url: str = resp.json()["url"]
    return url


async def post_image(http: httpx.AsyncClient, who: Actor, room: dict[str, Any], url: str) -> None:
    resp = await http.post(
        f"/api/rooms/{room['id']}/messages",
        json={"content": "look", "image_url": url},
        headers=who.headers,
    )
    assert resp.status_code == 201, resp.text


async def upload_rows(server: Server) -> dict[str, dict[str, Any]]:
    async with server.services.db.read() as conn:
        rows = (await conn.execute(sa.select(uploads))).all()
    return {row.name: dict(row._mapping) for row in rows}


def stored(server: Server, folder: str = "chat-images") -> set[str]:
    return {p.name for p in (server.settings.upload_dir / folder).iterdir()}


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


async def started(tmp_path: Path, **overrides: Any) -> AsyncIterator[Server]:
    srv = await start_server(make_settings(tmp_path, **overrides))
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def rate_limited(tmp_path: Path, settings: Any) -> AsyncIterator[Server]:
    """A server allowing 2 uploads per minute per user."""
    async for srv in started(tmp_path, upload_rate_per_minute=2):
        yield srv


@pytest.fixture
async def quota(tmp_path: Path, settings: Any) -> AsyncIterator[Server]:
    """A server keeping at most 2 KB of files per user."""
    async for srv in started(tmp_path, upload_quota_bytes=2048):
        yield srv


async def test_each_upload_is_recorded_with_its_owner(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    url = await uploaded(http, alice, picture((1, 2, 3)))
    avatar = await http.post(
        "/api/auth/avatar",
        files={"file": ("me.png", picture((9, 9, 9)), "image/png")},
        headers=bob.headers,
    )
    assert avatar.status_code == 200, avatar.text

    rows = await upload_rows(server)
    chat, face = rows[name_of(url)], rows[name_of(avatar.json()["avatar_url"])]
    assert (chat["user_id"], chat["kind"]) == (alice.id, "chat-images")
    assert (
        chat["size"] == (server.settings.upload_dir / "chat-images" / name_of(url)).stat().st_size
    )
    assert (face["user_id"], face["kind"]) == (bob.id, "avatars")


async def test_clearing_a_room_deletes_the_images_only_it_showed(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    general, other = await create_room(http, alice), await create_room(http, alice, name="other")
    await add_member(http, general, alice, bob)
    only_here = await uploaded(http, alice, picture((200, 0, 0)))
    shared = await uploaded(http, bob, picture((0, 200, 0)))
    unposted = await uploaded(http, bob, picture((0, 0, 200)))
    await post_image(http, alice, general, only_here)
    await post_image(http, bob, general, shared)
    await post_image(http, alice, other, shared)

    resp = await http.post(f"/api/rooms/{general['id']}/clear", headers=alice.headers)

    assert resp.status_code == 204
    assert (await http.get(only_here, headers=alice.headers)).status_code == 404
    assert (await http.get(shared, headers=alice.headers)).status_code == 200
    assert stored(server) == {name_of(shared), name_of(unposted)}
    assert set(await upload_rows(server)) == {name_of(shared), name_of(unposted)}

    resp = await http.delete(f"/api/rooms/{other['id']}", headers=alice.headers)

    assert resp.status_code == 204
    assert (await http.get(shared, headers=alice.headers)).status_code == 404
    assert stored(server) == set(await upload_rows(server)) == {name_of(unposted)}
    resp = await http.post(
        f"/api/rooms/{general['id']}/messages",
        json={"content": "again", "image_url": shared},
        headers=bob.headers,
    )
    assert resp.status_code == 422  # the URL names nothing any more


async def test_deleting_a_private_room_deletes_its_images(
    http, server: Server, alice: Actor
) -> None:
    room = await create_room(http, alice)
    url = await uploaded(http, alice, picture((5, 5, 5)))
    await post_image(http, alice, room, url)

    assert (await http.delete(f"/api/rooms/{room['id']}", headers=alice.headers)).status_code == 204

    assert (await http.get(url)).status_code == 404
    assert stored(server) == set() and await upload_rows(server) == {}


async def test_deleting_a_message_deletes_its_image_unless_another_message_shows_it(
    http, server: Server, alice: Actor
) -> None:
    room = await create_room(http, alice)
    alone = await uploaded(http, alice, picture((1, 2, 3)))
    twice = await uploaded(http, alice, picture((4, 5, 6)))
    for url in (alone, twice, twice):
        await post_image(http, alice, room, url)
    page = await http.get(f"/api/rooms/{room['id']}/messages", headers=alice.headers)
    first, second, _ = page.json()["messages"]

    for message in (first, second):
        resp = await http.delete(f"/api/messages/{message['id']}", headers=alice.headers)
        assert resp.status_code == 204

    assert (await http.get(alone, headers=alice.headers)).status_code == 404
    assert (await http.get(twice, headers=alice.headers)).status_code == 200
    assert stored(server) == set(await upload_rows(server)) == {name_of(twice)}
    chain = await http.get(f"/api/rooms/{room['id']}/chain", headers=alice.headers)
    assert chain.json()["entries"][0]["image_url"] == alone  # hashed: the entry keeps the URL


async def test_uploads_are_served_private_inline_and_sandboxed(
    http, server: Server, alice: Actor
) -> None:
    url = await uploaded(http, alice, picture((7, 7, 7)))

    resp = await http.get(url)

    assert resp.status_code == 200 and resp.headers["content-type"] == "image/png"
    assert resp.headers["cache-control"] == "private, max-age=86400"
    assert resp.headers["content-disposition"] == f'inline; filename="{name_of(url)}"'
    assert resp.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert resp.headers["x-content-type-options"] == "nosniff"


async def test_a_new_avatar_deletes_the_old_file(http, server: Server, alice: Actor) -> None:
    urls = []
    for colour in ((1, 1, 1), (2, 2, 2)):
        resp = await http.post(
            "/api/auth/avatar",
            files={"file": ("me.png", picture(colour), "image/png")},
            headers=alice.headers,
        )
        assert resp.status_code == 200, resp.text
        urls.append(resp.json()["avatar_url"])

    assert stored(server, "avatars") == {name_of(urls[1])} == set(await upload_rows(server))
    assert (await http.get(urls[0])).status_code == 404
    assert (await http.get(urls[1])).status_code == 200


async def test_uploads_are_rate_limited_per_user(rate_limited: Server) -> None:
    async with httpx.AsyncClient(base_url=rate_limited.base_url) as http:
        alice, bob = (
            await sign_up(http, rate_limited, "alice"),
            await sign_up(http, rate_limited, "bob"),
        )
        first = [await upload(http, alice, picture((i, 0, 0), (2, 2))) for i in range(2)]
        third = await upload(http, alice, picture((3, 0, 0), (2, 2)))
        avatar = await http.post(
            "/api/auth/avatar",
            files={"file": ("me.png", picture((4, 0, 0), (2, 2)), "image/png")},
            headers=alice.headers,
        )
        bobs = await upload(http, bob, picture((5, 0, 0), (2, 2)))

    assert [r.status_code for r in first] == [201, 201]
    for refused in (third, avatar):
        assert refused.status_code == 429
        assert refused.json() == {"detail": "too many uploads; try again later"}
        assert int(refused.headers["retry-after"]) >= 1
    assert bobs.status_code == 201
    assert stored(rate_limited) == {name_of(r.json()["url"]) for r in [*first, bobs]}
    assert stored(rate_limited, "avatars") == set()


async def test_the_storage_quota_refuses_uploads_until_space_is_freed(quota: Server) -> None:
    async with httpx.AsyncClient(base_url=quota.base_url) as http:
        alice = await sign_up(http, quota, "alice")
        room = await create_room(http, alice)
        big = await uploaded(http, alice, noisy_png(1500))  # most of the 2 KB
        await post_image(http, alice, room, big)
        refused = await upload(http, alice, noisy_png(1500, seed=2))
        files_after_refusal = stored(quota)
        assert (
            await http.post(f"/api/rooms/{room['id']}/clear", headers=alice.headers)
        ).status_code == 204
        again = await upload(http, alice, noisy_png(1500, seed=3))

    assert refused.status_code == 413
    assert "quota" in refused.json()["detail"]
    assert files_after_refusal == {name_of(big)}
    assert again.status_code == 201, again.text
    assert set(await upload_rows(quota)) == stored(quota) == {name_of(again.json()["url"])}


def noisy_png(size: int, seed: int = 1) -> bytes:
    """A PNG of about `size` bytes that re-encoding cannot shrink (random pixels)."""
    import random

    rng = random.Random(seed)
    side = int((size / 3) ** 0.5)
    img = Image.frombytes(
        "RGB", (side, side), bytes(rng.randrange(256) for _ in range(side * side * 3))
    )
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_AVATAR_PIXELS", "0"),
        ("IMAGE_WORKERS", "0"),
        ("UPLOAD_RATE_PER_MINUTE", "-1"),
        ("UPLOAD_QUOTA_BYTES", "lots"),
        ("HTTP_HEADER_TIMEOUT", "0"),
        ("MAX_CONNECTIONS_PER_IP", "-5"),
    ],
)
def test_a_bad_limit_stops_the_server_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(None)
    message = str(refused.value)
    assert message.startswith(f"{variable}: ") and "\n" not in message
