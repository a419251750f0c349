"""Provider faults seen from the room: each ends the stream with a readable error, keeps any
partial text, and leaves the room working (a later message and a later answer go through)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import GatedOpenRouter, next_stream, room_messages, say
from conftest import Actor, add_member, create_room
from fakes.openrouter import (
    Comment,
    Data,
    Drop,
    Raw,
    Reply,
    Sleep,
    StreamReply,
    chunk,
    error_reply,
    mid_stream_error,
    text_reply,
    usage_dict,
    usage_step,
)


@dataclass
class Fault:
    reply: Reply
    words: tuple[str, ...]  # the error must contain each (case-insensitive)
    partial: str | None = None  # text stored despite the error
    settings: dict[str, Any] = field(default_factory=dict)


def text_then(first: str, *tail: Any, done: bool = True) -> StreamReply:
    return StreamReply([Comment(), Data(chunk({"content": first})), *tail], done=done)


FAULTS = {
    "401": Fault(error_reply(401), ("401", "api key")),
    "402": Fault(error_reply(402), ("402", "credits")),
    "429": Fault(error_reply(429, retry_after="30"), ("429", "30 s")),
    "500": Fault(error_reply(500), ("500", "error")),
    "error-object": Fault(
        text_then("Par", mid_stream_error("Provider disconnected unexpectedly"), done=False),
        ("provider disconnected unexpectedly",),
        partial="Par",
    ),
    "dropped": Fault(text_then("Hal", Drop()), ("closed the connection",), partial="Hal"),
    "first-token-timeout": Fault(
        StreamReply([Comment(), Sleep(3.0), Data(chunk({"content": "late"}))]),
        ("first token",),
        settings={"ai_first_token_timeout": 1.0},  # generous: the next answer must beat it
    ),
    "idle-timeout": Fault(
        text_then("Slow", Sleep(3.0), Data(chunk({"content": " and late"}))),
        ("nothing for 1 s",),
        partial="Slow",
        settings={"ai_idle_timeout": 1.0},
    ),
}


@pytest.mark.parametrize(
    ("fault", "ai_overrides"),
    [(fault, fault.settings) for fault in FAULTS.values()],
    ids=list(FAULTS),
)
async def test_a_provider_fault_ends_the_stream_readably_and_the_room_goes_on(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor, fault: Fault
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    provider.queue(fault.reply)
    await say(a, room["id"], "@ai please answer")
    for sock in (a, b):
        stream = await next_stream(sock)
        assert stream.error is not None
        assert all(word in stream.error.lower() for word in fault.words), stream.error
        assert "Traceback" not in stream.error and "{" not in stream.error
        assert stream.text == (fault.partial or "")
        if fault.partial is None:
            assert stream.message is None
        else:
            assert stream.message is not None and stream.message["content"] == fault.partial
            assert stream.message["ai"]["finish_reason"] == "error"
    # The room keeps working: a plain message, then a normal answer.
    resp = await http.post(
        f"/api/rooms/{room['id']}/messages", json={"content": "oh well"}, headers=bob.headers
    )
    assert resp.status_code == 201
    provider.queue(text_reply("Back to normal."))
    await say(b, room["id"], "@ai try again?")
    stream = await next_stream(a)
    assert stream.error is None and stream.text == "Back to normal."
    stored = await room_messages(http, alice, room["id"])
    expected = ["@ai please answer", *([fault.partial] if fault.partial else [])]
    assert [m["content"] for m in stored] == [
        *expected,
        "oh well",
        "@ai try again?",
        "Back to normal.",
    ]


async def test_garbage_lines_are_skipped_and_the_answer_completes(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    steps = [
        Comment(),
        Raw(b"this is not an event\n\n"),
        Data(chunk({"content": "Still "})),
        Raw(b"data: {not json at all\n\n"),
        Raw(b"event: mystery\nid: 7\n\n"),
        Data("[1, 2, 3]"),
        Data(chunk({"content": "fine."}), space=False),
        Data(chunk({"content": ""}, "stop")),
        usage_step(usage_dict()),
    ]
    provider.queue(StreamReply(steps))
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai are you ok?")
    stream = await next_stream(a)
    assert stream.error is None and stream.text == "Still fine."
    assert stream.message is not None and stream.message["ai"]["finish_reason"] == "stop"


async def test_an_empty_answer_is_an_error_not_a_message(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    provider.queue(text_reply("  "), text_reply("Now with words."))
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai say nothing")
    stream = await next_stream(a)
    assert stream.message is None and stream.error is not None and "empty" in stream.error
    await say(a, room["id"], "@ai say something")
    assert (await next_stream(a)).text == "Now with words."
    stored = await room_messages(http, alice, room["id"])
    assert [m["author_type"] for m in stored] == ["user", "user", "ai"]
