"""Messages people fix, answer and react to, in two browsers: edit in place (with its history),
delete by the room's rules, reply with a quote that jumps to the original, reactions."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, expect

from e2e.e2e_support import (
    Fakes,
    Person,
    ServerProcess,
    SocketSwitch,
    add_member,
    create_room,
    open_room,
    post_message,
)
from fakes.openrouter import text_reply

pytestmark = pytest.mark.e2e


def article(log: Locator, text: str) -> Locator:
    """The message in a log that shows this text."""
    return log.get_by_role("article").filter(has_text=text)


def action(message: Locator, name: str) -> Locator:
    """One of a message's action buttons (shown on hover)."""
    message.hover()
    return message.get_by_role("button", name=name, exact=True)


def test_alice_edits_her_message_in_place_and_bob_reads_its_history(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Edits")
    add_member(alice, room["id"], bob)
    sent = post_message(alice, room["id"], "Meet at 6")
    alice_log = open_room(alice, room["id"])
    bob_log = open_room(bob, room["id"])

    action(article(alice_log, "Meet at 6"), "Edit").click()
    box = alice.page.get_by_role("textbox", name="Edit message")
    expect(box).to_be_focused()
    expect(box).to_have_value("Meet at 6")
    box.fill("Meet at 7")
    box.press("Enter")

    expect(article(bob_log, "Meet at 7")).to_be_visible()
    expect(bob_log.get_by_text("Meet at 6")).to_have_count(0)
    expect(bob.page.get_by_role("link", name=re.compile("Edits"))).to_contain_text("Meet at 7")
    expect(alice.page.get_by_role("textbox", name="Edit message")).to_have_count(0)
    expect(action(article(alice_log, "Meet at 7"), "Edit")).to_be_focused()
    expect(action(article(bob_log, "Meet at 7"), "Edit")).to_have_count(0)  # not bob's

    edited = article(bob_log, "Meet at 7").get_by_role("button", name="(edited)")
    edited.click()
    history = bob.page.get_by_role("dialog", name="Edit history")
    versions = history.get_by_role("listitem")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text("Original")
    expect(versions.nth(0)).to_contain_text("Meet at 6")
    expect(versions.nth(1)).to_contain_text("Meet at 7")
    bob.page.keyboard.press("Escape")
    expect(history).to_have_count(0)
    expect(edited).to_be_focused()

    # By keyboard: the arrow keys reach the message, Tab its actions; Escape changes nothing.
    keys = alice.page.keyboard
    alice_log.focus()
    keys.press("ArrowUp")
    expect(article(alice_log, "Meet at 7")).to_be_focused()
    for _ in range(4):  # (edited), Add reaction, Reply, Edit
        keys.press("Tab")
    expect(
        article(alice_log, "Meet at 7").get_by_role("button", name="Edit", exact=True)
    ).to_be_focused()
    keys.press("Enter")
    editor = alice.page.get_by_role("textbox", name="Edit message")
    editor.fill("Meet at 8")
    bob.api("PUT", f"/api/messages/{sent['id']}/reactions/👌")  # does not disturb the editor
    expect(alice_log.get_by_role("button", name="👌 1")).to_be_visible()
    expect(editor).to_be_focused()
    expect(editor).to_have_value("Meet at 8")
    keys.press("Escape")
    expect(
        article(alice_log, "Meet at 7").get_by_role("button", name="Edit", exact=True)
    ).to_be_focused()
    keys.press("Tab")  # Delete, then out of the message: the composer's first control
    keys.press("Tab")
    expect(alice.page.get_by_role("button", name="Attach image")).to_be_focused()
    stored = alice.api("GET", f"/api/messages/{sent['id']}").json()
    assert stored["content"] == "Meet at 7"
    assert stored["edited_at"] is not None


def test_who_may_delete_what_follows_the_room_roles(
    server: ServerProcess, person: Callable[..., Person], fakes: Fakes
) -> None:
    alice, bob, carol = person(server, "alice"), person(server, "bob"), person(server, "carol")
    room = create_room(alice, "Moderation", ai_mode="mention")
    add_member(alice, room["id"], bob)
    add_member(alice, room["id"], carol)
    role = alice.api(
        "PATCH", f"/api/rooms/{room['id']}/members/{bob.user_id}", json={"role": "admin"}
    )
    assert role.status_code == 200, role.text
    post_message(alice, room["id"], "Owner speaking")
    post_message(bob, room["id"], "Admin speaking")
    fakes.openrouter.queue(text_reply("The AI speaking"))
    carols = post_message(carol, room["id"], "Member speaking, @ai?")
    alice_log = open_room(alice, room["id"])
    bob_log = open_room(bob, room["id"])
    carol_log = open_room(carol, room["id"])
    expect(article(bob_log, "The AI speaking")).to_be_visible()

    # A room admin: any message but the owner's and other admins' (their own, of course).
    expect(action(article(bob_log, "Owner speaking"), "Delete")).to_have_count(0)
    for text in ("Admin speaking", "Member speaking", "The AI speaking"):
        expect(action(article(bob_log, text), "Delete")).to_have_count(1)
    # A member: only their own.
    for text in ("Owner speaking", "Admin speaking", "The AI speaking"):
        expect(action(article(carol_log, text), "Delete")).to_have_count(0)
    expect(action(article(carol_log, "Member speaking"), "Delete")).to_have_count(1)

    # Bob deletes Carol's message after confirming; the confirmation starts on Cancel.
    action(article(bob_log, "Member speaking"), "Delete").click()
    confirm = bob.page.get_by_role("dialog", name="Delete message?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Delete").click()
    for log in (alice_log, bob_log, carol_log):
        expect(article(log, "Member speaking")).to_have_count(0)
    assert carol.api("GET", f"/api/messages/{carols['id']}").status_code == 410

    # The owner deletes anything, the AI's answer too; Cancel keeps it.
    action(article(alice_log, "The AI speaking"), "Delete").click()
    alice.page.get_by_role("dialog", name="Delete message?").get_by_role(
        "button", name="Cancel"
    ).click()
    expect(article(carol_log, "The AI speaking")).to_be_visible()
    for text in ("The AI speaking", "Admin speaking"):
        action(article(alice_log, text), "Delete").click()
        alice.page.get_by_role("dialog", name="Delete message?").get_by_role(
            "button", name="Delete"
        ).click()
        expect(article(carol_log, text)).to_have_count(0)
    left = [
        m["content"]
        for m in alice.api("GET", f"/api/rooms/{room['id']}/messages").json()["messages"]
    ]
    assert left == ["Owner speaking"]


def test_bob_replies_with_a_quote_that_jumps_to_the_original(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Replies")
    add_member(alice, room["id"], bob)
    question = post_message(alice, room["id"], "Who brings the tent?")
    bob_log = open_room(bob, room["id"])
    for n in range(55):  # more than a page: alice's jump will load older messages to get there
        post_message(alice, room["id"], f"Unrelated chatter {n}")
    expect(bob_log.get_by_text("Unrelated chatter 54")).to_be_visible()

    action(article(bob_log, "Who brings the tent?"), "Reply").click()
    composer = bob.page.get_by_role("textbox", name="Message")
    expect(composer).to_be_focused()
    expect(bob.page.get_by_text("Replying to Alice")).to_be_visible()
    composer.press("Escape")  # changed his mind
    expect(bob.page.get_by_text("Replying to Alice")).to_have_count(0)
    action(article(bob_log, "Who brings the tent?"), "Reply").click()
    composer.fill("I do")
    composer.press("Enter")
    expect(bob.page.get_by_text("Replying to Alice")).to_have_count(0)

    alice_log = open_room(alice, room["id"])
    quote = article(alice_log, "I do").get_by_role(
        "button", name=re.compile(r"^Reply to Alice: Who brings the tent\?")
    )
    expect(quote).to_be_visible()
    quote.click()
    original = article(alice_log, "Who brings the tent?").first  # the reply quotes it too
    expect(original).to_be_focused()
    expect(original).to_be_in_viewport()
    newest = alice.api("GET", f"/api/rooms/{room['id']}/messages?limit=1").json()["messages"][0]
    assert newest["content"] == "I do"
    assert newest["reply_to"]["id"] == question["id"]

    # Deleting the original leaves the reply saying so.
    alice.api("DELETE", f"/api/messages/{question['id']}")
    expect(article(bob_log, "I do").get_by_text("Reply to a deleted message")).to_be_visible()


def test_reactions_are_picked_toggled_and_say_who_reacted(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Reactions")
    add_member(alice, room["id"], bob)
    lunch = post_message(alice, room["id"], "Lunch at noon?")
    alice_log = open_room(alice, room["id"])
    bob_log = open_room(bob, room["id"])

    action(article(alice_log, "Lunch at noon?"), "Add reaction").click()
    picker = alice.page.get_by_role("dialog", name="Add a reaction")
    picker.get_by_role("button", name="👍 thumbs up").click()
    expect(picker).to_have_count(0)
    alice_chip = article(alice_log, "Lunch at noon?").get_by_role("button", name="👍 1")
    expect(alice_chip).to_have_attribute("aria-pressed", "true")

    bob_chip = article(bob_log, "Lunch at noon?").get_by_role("button", name="👍 1")
    expect(bob_chip).to_have_attribute("aria-pressed", "false")
    bob_chip.focus()  # keyboard users see who reacted too
    expect(bob.page.get_by_role("tooltip")).to_have_text("👍 Alice")
    bob.page.keyboard.press("Enter")
    bob_chip = article(bob_log, "Lunch at noon?").get_by_role("button", name="👍 2")
    expect(bob_chip).to_have_attribute("aria-pressed", "true")
    expect(bob_chip).to_be_focused()
    expect(bob.page.get_by_role("tooltip")).to_have_text("👍 Alice, Bob")
    expect(article(alice_log, "Lunch at noon?").get_by_role("button", name="👍 2")).to_be_visible()

    action(article(bob_log, "Lunch at noon?"), "Add reaction").click()
    bob.page.get_by_role("dialog", name="Add a reaction").get_by_label("Any emoji").fill("🦄")
    bob.page.keyboard.press("Enter")
    expect(article(alice_log, "Lunch at noon?").get_by_role("button", name="🦄 1")).to_be_visible()

    article(bob_log, "Lunch at noon?").get_by_role("button", name="👍 2").click()  # toggles his off
    expect(article(alice_log, "Lunch at noon?").get_by_role("button", name="👍 1")).to_be_visible()
    stored = alice.api("GET", f"/api/messages/{lunch['id']}").json()["reactions"]
    assert stored == [
        {"emoji": "👍", "count": 1, "user_ids": [alice.user_id]},
        {"emoji": "🦄", "count": 1, "user_ids": [bob.user_id]},
    ]


def test_edits_deletions_and_reactions_made_while_offline_show_after_reconnecting(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Spotty signal")
    add_member(alice, room["id"], bob)
    typo = post_message(bob, room["id"], "Teh plan")
    oops = post_message(bob, room["id"], "wrong room, sorry")
    good = post_message(bob, room["id"], "See you at 8")
    switch = SocketSwitch(alice.page)
    log = open_room(alice, room["id"])
    expect(log.get_by_text("See you at 8")).to_be_visible()
    banner = alice.page.get_by_role("status").filter(has_text="Offline — reconnecting…")

    switch.drop()
    expect(banner).to_be_visible()
    bob.api("PATCH", f"/api/messages/{typo['id']}", json={"content": "The plan"})
    bob.api("DELETE", f"/api/messages/{oops['id']}")
    bob.api("PUT", f"/api/messages/{good['id']}/reactions/👍")
    action(article(log, "See you at 8"), "Reply").click()
    alice.page.get_by_role("textbox", name="Message").fill("I'll be there")
    alice.page.keyboard.press("Enter")
    waiting = article(log, "Waiting for connection…")
    expect(
        waiting.get_by_role("button", name=re.compile("^Reply to Bob: See you at 8"))
    ).to_be_visible()
    switch.restore()

    expect(banner).to_have_count(0)
    expect(article(log, "The plan").get_by_role("button", name="(edited)")).to_be_visible()
    expect(article(log, "wrong room, sorry")).to_have_count(0)
    expect(article(log, "See you at 8").get_by_role("button", name="👍 1")).to_be_visible()
    expect(waiting).to_have_count(0)
    sent = alice.api("GET", f"/api/rooms/{room['id']}/messages?limit=1").json()["messages"][0]
    assert (sent["content"], sent["reply_to"]["id"]) == ("I'll be there", good["id"])
