"""Screenshots of the main chat view at desktop and phone width.

The test always takes them (into tmp_path) and checks them; set SCREENSHOTS_DIR=docs/screenshots
to refresh the pictures in the docs:
    SCREENSHOTS_DIR=docs/screenshots .venv/bin/pytest tests/e2e -k screenshots
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from e2e.e2e_support import (
    PHONE,
    Fakes,
    Person,
    ServerProcess,
    add_member,
    create_room,
    open_room,
    post_message,
)
from fakes.openrouter import text_reply, tool_call_reply, usage_dict

pytestmark = pytest.mark.e2e

ANSWER = (
    "**Saturday looks good** for the ridge loop: sunny, 18 °C, light wind from the west.\n\n"
    "- Start early: clouds build up after 2 pm\n"
    "- Bring a layer, the summit is about 6 °C colder"
)


def landscape() -> bytes:
    """A small drawn mountain view, as PNG."""
    img = Image.new("RGB", (480, 300), (150, 200, 240))
    draw = ImageDraw.Draw(img)
    for y in range(300):
        draw.line([(0, y), (480, y)], fill=(120 + y // 6, 170 + y // 8, 235))
    draw.ellipse((360, 40, 420, 100), fill=(255, 223, 120))
    draw.polygon(
        [(0, 300), (120, 120), (220, 240), (330, 90), (480, 260), (480, 300)], fill=(70, 110, 90)
    )
    draw.polygon([(300, 125), (330, 90), (360, 128), (340, 120), (322, 132)], fill=(245, 245, 250))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def avatar_png(color: tuple[int, int, int]) -> bytes:
    img = Image.new("RGB", (96, 96), color)
    ImageDraw.Draw(img).ellipse((24, 14, 72, 62), fill=(250, 225, 200))
    ImageDraw.Draw(img).ellipse((8, 60, 88, 140), fill=(250, 225, 200))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def seed(
    server: ServerProcess, person: Callable[..., Person], fakes: Fakes
) -> tuple[list[Person], str, str]:
    """A lively room: people, an image, an AI answer with a web search; a second room."""
    alice, bob, carol = (person(server, n) for n in ("alice", "bob", "carol"))
    upload = bob.api(
        "POST",
        "/api/auth/avatar",
        files={"file": ("bob.png", avatar_png((217, 119, 6)), "image/png")},
    )
    assert upload.status_code == 200, upload.text
    room = create_room(
        alice, "Weekend hike", description="Planning Saturday's ridge loop", is_public=True
    )
    for guest in (bob, carol):
        add_member(alice, room["id"], guest)
    other = create_room(bob, "Book club")
    add_member(bob, other["id"], alice)
    post_message(bob, room["id"], "Who's in for the hike on Saturday? 🥾")
    post_message(alice, room["id"], "Count me in! Which trail were you thinking?")
    post_message(carol, room["id"], "The ridge loop is gorgeous this time of year.")
    image = alice.api(
        "POST", "/api/upload", files={"file": ("view.png", landscape(), "image/png")}
    ).json()
    body = {"content": "Here's the view from last time", "image_url": image["url"]}
    assert alice.api("POST", f"/api/rooms/{room['id']}/messages", json=body).status_code == 201
    fakes.openrouter.queue(
        tool_call_reply([("web_search", {"query": "ridge loop weather Saturday"})]),
        text_reply(ANSWER, usage=usage_dict(812, 64, 0.00267)),
    )
    post_message(bob, room["id"], "@ai what's the forecast for the ridge this Saturday?")
    wait_for_ai(alice, room["id"])
    return [alice, bob, carol], room["id"], other["id"]


def wait_for_ai(viewer: Person, room_id: str) -> None:
    for _ in range(100):
        messages = viewer.api("GET", f"/api/rooms/{room_id}/messages").json()["messages"]
        if any(m["author_type"] == "ai" for m in messages):
            return
        time.sleep(0.1)
    raise AssertionError("the AI did not answer")


def test_chat_view_screenshots(
    server: ServerProcess, person: Callable[..., Person], fakes: Fakes, tmp_path: Path
) -> None:
    target = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    (alice, bob, carol), room_id, other_id = seed(server, person, fakes)
    log = open_room(alice, room_id)
    post_message(bob, other_id, "Chapter 4 tonight?")
    post_message(bob, other_id, "I'll bring snacks")
    expect(alice.page.get_by_role("link", name=re.compile("Book club.*2 unread"))).to_be_visible()
    expect(log.get_by_text("Saturday looks good")).to_be_visible()
    open_room(carol, room_id)
    carol.page.get_by_role("textbox", name="Message").press_sequentially("Sounds perfect", delay=10)
    expect(alice.page.get_by_text("Carol is typing…")).to_be_visible()
    alice.page.get_by_role("textbox", name="Message").fill(
        "Great, let's meet at 8 at the trailhead"
    )
    alice.page.mouse.move(0, 0)
    desktop = target / "chat-desktop.png"
    alice.page.screenshot(path=str(desktop))

    alice.page.set_viewport_size(PHONE)
    alice.page.get_by_role("log", name="Messages").evaluate("el => el.scrollTo(0, el.scrollHeight)")
    expect(alice.page.get_by_role("button", name="Back to rooms")).to_be_visible()
    phone = target / "chat-phone.png"
    alice.page.screenshot(path=str(phone))

    for path, size in ((desktop, (1280, 800)), (phone, (390, 844))):
        with Image.open(path) as picture:
            assert picture.size == size
