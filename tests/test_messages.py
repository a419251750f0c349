"""Messages over REST: posting, limits, images, paging both ways, lookup by hash, inert HTML."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import sqlalchemy as sa

from conftest import Actor, Server, add_member, create_room
from groupchat.db import tables
from groupchat.rendering import render_full, render_markdown

HEX64 = re.compile(r"^[0-9a-f]{64}$")
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MESSAGE_KEYS = {
    "id", "room_id", "author_type", "author", "content", "content_html", "image_url",
    "hash", "prev_hash", "created_at", "ai",
    # v2
    "edited_at", "reply_to", "mentions", "reactions", "chain_v", "salt",
}  # fmt: skip


class Elements(HTMLParser):
    """Collects (tag, ((attribute, value), ...)) of every element; keeps only href attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, tuple[tuple[str, str | None], ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert name in {"href", "title", "target", "rel"}, (tag, name)
            assert "javascript" not in (value or "").lower(), (tag, value)
        self.found.append((tag, tuple((n, v) for n, v in attrs if n == "href")))


def public(actor: Actor) -> dict[str, Any]:
    """The UserPublic object the API shows for an actor."""
    keys = ("id", "username", "display_name", "avatar_url", "nostr_pubkey")
    return {key: actor.user[key] for key in keys}


async def stored(server: Server, room_id: str) -> list[Any]:
    """The room's message rows, in id order."""
    query = (
        sa.select(tables.messages)
        .where(tables.messages.c.room_id == room_id)
        .order_by(tables.messages.c.id)
    )
    async with server.services.db.read() as conn:
        return list((await conn.execute(query)).all())


async def post(
    http: httpx.AsyncClient, actor: Actor, room_id: str, content: str, **extra: Any
) -> httpx.Response:
    body = {"content": content, **extra}
    return await http.post(f"/api/rooms/{room_id}/messages", json=body, headers=actor.headers)


async def say(http: httpx.AsyncClient, actor: Actor, room_id: str, content: str) -> dict[str, Any]:
    resp = await post(http, actor, room_id, content)
    assert resp.status_code == 201, resp.text
    message: dict[str, Any] = resp.json()
    return message


async def page(
    http: httpx.AsyncClient, actor: Actor, room_id: str, **params: Any
) -> tuple[list[str], bool]:
    """(ids, has_more) of one page."""
    resp = await http.get(f"/api/rooms/{room_id}/messages", params=params, headers=actor.headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"messages", "has_more"}
    return [m["id"] for m in body["messages"]], body["has_more"]


async def upload(http: httpx.AsyncClient, actor: Actor, png: bytes) -> str:
    files = {"file": ("pic.png", png, "image/png")}
    resp = await http.post("/api/upload", files=files, headers=actor.headers)
    assert resp.status_code == 201, resp.text
    url: str = resp.json()["url"]
    return url


async def test_alice_posts_and_gets_the_stored_message_back(
    http, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    bob_sock = await bob.socket(join=(room["id"],))
    carol_sock = await carol.socket()

    resp = await post(http, alice, room["id"], "  \n hello **bob** \t\n")

    assert resp.status_code == 201, resp.text
    msg = resp.json()
    assert set(msg) == MESSAGE_KEYS
    assert msg["room_id"] == room["id"] and msg["author_type"] == "user"
    assert msg["author"] == public(alice)
    assert msg["content"] == "hello **bob**"
    assert msg["content_html"] == "<p>hello <strong>bob</strong></p>\n"
    assert msg["image_url"] is None and msg["ai"] is None and msg["prev_hash"] is None
    assert HEX64.match(msg["hash"]) and RFC3339_MS.match(msg["created_at"])
    rows = await stored(server, room["id"])
    assert [(r.id, r.author_id, r.content, r.hash) for r in rows] == [
        (msg["id"], alice.id, "hello **bob**", msg["hash"])
    ]
    assert (await bob_sock.expect("new_message")) == {"type": "new_message", "message": msg}
    await carol_sock.silent()

    second = await say(http, bob, room["id"], "hi alice")
    assert second["prev_hash"] == msg["hash"] and second["author"] == public(bob)
    assert second["id"] > msg["id"]


async def test_content_limits_count_characters_after_trimming(
    http, server: Server, alice: Actor
) -> None:
    room = await create_room(http, alice)
    longest = "é" * 7999 + "!"  # 8000 characters, 8001 bytes

    ok = await post(http, alice, room["id"], "   " + longest + "\n\n ")
    assert ok.status_code == 201, ok.text
    assert ok.json()["content"] == longest

    for content in ("x" * 8001, "  " + "é" * 8001 + "  ", "", "   ", " \n\t \r\n "):
        resp = await post(http, alice, room["id"], content)
        assert resp.status_code == 422, (len(content), resp.text)
        assert isinstance(resp.json()["detail"], str)
    assert [r.content for r in await stored(server, room["id"])] == [longest]


async def test_malformed_bodies_are_refused(http, server: Server, alice: Actor) -> None:
    room = await create_room(http, alice)
    url = f"/api/rooms/{room['id']}/messages"
    bodies: list[Any] = [
        {},
        {"content": None},
        {"content": 5},
        {"content": ["hi"]},
        {"content": "hi", "image_url": 5},
        {"content": "hi", "author_id": alice.id},
        {"content": "nul\x00byte"},
        "hi",
    ]
    for body in bodies:
        resp = await http.post(url, json=body, headers=alice.headers)
        assert resp.status_code == 422, (body, resp.text)
    assert await stored(server, room["id"]) == []


async def test_who_may_post(http, server: Server, alice: Actor, bob: Actor, carol: Actor) -> None:
    private = await create_room(http, alice, name="private")
    public_room = await create_room(http, alice, name="lobby", is_public=True)
    alice_sock = await alice.socket(join=(private["id"], public_room["id"]))

    assert (await post(http, carol, private["id"], "let me in")).status_code == 404
    assert (await post(http, carol, "01NOSUCHROOM0000000000000", "hi")).status_code == 404
    resp = await post(http, carol, public_room["id"], "visiting")
    assert resp.status_code == 403, resp.text
    resp = await http.post(f"/api/rooms/{private['id']}/messages", json={"content": "anon"})
    assert resp.status_code == 401

    assert await stored(server, private["id"]) == []
    assert await stored(server, public_room["id"]) == []
    await alice_sock.silent()


async def test_image_messages_take_only_uploaded_chat_images(
    http, server: Server, alice: Actor, bob: Actor, png_bytes: bytes
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    bob_sock = await bob.socket(join=(room["id"],))
    url = await upload(http, alice, png_bytes)

    resp = await post(http, alice, room["id"], "", image_url=url)

    assert resp.status_code == 201, resp.text
    msg = resp.json()
    assert msg["image_url"] == url and msg["content"] == ""
    assert (await bob_sock.expect("new_message"))["message"] == msg
    listed, _ = await page(http, bob, room["id"])
    assert listed == [msg["id"]]
    image = await http.get(url)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    captioned = await post(http, alice, room["id"], "  look  ", image_url=url)
    assert captioned.status_code == 201
    assert (captioned.json()["content"], captioned.json()["image_url"]) == ("look", url)
    assert [r.image_url for r in await stored(server, room["id"])] == [url, url]


async def test_any_other_image_url_is_refused(
    http, server: Server, alice: Actor, png_bytes: bytes
) -> None:
    room = await create_room(http, alice)
    url = await upload(http, alice, png_bytes)
    name = url.rsplit("/", 1)[1]
    files = {"file": ("me.png", png_bytes, "image/png")}
    avatar = await http.post("/api/auth/avatar", files=files, headers=alice.headers)
    assert avatar.status_code == 200, avatar.text
    avatar_url = avatar.json()["avatar_url"]
    assert avatar_url.startswith("/uploads/avatars/")
    bad = [
        "https://example.com/cat.png",
        server.base_url + url,
        avatar_url,
        "/uploads/chat-images/01ARZ3NDEKTSV4RRFFQ69G5FAV.png",
        "/uploads/chat-images/" + name.replace(".png", ".gif"),
        "/uploads/chat-images/../avatars/" + avatar_url.rsplit("/", 1)[1],
        "/uploads/chat-images/%2e%2e/%2e%2e/chat.db",
        "/uploads/chat-images/../../chat.db",
        "/uploads/chat-images/",
        "uploads/chat-images/" + name,
        url + "?v=1",
        url + "/",
        "/uploads//chat-images/" + name,
        "javascript:alert(1)",
        "",
    ]
    for image_url in bad:
        for content in ("", "with text"):
            resp = await post(http, alice, room["id"], content, image_url=image_url)
            assert resp.status_code == 422, (image_url, resp.text)
    assert await stored(server, room["id"]) == []


async def test_newest_page_by_default_oldest_first_and_limit_bounds(http, alice: Actor) -> None:
    room = await create_room(http, alice)
    ids = [(await say(http, alice, room["id"], f"m{i}"))["id"] for i in range(55)]

    assert await page(http, alice, room["id"]) == (ids[-50:], True)
    assert await page(http, alice, room["id"], limit=1) == (ids[-1:], True)
    assert await page(http, alice, room["id"], limit=200) == (ids, False)
    assert await page(http, alice, room["id"], limit=55) == (ids, False)
    for limit in ("0", "201", "x", "-1", "1.5", ""):
        resp = await http.get(
            f"/api/rooms/{room['id']}/messages", params={"limit": limit}, headers=alice.headers
        )
        assert resp.status_code == 422, (limit, resp.text)
    both = {"before": ids[30], "after": ids[10]}
    resp = await http.get(f"/api/rooms/{room['id']}/messages", params=both, headers=alice.headers)
    assert resp.status_code == 422, resp.text


async def test_empty_room_and_paging_past_the_ends(http, alice: Actor) -> None:
    room = await create_room(http, alice)
    assert await page(http, alice, room["id"]) == ([], False)
    first = await say(http, alice, room["id"], "one")
    last = await say(http, alice, room["id"], "two")
    assert await page(http, alice, room["id"], after=last["id"]) == ([], False)
    assert await page(http, alice, room["id"], before=first["id"]) == ([], False)
    assert await page(http, alice, room["id"], after=first["id"]) == ([last["id"]], False)
    assert await page(http, alice, room["id"], before=last["id"]) == ([first["id"]], False)


async def test_walk_a_long_room_back_and_forth_in_pages_of_25(http, alice: Actor) -> None:
    room = await create_room(http, alice)
    ids = [(await say(http, alice, room["id"], f"message {i}"))["id"] for i in range(120)]
    assert ids == sorted(ids)

    back: list[str] = []
    got, more = await page(http, alice, room["id"], limit=25)
    pages = [(len(got), more)]
    back = got
    while more:
        got, more = await page(http, alice, room["id"], limit=25, before=back[0])
        pages.append((len(got), more))
        back = got + back
    assert back == ids
    assert pages == [(25, True)] * 4 + [(20, False)]

    forward = [ids[0]]
    pages = []
    more = True
    while more:
        got, more = await page(http, alice, room["id"], limit=25, after=forward[-1])
        pages.append((len(got), more))
        forward += got
    assert forward == ids
    assert pages == [(25, True)] * 4 + [(19, False)]


async def test_catching_up_after_a_reconnect(http, alice: Actor, bob: Actor) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    seen = await say(http, bob, room["id"], "brb")
    missed = [(await say(http, alice, room["id"], f"while away {i}"))["id"] for i in range(7)]

    first, more = await page(http, bob, room["id"], after=seen["id"], limit=5)
    assert (first, more) == (missed[:5], True)
    rest, more = await page(http, bob, room["id"], after=first[-1], limit=5)
    assert (rest, more) == (missed[5:], False)


async def test_who_may_read_messages(http, alice: Actor, bob: Actor, carol: Actor) -> None:
    private = await create_room(http, alice, name="private")
    lobby = await create_room(http, alice, name="lobby", is_public=True)
    secret = await say(http, alice, private["id"], "secret")
    hello = await say(http, alice, lobby["id"], "hello")

    assert await page(http, carol, lobby["id"]) == ([hello["id"]], False)
    for room_id in (private["id"], "01NOSUCHROOM0000000000000"):
        resp = await http.get(f"/api/rooms/{room_id}/messages", headers=carol.headers)
        assert resp.status_code == 404, resp.text
        assert resp.json() == {"detail": "room not found"}
    assert await page(http, alice, private["id"]) == ([secret["id"]], False)
    resp = await http.get(f"/api/rooms/{private['id']}/messages")
    assert resp.status_code == 401


async def test_find_a_message_by_its_hash(http, alice: Actor, bob: Actor, carol: Actor) -> None:
    private = await create_room(http, alice, name="private")
    await add_member(http, private, alice, bob)
    lobby = await create_room(http, alice, name="lobby", is_public=True)
    secret = await say(http, bob, private["id"], "the plan")
    hello = await say(http, alice, lobby["id"], "welcome")

    for who, message in ((alice, secret), (bob, secret), (carol, hello), (bob, hello)):
        resp = await http.get(f"/api/messages/hash/{message['hash']}", headers=who.headers)
        assert resp.status_code == 200, resp.text
        assert resp.json() == message
    upper = await http.get(f"/api/messages/hash/{secret['hash'].upper()}", headers=bob.headers)
    assert upper.status_code == 200 and upper.json() == secret

    hidden = await http.get(f"/api/messages/hash/{secret['hash']}", headers=carol.headers)
    unknown = await http.get(f"/api/messages/hash/{'0' * 64}", headers=carol.headers)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json() == unknown.json()
    assert hidden.headers["content-length"] == unknown.headers["content-length"]

    anonymous = await http.get(f"/api/messages/hash/{secret['hash']}")
    assert anonymous.status_code == 401


async def test_a_malformed_hash_is_422(http, alice: Actor) -> None:
    room = await create_room(http, alice)
    msg = await say(http, alice, room["id"], "x")
    for digest in ("abc", msg["hash"][:-1], msg["hash"] + "0", "g" * 64, msg["hash"][:-1] + "%20"):
        resp = await http.get(f"/api/messages/hash/{digest}", headers=alice.headers)
        assert resp.status_code == 422, (digest, resp.text)
        assert "detail" in resp.json()


async def test_html_in_content_is_kept_verbatim_but_rendered_inert(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    bob_sock = await bob.socket(join=(room["id"],))
    content = (
        "<script>alert(1)</script> <img src=x onerror=alert(2)>\n"
        '[click](javascript:alert(3)) <a href="javascript:alert(4)" onclick="x()">a</a>\n'
        "[ok](https://example.com/?a=1&b=2) <iframe src=//evil></iframe>"
    )

    msg = await say(http, alice, room["id"], content)

    html = msg["content_html"]
    assert msg["content"] == content
    assert (await stored(server, room["id"]))[0].content == content
    elements = Elements()
    elements.feed(html)
    assert {tag for tag, _ in elements.found} == {"p", "br", "a"}, html
    assert elements.found.count(("a", (("href", "https://example.com/?a=1&b=2"),))) == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "[click](javascript:alert(3))" in html  # shown as text, not a link
    assert '<a href="https://example.com/?a=1&amp;b=2"' in html
    assert 'rel="noopener noreferrer nofollow"' in html
    assert (await bob_sock.expect("new_message"))["message"]["content_html"] == html


def test_plain_lines_render_exactly_as_markdown_would() -> None:
    """render_markdown skips the parser for plain one-line text; the HTML must not change."""
    plain = "abcXYZ0129 ,.?!'():;/-éß語²ي"
    marked = plain + '_*#>`[]<&"~|\\+=\n\t'
    rng = random.Random(7)
    samples = ["hello world", "Hi, how are you?", "a - b", "ok: (yes)", "naïve café 語", "1. x"]
    for alphabet in (plain, marked):
        samples += [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))).strip()
            for _ in range(2000)
        ]
    for text in samples:
        assert render_markdown(text) == render_full(text), repr(text)
