"""Every view passes axe-core with no serious or critical violation, at desktop and phone sizes."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from e2e.e2e_support import (
    DESKTOP,
    PHONE,
    Fakes,
    Person,
    ServerProcess,
    add_member,
    axe_problems,
    create_room,
    open_room,
    post_message,
    setup_url,
)
from fakes.openrouter import text_reply, usage_dict

pytestmark = pytest.mark.e2e

SIZES = [pytest.param(DESKTOP, id="desktop"), pytest.param(PHONE, id="phone")]


@pytest.mark.parametrize("size", SIZES)
def test_sign_in_and_setup_pages(
    server_with: Callable[..., ServerProcess],
    blank_page: Callable[[], Page],
    size: dict[str, int],
) -> None:
    fresh = server_with(REGISTRATION_MODE="invite")
    page = blank_page()
    page.set_viewport_size(size)
    page.goto(fresh.base_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("This server has no account yet")).to_be_visible()
    assert axe_problems(page) == []

    page.goto(setup_url(fresh))
    expect(page.get_by_role("heading", name="Set up GroupChat")).to_be_visible()
    assert axe_problems(page) == []


@pytest.mark.parametrize("size", SIZES)
def test_chat_profile_room_settings_and_admin_views(
    server_with: Callable[..., ServerProcess],
    person: Callable[..., Person],
    fakes: Fakes,
    size: dict[str, int],
) -> None:
    fresh = server_with(AI_BUDGET_USER_USD="5")
    alice = person(fresh, "alice", size)  # the first account: the server admin
    bob = person(fresh, "bob", size)
    room = create_room(alice, "Trip planning")
    add_member(alice, room["id"], bob)
    fakes.openrouter.queue(text_reply("Lisbon in May.", usage=usage_dict(300, 40, 0.0021)))
    post_message(bob, room["id"], "@ai where should we go?")
    page = alice.page

    log = open_room(alice, room["id"])
    expect(log.get_by_text("Lisbon in May.")).to_be_visible()
    assert axe_problems(page) == []

    page.get_by_role("button", name="Room settings").click()
    dialog = page.get_by_role("dialog", name="Room settings")
    expect(dialog.get_by_role("img", name="Trip planning: AI cost per day")).to_be_visible()
    assert axe_problems(page) == []
    dialog.get_by_role("button", name="Close").click()

    if size == PHONE:
        page.get_by_role("button", name="Back to rooms").click()
    page.get_by_role("button", name="Profile").click()
    profile = page.get_by_role("dialog", name="Profile")
    expect(profile.get_by_text("AI allowance")).to_be_visible()
    assert axe_problems(page) == []
    profile.get_by_role("button", name="Close").click()

    page.get_by_role("link", name="Server admin").click()
    expect(page.get_by_role("img", name="Whole server: AI cost per day")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text=f"@{bob.username}")).to_be_visible()
    assert axe_problems(page) == []


@pytest.mark.parametrize("size", SIZES)
def test_message_tools_editor_reply_bar_picker_history_and_verify_dialogs(
    server: ServerProcess, person: Callable[..., Person], size: dict[str, int]
) -> None:
    alice, bob = person(server, "alice", size), person(server, "bob", size)
    room = create_room(alice, "Picnic")
    add_member(alice, room["id"], bob)
    plan = post_message(alice, room["id"], "Saturday at the lake")
    alice.api("PATCH", f"/api/messages/{plan['id']}", json={"content": "Sunday at the lake"})
    alice.api("PUT", f"/api/messages/{plan['id']}/reactions/🎉")
    answer = {"content": "I bring the blanket", "reply_to": plan["id"]}
    assert bob.api("POST", f"/api/rooms/{room['id']}/messages", json=answer).status_code == 201
    page = alice.page
    log = open_room(alice, room["id"])
    mine = log.get_by_role("article").filter(has_text="Sunday at the lake").first
    expect(mine.get_by_role("button", name="🎉 1")).to_be_visible()
    mine.get_by_role("button", name="🎉 1").focus()  # the chip with its who-reacted tooltip
    expect(page.get_by_role("tooltip")).to_be_visible()
    assert axe_problems(page) == []

    mine.hover()
    mine.get_by_role("button", name="Edit", exact=True).click()
    expect(page.get_by_role("textbox", name="Edit message")).to_be_focused()
    assert axe_problems(page) == []
    page.keyboard.press("Escape")

    mine.hover()
    mine.get_by_role("button", name="Reply", exact=True).click()
    expect(page.get_by_text("Replying to Alice")).to_be_visible()
    assert axe_problems(page) == []

    mine.hover()
    mine.get_by_role("button", name="Add reaction").click()
    expect(page.get_by_role("dialog", name="Add a reaction")).to_be_visible()
    assert axe_problems(page) == []
    page.keyboard.press("Escape")

    mine.get_by_role("button", name="(edited)").click()
    expect(page.get_by_role("dialog", name="Edit history").get_by_role("listitem")).to_have_count(2)
    assert axe_problems(page) == []
    page.keyboard.press("Escape")

    page.get_by_role("button", name="Verify history").click()
    expect(page.get_by_text("✓ 3 entries verified")).to_be_visible()
    assert axe_problems(page) == []


@pytest.mark.parametrize("size", SIZES)
def test_badges_new_messages_line_search_results_and_mention_autocomplete(
    server: ServerProcess, person: Callable[..., Person], size: dict[str, int]
) -> None:
    alice, bob = person(server, "alice", size), person(server, "bob", size)
    room = create_room(alice, "Harbour")
    add_member(alice, room["id"], bob)
    post_message(alice, room["id"], "Who has the harbour keys?")
    page = alice.page
    page.goto(server.base_url)
    link = page.get_by_role("link", name=re.compile("^Harbour"))
    expect(link).to_be_visible()
    post_message(bob, room["id"], "The harbour master has them")
    post_message(bob, room["id"], f"@{alice.username} ask at the harbour office")
    expect(link).to_have_accessible_name(re.compile("2 unread, 1 mention"))
    assert axe_problems(page) == []

    link.click()
    expect(page.get_by_text("New messages", exact=True)).to_be_visible()
    assert axe_problems(page) == []

    box = page.get_by_role("textbox", name="Message")
    box.press_sequentially("@b")
    expect(page.get_by_role("listbox", name="Mention")).to_be_visible()
    assert axe_problems(page) == []
    box.press("Escape")

    if size == PHONE:
        page.get_by_role("button", name="Back to rooms").click()
    page.get_by_role("button", name="Search messages").click()
    dialog = page.get_by_role("dialog", name="Search messages")
    dialog.get_by_role("searchbox", name="Search messages").fill("harbour")
    dialog.get_by_role("button", name="Search", exact=True).click()
    expect(dialog.get_by_role("status")).to_have_text("3 results")
    expect(dialog.locator("mark").first).to_be_visible()
    assert axe_problems(page) == []
