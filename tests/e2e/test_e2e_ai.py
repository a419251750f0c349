"""The AI in the browser: a streamed answer with tool use seen by everyone; the Stop button."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from e2e.e2e_support import Fakes, Person, ServerProcess, add_member, create_room, open_room
from fakes.openrouter import (
    Comment,
    Data,
    Sleep,
    StreamReply,
    chunk,
    error_reply,
    tool_call_reply,
    usage_dict,
    usage_step,
)

pytestmark = pytest.mark.e2e


def slow_text(*pieces: str, pause: float) -> StreamReply:
    """Text deltas with a pause after each, then finish and usage."""
    steps: list[Data | Comment | Sleep] = [Comment()]
    for piece in pieces:
        steps += [Data(chunk({"content": piece})), Sleep(pause)]
    steps += [Data(chunk({"content": ""}, "stop")), usage_step(usage_dict(530, 12, 0.001445))]
    return StreamReply(list(steps))


def test_ai_answer_streams_into_both_windows_with_tool_use(
    server: ServerProcess, person: Callable[..., Person], fakes: Fakes
) -> None:
    alice, bob = person(server, "alice"), person(server, "bob")
    room = create_room(alice, "Research")
    add_member(alice, room["id"], bob)
    logs = [open_room(alice, room["id"]), open_room(bob, room["id"])]
    fakes.openrouter.queue(
        tool_call_reply([("web_search", {"query": "nostr NIP-07"})]),
        slow_text("NIP-07 defines ", "window.nostr ", "for browsers.", pause=0.7),
    )

    alice.page.get_by_role("textbox", name="Message").fill("@ai what is NIP-07?")
    alice.page.keyboard.press("Enter")

    for log in logs:
        expect(log.get_by_text("Searching the web for “nostr NIP-07”")).to_be_visible()
        expect(log.get_by_text(re.compile("NIP-07 defines"))).to_be_visible()
        expect(log.get_by_role("button", name="Stop")).to_be_visible()
    for log in logs:
        answer = log.get_by_role("article").filter(
            has_text="NIP-07 defines window.nostr for browsers."
        )
        expect(answer).to_be_visible()
        expect(answer.get_by_text("Searched the web for “nostr NIP-07”")).to_be_visible()
        expect(log.get_by_role("button", name="Stop")).to_have_count(0)
        answer.get_by_role("button", name="Details").click()
        expect(answer.get_by_text("openai/gpt-4o")).to_be_visible()
        expect(
            answer.get_by_text(re.compile(r"\d+ prompt · \d+ completion · \d+ total"))
        ).to_be_visible()
        expect(answer.get_by_role("button", name="Details")).to_have_attribute(
            "aria-expanded", "true"
        )


def test_stop_button_cancels_a_slow_answer(
    server: ServerProcess, person: Callable[..., Person], fakes: Fakes
) -> None:
    alice = person(server, "alice")
    room = create_room(alice, "Long stories")
    log = open_room(alice, room["id"])
    words = [f"word{i} " for i in range(40)]
    fakes.openrouter.queue(slow_text(*words, pause=0.5))

    alice.page.get_by_role("textbox", name="Message").fill("@ai tell me a long story")
    alice.page.keyboard.press("Enter")
    expect(log.get_by_text(re.compile("word1 "))).to_be_visible()
    started = time.monotonic()
    log.get_by_role("button", name="Stop").click()

    expect(log.get_by_role("button", name="Stop")).to_have_count(0, timeout=5000)
    assert time.monotonic() - started < 5
    answer = log.get_by_role("article").filter(has_text="word0")
    expect(answer).to_have_count(1)
    expect(answer.get_by_text(re.compile("word39"))).to_have_count(0)
    answer.get_by_role("button", name="Details").click()
    expect(answer.get_by_text("cancelled")).to_be_visible()
    resp = alice.api("GET", f"/api/rooms/{room['id']}/messages")
    stored = [m for m in resp.json()["messages"] if m["author_type"] == "ai"]
    assert len(stored) == 1 and stored[0]["ai"]["finish_reason"] == "cancelled"


def test_provider_error_is_shown_in_words(
    server: ServerProcess, person: Callable[..., Person], fakes: Fakes
) -> None:
    alice = person(server, "alice")
    room = create_room(alice, "Broke")
    log = open_room(alice, room["id"])
    fakes.openrouter.queue(error_reply(402))

    alice.page.get_by_role("textbox", name="Message").fill("@ai are you there?")
    alice.page.keyboard.press("Enter")
    note = log.get_by_text(re.compile("The AI could not answer: .+"))
    expect(note).to_be_visible()
    expect(log.get_by_role("button", name="Stop")).to_have_count(0)
    assert "credits" in (note.text_content() or "")
