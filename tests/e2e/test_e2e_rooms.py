"""Rooms in the browser: settings with model prices, roles, public rooms (browse, join by URL,
leave), clear, delete, and history that loads older pages while scrolling up."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from e2e.e2e_support import Person, ServerProcess, add_member, create_room, open_room, post_message

pytestmark = pytest.mark.e2e


def test_owner_edits_settings_and_picks_a_priced_model(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Planning")
    add_member(alice, room["id"], bob)
    open_room(bob, room["id"])
    open_room(alice, room["id"])
    page = alice.page
    page.get_by_role("button", name="Room settings").click()
    dialog = page.get_by_role("dialog", name="Room settings")
    model = dialog.get_by_label("AI model")
    expect(model.get_by_role("option", name=re.compile("Llama 3 8B"))).to_have_count(1)
    option = model.get_by_role("option", name=re.compile("GPT-4o"))
    expect(option).to_have_text("OpenAI: GPT-4o — $2.50 in / $10.00 out per 1M tokens")

    dialog.get_by_label("Room name").fill("Trip planning")
    dialog.get_by_label("Description").fill("Where and when")
    dialog.get_by_label("Public room").check()
    dialog.get_by_label("AI answers").select_option(label="Every message")
    model.select_option("meta-llama/llama-3-8b-instruct")
    dialog.get_by_label("System prompt").fill("Answer like a travel agent.")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog.get_by_text("Saved.")).to_be_visible()

    stored = alice.api("GET", f"/api/rooms/{room['id']}").json()
    assert stored["name"] == "Trip planning" and stored["description"] == "Where and when"
    assert stored["is_public"] is True and stored["ai_mode"] == "always"
    assert stored["ai_model"] == "meta-llama/llama-3-8b-instruct"
    assert stored["ai_system_prompt"] == "Answer like a travel agent."
    expect(bob.page.get_by_role("heading", name="Trip planning", level=2)).to_be_visible()
    expect(bob.page.get_by_text(re.compile("public · Where and when"))).to_be_visible()


def test_roles_removal_clear_and_delete_reach_the_other_window(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Team")
    add_member(alice, room["id"], bob)
    post_message(bob, room["id"], "first words")
    bob_log = open_room(bob, room["id"])
    open_room(alice, room["id"])
    page = alice.page
    page.get_by_role("button", name="Room settings").click()
    dialog = page.get_by_role("dialog", name="Room settings")
    dialog.get_by_role("button", name="Make admin Bob").click()
    expect(dialog.get_by_role("button", name="Make member Bob")).to_be_visible()
    members = alice.api("GET", f"/api/rooms/{room['id']}").json()["members"]
    assert {m["user"]["id"]: m["role"] for m in members}[bob.user_id] == "admin"
    bob.page.get_by_role("button", name="Room settings").click()
    bob_dialog = bob.page.get_by_role("dialog", name="Room settings")
    expect(bob_dialog.get_by_role("button", name="Clear messages")).to_be_visible()
    expect(bob_dialog.get_by_role("button", name="Delete room")).to_have_count(0)
    bob_dialog.get_by_role("button", name="Close").click()

    dialog.get_by_role("button", name="Clear messages").click()
    page.get_by_role("dialog", name="Clear all messages?").get_by_role(
        "button", name="Clear messages"
    ).click()
    expect(bob_log.get_by_text("first words")).to_have_count(0)

    page.get_by_role("button", name="Room settings").click()
    page.get_by_role("dialog", name="Room settings").get_by_role(
        "button", name="Delete room"
    ).click()
    page.get_by_role("dialog", name="Delete this room?").get_by_role(
        "button", name="Delete room"
    ).click()
    expect(bob.page.get_by_text("“Team” was deleted.")).to_be_visible()
    expect(bob.page).to_have_url(f"{server.base_url}/")
    expect(bob.page.get_by_role("link", name=re.compile("Team"))).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Team"))).to_have_count(0)


def test_join_a_public_room_then_leave_it(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(
        alice, f"Open house {bob.username}", is_public=True, description="All welcome"
    )
    post_message(alice, room["id"], "doors are open")
    bob.page.goto(server.base_url)
    bob.page.get_by_role("button", name="Browse public rooms").click()
    dialog = bob.page.get_by_role("dialog", name="Public rooms")
    dialog.get_by_label("Filter").fill(bob.username)
    dialog.get_by_role("button", name=f"Join Open house {bob.username}").click()
    log = bob.page.get_by_role("log", name="Messages")
    expect(log.get_by_text("doors are open")).to_be_visible()

    bob.page.get_by_role("button", name="Room settings").click()
    bob.page.get_by_role("dialog", name="Room settings").get_by_role(
        "button", name="Leave room"
    ).click()
    bob.page.get_by_role("dialog", name="Leave this room?").get_by_role(
        "button", name="Leave room"
    ).click()
    expect(bob.page.get_by_role("link", name=re.compile("Open house"))).to_have_count(0)
    members = alice.api("GET", f"/api/rooms/{room['id']}").json()["members"]
    assert [m["user"]["id"] for m in members] == [alice.user_id]

    bob.page.goto(f"{server.base_url}/rooms/{room['id']}")
    bob.page.get_by_role("button", name=f"Join Open house {bob.username}").click()
    expect(log.get_by_text("doors are open")).to_be_visible()
    assert len(alice.api("GET", f"/api/rooms/{room['id']}").json()["members"]) == 2


def test_history_pages_load_while_scrolling_up(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice = person(server, "alice")
    room = create_room(alice, "Archive")
    for i in range(130):
        post_message(alice, room["id"], f"note {i:03d}")
    log = open_room(alice, room["id"])
    expect(log.get_by_text("note 129")).to_be_visible()
    expect(log.get_by_text("note 000")).to_have_count(0)
    for _ in range(100):  # up to the 15 s an expect waits: the machine may be busy
        if log.get_by_text("note 000").count():
            break
        log.evaluate("el => el.scrollTo(0, 0)")
        alice.page.wait_for_timeout(150)
    expect(log.get_by_text("Welcome to Archive")).to_be_visible()
    texts = log.get_by_role("article").all_inner_texts()
    notes = [n for t in texts for n in re.findall(r"note \d{3}", t)]
    assert notes == [f"note {i:03d}" for i in range(130)]
