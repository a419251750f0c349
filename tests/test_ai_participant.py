"""The AI in a room: when it answers. alice and bob talk; the AI answers through a fake
OpenRouter over real SSE (see ai_fixtures.py)."""

from __future__ import annotations

import httpx
import pytest

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import GatedOpenRouter, last_user_text, next_stream, room_messages, say
from conftest import Actor, Server, add_member, create_room
from fakes.openrouter import VISION_MODEL, text_reply, tool_call_reply
from fakes.tavily import FakeTavily
from groupchat.ai.participant import NOT_CONFIGURED


async def test_mention_streams_an_answer_to_every_member(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    provider.queue(text_reply("Hello ", "there, ", "Alice!"))
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    await say(a, room["id"], "hi @ai")
    for sock in (a, b):
        stream = await next_stream(sock)
        assert stream.typing["model"] == VISION_MODEL and stream.error is None
        stored = stream.message
        assert stored is not None
        assert stream.text == stored["content"] == "Hello there, Alice!"
        assert stored["author_type"] == "ai" and stored["ai"]["model"] == VISION_MODEL
    sent = provider.bodies[0]
    assert sent["stream"] is True and sent["messages"][0]["role"] == "system"
    assert sent["messages"][-1] == {"role": "user", "content": "Alice: hi @ai"}


async def test_tool_use_is_announced_and_fed_back(
    http: httpx.AsyncClient, provider: GatedOpenRouter, tavily: FakeTavily, alice: Actor
) -> None:
    provider.queue(
        tool_call_reply([("web_search", {"query": "nostr NIP-07"})], text="Let me check. "),
        text_reply("NIP-07 defines window.nostr."),
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@AI, what is NIP-07?")
    stream = await next_stream(a)
    assert [(t["tool"], t["status"], t["input"]) for t in stream.tools] == [
        ("web_search", "started", {"query": "nostr NIP-07"}),
        ("web_search", "finished", {"query": "nostr NIP-07"}),
    ]
    assert stream.message is not None
    assert stream.message["content"] == "Let me check. NIP-07 defines window.nostr."
    assert stream.message["ai"]["tools"] == [
        {"name": "web_search", "input": {"query": "nostr NIP-07"}, "ok": True}
    ]
    second = provider.bodies[1]["messages"]
    assert second[-1]["role"] == "tool" and "NIP-07" in second[-1]["content"]


MENTIONS = [
    ("the ai is quiet today", False),
    ("@aim is a messenger", False),
    ("mail bob@ai.com please", False),
    ("@ai what time is it?", True),
    ("@ai_bot is not it", False),
    ("@AI, and now?", True),
    ("ask him (@ai)", True),
]


async def test_only_real_mentions_wake_the_ai(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    for content, wakes in MENTIONS:
        if wakes:
            provider.queue(text_reply(f"re: {content}"))
        await say(a, room["id"], content)
        await b.expect("new_message")
        if wakes:  # an earlier message that wrongly woke it would have taken this reply
            stream = await next_stream(b)
            assert stream.message is not None
            assert stream.message["content"] == f"re: {content}"
    await b.silent()
    asked = [last_user_text(body) for body in provider.bodies]
    assert asked == [f"Alice: {content}" for content, wakes in MENTIONS if wakes]


@pytest.mark.parametrize("ai_overrides", [{"ai_name": "Ada"}])
async def test_ai_name_changes_the_trigger(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai are you there?")
    provider.queue(text_reply("Ada here."))
    await say(a, room["id"], "@ada, are you there?")
    stream = await next_stream(a)
    assert stream.message is not None and stream.message["content"] == "Ada here."
    await a.silent()
    assert [last_user_text(body) for body in provider.bodies] == ["Alice: @ada, are you there?"]
    assert "You are Ada" in provider.bodies[0]["messages"][0]["content"]


async def test_always_mode_answers_every_human_message_but_never_itself(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, ai_mode="always")
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    answer = "Good morning, Bob. Say @ai whenever you need me."
    provider.queue(text_reply(answer))
    await say(b, room["id"], "good morning everyone")
    for sock in (a, b):
        stream = await next_stream(sock)
        assert stream.message is not None and stream.message["content"] == answer
    await a.silent()  # the stored answer woke nothing
    assert len(provider.chat_requests) == 1
    stored = await room_messages(http, alice, room["id"])
    assert [m["author_type"] for m in stored] == ["user", "ai"]


async def test_off_mode_ignores_even_mentions(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    room = await create_room(http, alice, ai_mode="off")
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai hello?")
    await a.expect("new_message")
    await a.silent()
    assert provider.chat_requests == []
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"ai_mode": "mention"}, headers=alice.headers
    )
    assert resp.status_code == 200 and resp.json()["ai_mode"] == "mention"
    provider.queue(text_reply("Now I am listening."))
    await say(a, room["id"], "@ai hello again")
    stream = await next_stream(a)
    assert stream.message is not None and stream.message["content"] == "Now I am listening."


@pytest.mark.parametrize("ai_overrides", [{"openrouter_api_key": None}])
async def test_without_a_key_a_mention_gets_a_system_message(
    http: httpx.AsyncClient,
    server: Server,
    provider: GatedOpenRouter,
    alice: Actor,
    bob: Actor,
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    await say(a, room["id"], "no mention here")
    await say(a, room["id"], "@ai are you there?")
    for sock in (a, b):
        assert (await sock.expect("new_message"))["message"]["content"] == "no mention here"
        assert (await sock.expect("new_message"))["message"]["content"] == "@ai are you there?"
        system = (await sock.recv())["message"]
        assert system["author_type"] == "system" and system["author"] is None
        assert system["content"] == NOT_CONFIGURED
        assert "OPENROUTER_API_KEY" in system["content"]
    await a.silent()
    stored = await room_messages(http, alice, room["id"])
    assert [m["author_type"] for m in stored] == ["user", "user", "system"]
    assert stored[2]["prev_hash"] == stored[1]["hash"]
    assert provider.requests == []  # the server never called any provider
    resp = await http.get("/api/models", headers=alice.headers)
    assert resp.status_code == 200
    assert [m["id"] for m in resp.json()["models"]] == [server.settings.ai_default_model]


@pytest.mark.parametrize("ai_overrides", [{"openrouter_api_key": None}])
async def test_without_a_key_always_mode_stays_quiet(http: httpx.AsyncClient, alice: Actor) -> None:
    room = await create_room(http, alice, ai_mode="always")
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "just chatting")
    await a.expect("new_message")
    await a.silent()
    stored = await room_messages(http, alice, room["id"])
    assert [m["content"] for m in stored] == ["just chatting"]
