"""Catching up in the browser: unread and mention badges, the "New messages" line, the tab title,
and a second tab clearing its badge when the first one reads."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from e2e.e2e_support import Person, ServerProcess, add_member, create_room, post_message

pytestmark = pytest.mark.e2e


def room_link(page: Page, name: str) -> Locator:
    """The room's link in the sidebar (its accessible name carries the counts)."""
    nav = page.get_by_role("navigation", name="Your rooms")
    return nav.get_by_role("link", name=re.compile(f"^{name}"))


def counts(someone: Person, room_id: str) -> tuple[int, int, str | None]:
    """(unread_count, mention_count, last_read_id) as the server has them for this person."""
    room = someone.api("GET", f"/api/rooms/{room_id}").json()
    return room["unread_count"], room["mention_count"], room["last_read_id"]


def test_badge_divider_and_title_after_another_user_posts(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Book club")
    garden = create_room(alice, "Garden")
    add_member(alice, room["id"], bob)
    read_up_to = post_message(alice, room["id"], "Great, next week then")
    post_message(alice, garden["id"], "Tomatoes are in")
    page = alice.page
    page.goto(server.base_url)
    link = room_link(page, "Book club")
    expect(link).to_have_accessible_name(re.compile(r"^Book club.*Great, next week then"))

    post_message(bob, room["id"], "Chapter two is long")
    newest = post_message(bob, room["id"], f"@{alice.username} can you bring the tea?")

    expect(link).to_have_accessible_name(re.compile(r"^Book club.*, 2 unread, 1 mention$"))
    expect(link.get_by_text("@1")).to_be_visible()
    expect(page).to_have_title("(2) GroupChat")
    nav = page.get_by_role("navigation", name="Your rooms")
    expect(nav.get_by_role("link").first).to_have_accessible_name(re.compile("^Book club"))
    assert counts(alice, room["id"]) == (2, 1, read_up_to["id"])

    with page.expect_response(lambda r: r.url.endswith("/read")) as marked:
        link.click()
    assert marked.value.status == 204
    log = page.get_by_role("log", name="Messages")
    line = log.locator(".row").filter(has_text="Chapter two is long").get_by_text("New messages")
    expect(line).to_be_visible()
    expect(log.get_by_text("New messages")).to_have_count(1)
    expect(page).to_have_title("GroupChat")
    expect(link).to_have_accessible_name(re.compile(r"Bob: @\S+ can you bring the tea\?"))
    expect(link).not_to_have_accessible_name(re.compile("unread"))
    assert counts(alice, room["id"]) == (0, 0, newest["id"])
    assert counts(bob, room["id"])[0] == 0  # bob's own posts are not unread for him


def test_second_tab_clears_its_badge_when_the_first_reads(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Trip")
    add_member(alice, room["id"], bob)
    first, second = alice.page, alice.context.new_page()
    for tab in (first, second):
        tab.goto(server.base_url)
        expect(room_link(tab, "Trip")).to_be_visible()

    post_message(bob, room["id"], "Train at 9")
    bus = post_message(bob, room["id"], "Bus at 10")
    for tab in (first, second):
        expect(room_link(tab, "Trip")).to_have_accessible_name(re.compile(r", 2 unread$"))
    assert bob.api("DELETE", f"/api/messages/{bus['id']}").status_code == 204
    for tab in (first, second):  # a deleted message is no longer unread
        expect(room_link(tab, "Trip")).to_have_accessible_name(re.compile(r", 1 unread$"))
        expect(tab).to_have_title("(1) GroupChat")

    room_link(first, "Trip").click()
    expect(first.get_by_role("log", name="Messages").get_by_text("Train at 9")).to_be_visible()
    expect(room_link(second, "Trip")).not_to_have_accessible_name(re.compile("unread"))
    expect(second).to_have_title("GroupChat")
    assert counts(alice, room["id"])[:2] == (0, 0)


# The browser's Notification API and the tab's visibility, replaced by recorders: a headless tab
# is never hidden and shows no notifications.
FAKE_NOTIFICATIONS = """
window.__notes = [];
window.__asked = 0;
window.__hidden = false;
class RecordedNotification {
  static permission = 'default';
  static requestPermission() {
    window.__asked += 1;
    RecordedNotification.permission = 'granted';
    return Promise.resolve('granted');
  }
  constructor(title, options) { window.__notes.push({ title, body: options.body }); }
  close() {}
}
window.Notification = RecordedNotification;
Object.defineProperty(document, 'visibilityState', {
  get: () => (window.__hidden ? 'hidden' : 'visible'),
});
"""


def test_notifications_for_mentions_and_replies_while_hidden(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Harbour")
    add_member(alice, room["id"], bob)
    question = post_message(alice, room["id"], "Who has the keys?")
    page = alice.page
    page.add_init_script(FAKE_NOTIFICATIONS)
    page.goto(server.base_url)
    bell = page.get_by_role("button", name="Turn on notifications for mentions and replies")
    expect(bell).to_be_visible()
    assert page.evaluate("window.__asked") == 0  # never asked on load
    bell.click()
    expect(bell).to_have_count(0)
    assert page.evaluate("window.__asked") == 1

    post_message(bob, room["id"], "Nice weather")  # visible tab: counted, no notification
    expect(room_link(page, "Harbour")).to_have_accessible_name(re.compile(", 1 unread$"))
    page.evaluate("window.__hidden = true")
    post_message(bob, room["id"], "Boats are out")
    post_message(bob, room["id"], f"@{alice.username} look at this")
    reply = {"content": "I have them", "reply_to": question["id"]}
    assert bob.api("POST", f"/api/rooms/{room['id']}/messages", json=reply).status_code == 201

    expect(room_link(page, "Harbour")).to_have_accessible_name(
        re.compile(", 4 unread, 2 mentions$")
    )
    assert page.evaluate("window.__notes") == [
        {"title": "Bob in Harbour", "body": f"@{alice.username} look at this"},
        {"title": "Bob in Harbour", "body": "I have them"},
    ]
