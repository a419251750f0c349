"""The client survives a server restart and a failed catch-up: offline banner, catch-up of
missed messages, resend."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Route, expect

from e2e.e2e_support import (
    Person,
    ServerProcess,
    SocketSwitch,
    add_member,
    create_room,
    open_room,
    post_message,
)

pytestmark = pytest.mark.e2e


def offline_banner(person: Person) -> Locator:
    return person.page.get_by_role("status").filter(has_text="Offline — reconnecting…")


def write_offline(person: Person, log: Locator, text: str) -> None:
    """Send a message while the socket is down: it waits in the outbox."""
    box = person.page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")
    expect(log.get_by_text("Waiting for connection…")).to_be_visible()


def test_reconnects_after_restart_and_catches_up(
    own_server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(own_server, "alice"), person(own_server, "bob")
    room = create_room(alice, "Resilient")
    add_member(alice, room["id"], bob)
    log = open_room(alice, room["id"])
    post_message(bob, room["id"], "before the outage")
    expect(log.get_by_text("before the outage")).to_be_visible()
    banner = offline_banner(alice)

    own_server.kill()
    expect(banner).to_be_visible()
    write_offline(alice, log, "written while offline")

    own_server.start()
    post_message(bob, room["id"], "sent while you were away")
    expect(log.get_by_text("sent while you were away")).to_be_visible(timeout=15000)
    expect(banner).to_have_count(0)
    expect(log.get_by_text("Waiting for connection…")).to_have_count(0)
    expect(log.get_by_text("written while offline")).to_have_count(1)

    post_message(bob, room["id"], "live again")
    expect(log.get_by_text("live again")).to_be_visible()
    stored = bob.api("GET", f"/api/rooms/{room['id']}/messages").json()["messages"]
    contents = [m["content"] for m in stored]
    assert contents[0] == "before the outage" and contents[-1] == "live again"
    assert sorted(contents[1:3]) == ["sent while you were away", "written while offline"]


def test_a_failed_catch_up_is_tried_again_before_the_outbox_goes(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Patchy")
    add_member(alice, room["id"], bob)
    after_drop: list[str] = []  # what the page did once back: "catch-up failed", "catch-up", "send"

    def note_send(message: str | bytes) -> None:
        if switch.reconnected and '"send_message"' in str(message):
            after_drop.append("send")

    def fail_first(route: Route) -> None:
        if switch.offline or not switch.reconnected:  # reads before the drop go through
            route.continue_()
        elif not after_drop:
            after_drop.append("catch-up failed")
            route.abort("connectionreset")
        else:
            after_drop.append("catch-up")
            route.continue_()

    switch = SocketSwitch(alice.page, on_send=note_send)
    alice.page.route(re.compile(r"/messages\?limit=200&after="), fail_first)
    log = open_room(alice, room["id"])
    post_message(bob, room["id"], "before the drop")
    expect(log.get_by_text("before the drop")).to_be_visible()

    switch.drop()
    expect(offline_banner(alice)).to_be_visible()
    post_message(bob, room["id"], "missed while away")
    write_offline(alice, log, "queued while away")
    switch.restore()

    expect(log.get_by_text("missed while away")).to_be_visible()
    expect(log.get_by_text("queued while away")).to_have_count(1)
    expect(log.get_by_text("Waiting for connection…")).to_have_count(0)
    # What waited went out once the second read had shown what got through, not after the first.
    assert after_drop == ["catch-up failed", "catch-up", "send"]
    stored = bob.api("GET", f"/api/rooms/{room['id']}/messages").json()["messages"]
    contents = [m["content"] for m in stored]
    assert contents == ["before the drop", "missed while away", "queued while away"]


def test_history_that_failed_to_load_is_loaded_again(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    lobby = create_room(alice, "Lobby")
    room = create_room(alice, "Hiccup")
    add_member(alice, room["id"], bob)
    post_message(bob, room["id"], "from before")
    loads: list[str] = []

    def fail_first(route: Route) -> None:
        loads.append(route.request.url)
        if len(loads) == 1:
            route.fulfill(status=503, json={"detail": "busy"})
        else:
            route.continue_()

    open_room(alice, lobby["id"])  # connected and joined before the room below loads
    alice.page.route(re.compile(rf"/rooms/{room['id']}/messages\?limit=50$"), fail_first)
    alice.page.get_by_role("link", name=re.compile("^Hiccup")).click()
    log = alice.page.get_by_role("region", name="Hiccup").get_by_role("log", name="Messages")
    expect(log.get_by_text("from before")).to_be_visible()
    assert len(loads) == 2
    expect(alice.page.get_by_text("Could not load messages")).to_have_count(0)


def test_history_that_failed_to_load_loads_when_the_socket_is_back(
    server: ServerProcess, person: Callable[..., Person]
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Shaky start")
    add_member(alice, room["id"], bob)
    post_message(bob, room["id"], "from before")
    switch = SocketSwitch(alice.page)

    def fail_until_back(route: Route) -> None:
        if switch.reconnected:
            route.continue_()
        else:  # the server went down while the room's history loaded
            route.abort("connectionreset")

    alice.page.route(re.compile(r"/messages\?limit=50$"), fail_until_back)
    log = open_room(alice, room["id"])
    switch.drop()
    banner = offline_banner(alice)
    expect(banner).to_be_visible()
    # Tried again while connected; gives up once offline.
    expect(
        alice.page.get_by_role("alert").filter(has_text="Could not load messages")
    ).to_be_visible()
    expect(log.get_by_text("from before")).to_have_count(0)
    post_message(bob, room["id"], "posted while away")
    write_offline(alice, log, "queued while away")
    switch.restore()

    expect(banner).to_have_count(0)
    expect(log.get_by_text("from before")).to_be_visible()
    expect(log.get_by_text("posted while away")).to_be_visible()
    expect(log.get_by_text("queued while away")).to_have_count(1)
    expect(log.get_by_text("Waiting for connection…")).to_have_count(0)
    stored = bob.api("GET", f"/api/rooms/{room['id']}/messages").json()["messages"]
    contents = [m["content"] for m in stored]
    assert contents == ["from before", "posted while away", "queued while away"]
