"""The AI in a room: alice and bob talk, the AI answers through a fake OpenRouter over real SSE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from conftest import (
    TEST_DATABASE_URL,
    Actor,
    add_member,
    create_room,
    make_settings,
    reset_postgres,
)
from fakes.openrouter import DEFAULT_KEY, VISION_MODEL, FakeOpenRouter, text_reply, tool_call_reply
from fakes.tavily import DEFAULT_KEY as TAVILY_KEY
from fakes.tavily import FakeTavily


@pytest.fixture
async def provider() -> AsyncIterator[FakeOpenRouter]:
    async with FakeOpenRouter() as fake:
        yield fake


@pytest.fixture
async def tavily() -> AsyncIterator[FakeTavily]:
    async with FakeTavily() as fake:
        yield fake


@pytest.fixture
async def settings(tmp_path: Path, provider: FakeOpenRouter, tavily: FakeTavily):  # type: ignore[no-untyped-def]
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    return make_settings(
        tmp_path,
        openrouter_api_key=DEFAULT_KEY,
        openrouter_base_url=provider.base_url,
        ai_default_model=VISION_MODEL,
        search_provider="tavily",
        tavily_api_key=TAVILY_KEY,
        tavily_base_url=tavily.base_url,
    )


async def test_mention_streams_an_answer_to_every_member(
    http: httpx.AsyncClient, provider: FakeOpenRouter, alice: Actor, bob: Actor
) -> None:
    provider.queue(text_reply("Hello ", "there, ", "Alice!"))
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    await a.send({"type": "send_message", "room_id": room["id"], "content": "hi @ai"})
    for sock in (a, b):
        typing = await sock.expect("ai_typing")
        deltas: list[str] = []
        while True:
            frame = await sock.recv()
            if frame["type"] == "ai_stream_chunk":
                deltas.append(frame["delta"])
            elif frame["type"] == "ai_stream_end":
                break
        assert frame["stream_id"] == typing["stream_id"]
        assert "error" not in frame
        stored = frame["message"]
        assert "".join(deltas) == stored["content"] == "Hello there, Alice!"
        assert stored["author_type"] == "ai" and stored["ai"]["model"] == VISION_MODEL
    sent = provider.bodies[0]
    assert sent["stream"] is True and sent["messages"][0]["role"] == "system"
    assert sent["messages"][-1] == {"role": "user", "content": "Alice: hi @ai"}


async def test_tool_use_is_announced_and_fed_back(
    http: httpx.AsyncClient, provider: FakeOpenRouter, tavily: FakeTavily, alice: Actor
) -> None:
    provider.queue(
        tool_call_reply([("web_search", {"query": "nostr NIP-07"})], text="Let me check. "),
        text_reply("NIP-07 defines window.nostr."),
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await a.send({"type": "send_message", "room_id": room["id"], "content": "@AI, what is NIP-07?"})
    started = await a.expect("ai_tool_use")
    assert (started["tool"], started["status"], started["input"]) == (
        "web_search",
        "started",
        {"query": "nostr NIP-07"},
    )
    finished = await a.expect("ai_tool_use")
    assert finished["status"] == "finished"
    end = await a.expect("ai_stream_end")
    assert end["message"]["content"] == "Let me check. NIP-07 defines window.nostr."
    assert end["message"]["ai"]["tools"] == [
        {"name": "web_search", "input": {"query": "nostr NIP-07"}, "ok": True}
    ]
    second = provider.bodies[1]["messages"]
    assert second[-1]["role"] == "tool" and "NIP-07" in second[-1]["content"]
