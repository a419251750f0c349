"""Finding things in the browser: message search opening a hit in its room with what surrounds it,
and the composer's @ autocomplete of members and the AI."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from e2e.e2e_support import (
    Person,
    ServerProcess,
    add_member,
    create_room,
    open_room,
    post_message,
)

pytestmark = pytest.mark.e2e


def test_search_result_opens_the_message_with_its_neighbours(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Sailing")
    other = create_room(alice, "Kitchen")
    add_member(alice, room["id"], bob)
    post_message(bob, room["id"], "Boats are ready")
    hit = post_message(bob, room["id"], "Meet at the lighthouse at noon <b>sharp</b>")
    for n in range(52):  # the hit is older than the newest page (50)
        post_message(alice, room["id"], f"filler {n}")
    post_message(alice, other["id"], "Dim lamps here")
    page = alice.page
    page.goto(server.base_url)

    page.get_by_role("button", name="Search messages").click()
    dialog = page.get_by_role("dialog", name="Search messages")
    dialog.get_by_role("searchbox", name="Search messages").fill("LIGHT")
    dialog.get_by_role("searchbox", name="Search messages").press("Enter")
    results = dialog.get_by_role("list", name="Results").get_by_role("button")
    expect(dialog.get_by_role("status")).to_have_text("1 result")
    expect(results).to_have_count(1)
    result = results.first
    expect(result).to_contain_text("Sailing")
    expect(result).to_contain_text("Bob")
    expect(result.locator("mark")).to_have_text(re.compile("^light", re.I))  # "lighthouse"
    expect(result.locator("b")).to_have_count(0)  # the message's text stays text

    result.click()
    expect(dialog).to_be_hidden()
    expect(page).to_have_url(f"{server.base_url}/rooms/{room['id']}")
    log = page.get_by_role("log", name="Messages")
    target = log.get_by_role("article").filter(has_text="Meet at the lighthouse")
    expect(target).to_be_focused()
    expect(target).to_be_in_viewport()
    expect(log.get_by_role("article").filter(has_text="Boats are ready")).to_be_attached()
    expect(log.get_by_role("article").filter(has_text="filler 51")).to_be_attached()
    assert hit["id"] == target.locator("xpath=..").get_attribute("data-id")

    # Live messages still arrive after a hit was opened (the history has no gap).
    post_message(bob, room["id"], "On my way")
    expect(log.get_by_text("On my way")).to_be_attached()


def test_search_in_one_room_and_nothing_found(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice = person(server, "alice")
    room = create_room(alice, "Notes")
    post_message(alice, room["id"], "deployment on friday")
    page = alice.page
    open_room(alice, room["id"])
    page.get_by_role("button", name="Search messages").click()
    dialog = page.get_by_role("dialog", name="Search messages")
    expect(dialog.get_by_role("combobox", name="Look in")).to_have_value(room["id"])
    box = dialog.get_by_role("searchbox", name="Search messages")
    box.fill("ploy")
    box.press("Enter")
    expect(dialog.get_by_role("status")).to_have_text("No messages match.")
    box.fill("deploy")
    box.press("Enter")
    expect(dialog.get_by_role("status")).to_have_text("1 result")
    box.fill("!!!")
    box.press("Enter")
    expect(dialog.get_by_role("status")).not_to_have_text(re.compile("result|Searching"))
    expect(dialog.get_by_role("list", name="Results").get_by_role("button")).to_have_count(0)


def test_composer_autocompletes_members_and_the_ai(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Plans")
    add_member(alice, room["id"], bob)
    page = alice.page
    open_room(alice, room["id"])
    ai_name = alice.api("GET", "/api/server").json()["ai_name"]
    box = page.get_by_role("textbox", name="Message")

    box.press_sequentially("hi @bo")
    options = page.get_by_role("listbox", name="Mention").get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_text(f"Bob @{bob.username}")
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.first.get_attribute("id") or "")
    box.press("Enter")  # picks, does not send
    expect(box).to_have_value(f"hi @{bob.username} ")
    expect(page.get_by_role("listbox", name="Mention")).to_be_hidden()

    box.press_sequentially(f"and @{ai_name[:1]}")
    ai = page.get_by_role("option", name=re.compile(f"@{re.escape(ai_name)}$"))
    expect(ai).to_be_visible()
    box.press("Escape")
    expect(page.get_by_role("listbox", name="Mention")).to_be_hidden()
    box.press("Backspace")
    box.press_sequentially(ai_name[:1])
    expect(ai).to_be_visible()
    while ai.get_attribute("aria-selected") != "true":
        box.press("ArrowDown")
    box.press("Tab")
    expect(box).to_have_value(f"hi @{bob.username} and @{ai_name} ")
