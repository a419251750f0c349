"""Two people in two browsers: sign up, invite by link, chat live, typing, images, XSS."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from e2e.e2e_support import (
    PASSWORD,
    Person,
    ServerProcess,
    add_member,
    create_room,
    open_room,
    png_bytes,
    unique,
)

pytestmark = pytest.mark.e2e


def sign_up(page: Page, base_url: str, username: str, display_name: str) -> None:
    """Create an account through the sign-in screen."""
    page.get_by_role("button", name="Create an account").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Display name").fill(display_name)
    page.get_by_role("button", name="Create account").click()


def test_invite_link_and_live_chat_between_two_browsers(
    server: ServerProcess, blank_page: Callable[[], Page]
) -> None:
    alice, bob = blank_page(), blank_page()
    alice.goto(server.base_url)
    sign_up(alice, server.base_url, unique("alice"), "Alice")
    expect(alice.get_by_role("heading", name="Welcome to GroupChat")).to_be_visible()

    alice.get_by_role("button", name="New room").click()
    alice.get_by_label("Room name").fill("Book club")
    alice.get_by_role("button", name="Create room").click()
    expect(alice.get_by_role("heading", name="Book club", level=2)).to_be_visible()
    expect(alice).to_have_url(re.compile(r"/rooms/"))

    alice.get_by_role("button", name="Room settings").click()
    alice.get_by_role("button", name="Create invite link").click()
    invite_url = alice.get_by_role("textbox", name="Invite link").input_value()
    assert re.fullmatch(rf"{re.escape(server.base_url)}/invite/\S+", invite_url)
    alice.get_by_role("button", name="Close").click()

    bob.goto(invite_url)
    expect(bob.get_by_text("You're invited to join")).to_be_visible()
    expect(bob.get_by_role("heading", name="Book club")).to_be_visible()
    sign_up(bob, server.base_url, unique("bob"), "Bob")
    bob.get_by_role("button", name="Join room").click()
    expect(bob.get_by_role("heading", name="Book club", level=2)).to_be_visible()

    alice_log = alice.get_by_role("log", name="Messages")
    bob_log = bob.get_by_role("log", name="Messages")
    alice.get_by_role("textbox", name="Message").fill("Hi Bob, welcome!")
    alice.keyboard.press("Enter")
    expect(bob_log.get_by_text("Hi Bob, welcome!")).to_be_visible()
    expect(alice_log.get_by_text("Hi Bob, welcome!")).to_have_count(1)

    box = bob.get_by_role("textbox", name="Message")
    box.press_sequentially("Thanks", delay=20)
    expect(alice.get_by_text("Bob is typing…")).to_be_visible()
    box.press("Shift+Enter")
    box.press_sequentially("Alice!", delay=10)
    assert box.input_value() == "Thanks\nAlice!"
    box.press("Enter")
    expect(alice_log.get_by_text("Alice!")).to_be_visible()
    expect(alice.get_by_text("Bob is typing…")).to_have_count(0)
    expect(bob_log.get_by_text("Sending…")).to_have_count(0)
    expect(alice.get_by_role("link", name=re.compile("Book club"))).to_be_visible()


def test_image_upload_is_previewed_then_shown_to_the_other_person(
    server: ServerProcess, person: Callable[..., Person], tmp_path: Path
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Photos")
    add_member(alice, room["id"], bob)
    open_room(alice, room["id"])
    bob_log = open_room(bob, room["id"])

    picture = tmp_path / "sunset.png"
    picture.write_bytes(png_bytes())
    with alice.page.expect_file_chooser() as chooser:
        alice.page.get_by_role("button", name="Attach image").click()
    chooser.value.set_files(str(picture))
    expect(alice.page.get_by_role("img", name="Image to send: sunset.png")).to_be_visible()
    alice.page.get_by_role("textbox", name="Message").fill("Look at this")
    alice.page.keyboard.press("Enter")

    shown = bob_log.get_by_role("img", name="Image shared by Alice")
    expect(shown).to_be_visible()
    expect(bob_log.get_by_text("Look at this")).to_be_visible()
    src = shown.get_attribute("src") or ""
    assert src.startswith("/uploads/chat-images/")
    bob.page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=shown.element_handle()
    )
    assert shown.evaluate("img => img.naturalWidth") == 64
    expect(alice.page.get_by_role("img", name="Image to send: sunset.png")).to_have_count(0)


def test_pasted_and_dropped_images_get_a_preview(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice = person(server, "alice")
    room = create_room(alice, "Drops")
    open_room(alice, room["id"])
    page = alice.page
    make_file = """([b64, name]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type: 'image/png' }));
        return dt;
    }"""
    b64 = base64.b64encode(png_bytes()).decode()
    pasted = page.evaluate_handle(make_file, [b64, "pasted.png"])
    page.get_by_role("textbox", name="Message").evaluate(
        "(el, dt) => el.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt}))",
        pasted,
    )
    expect(page.get_by_role("img", name="Image to send: pasted.png")).to_be_visible()
    page.get_by_role("button", name="Remove image").click()
    expect(page.get_by_role("img", name="Image to send: pasted.png")).to_have_count(0)

    dropped = page.evaluate_handle(make_file, [b64, "dropped.png"])
    page.get_by_role("log", name="Messages").dispatch_event("drop", {"dataTransfer": dropped})
    expect(page.get_by_role("img", name="Image to send: dropped.png")).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.get_by_role("log").get_by_role("img", name="Image shared by Alice")).to_be_visible()


def test_script_in_messages_stays_inert(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Hostile")
    add_member(alice, room["id"], bob)
    open_room(alice, room["id"])
    bob_log = open_room(bob, room["id"])
    box = alice.page.get_by_role("textbox", name="Message")
    for payload in ("<img src=x onerror=window.__xss=1>", "[click](javascript:window.__xss=1)"):
        box.fill(payload)
        box.press("Enter")
    expect(bob_log.get_by_text("click")).to_be_visible()
    bob_log.get_by_text("click").click()

    for page in (alice.page, bob.page):
        assert page.evaluate("window.__xss") is None
        assert page.locator("[onerror], [onclick], [onload]").count() == 0
        hrefs = page.get_by_role("log").locator("a").evaluate_all("els => els.map(a => a.href)")
        assert not [h for h in hrefs if h.lower().startswith("javascript:")]
    bob.page.reload()
    expect(bob.page.get_by_role("log").get_by_text("click")).to_be_visible()
    assert bob.page.evaluate("window.__xss") is None
    assert bob.page.locator("[onerror]").count() == 0


def test_a_refused_message_says_why_and_can_be_discarded(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice = person(server, "alice")
    room = create_room(alice, "Limits")
    log = open_room(alice, room["id"])
    box = alice.page.get_by_role("textbox", name="Message")
    box.fill("x" * 8001)
    box.press("Enter")
    failed = log.get_by_role("alert").filter(has_text="Not sent:")
    expect(failed).to_be_visible()
    failed.get_by_role("button", name="Discard").click()
    expect(log.get_by_role("article")).to_have_count(0)
    box.fill("short and fine")
    box.press("Enter")
    expect(log.get_by_text("short and fine")).to_be_visible()
    expect(log.get_by_text("Sending…")).to_have_count(0)
    contents = [
        m["content"]
        for m in alice.api("GET", f"/api/rooms/{room['id']}/messages").json()["messages"]
    ]
    assert contents == ["short and fine"]
