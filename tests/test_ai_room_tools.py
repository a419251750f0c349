"""The AI's tools seen from the room: web_search (fake Tavily) and fetch_page (fake pages),
announced to every member, failures reported, rounds bounded."""

from __future__ import annotations

import json

import httpx
import pytest

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, pages, settings, ...)
from ai_fixtures import GatedOpenRouter, next_stream, say
from conftest import Actor, Register, add_member, create_room
from fakes.openrouter import (
    Comment,
    Data,
    StreamReply,
    chunk,
    parallel_calls_chunk,
    text_reply,
    tool_call_reply,
    usage_dict,
    usage_step,
)
from fakes.pages import FakePages, Page
from fakes.tavily import FakeTavily


def tool_results(body: dict[str, object]) -> list[dict[str, str]]:
    """The tool turns of a recorded chat request."""
    messages = body["messages"]
    assert isinstance(messages, list)
    return [m for m in messages if m["role"] == "tool"]


async def test_tool_events_reach_every_member_and_nobody_else(
    http: httpx.AsyncClient,
    provider: GatedOpenRouter,
    tavily: FakeTavily,
    register: Register,
    alice: Actor,
    bob: Actor,
) -> None:
    dave = await register("dave")
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    d = await dave.socket()
    provider.queue(
        tool_call_reply([("web_search", {"query": "groupchat release date"})]),
        text_reply("It shipped in 2026."),
    )
    await say(a, room["id"], "@ai when did groupchat ship?")
    for sock in (a, b):
        stream = await next_stream(sock)
        assert [(t["tool"], t["status"], t["input"]) for t in stream.tools] == [
            ("web_search", "started", {"query": "groupchat release date"}),
            ("web_search", "finished", {"query": "groupchat release date"}),
        ]
        assert all(t["stream_id"] == stream.typing["stream_id"] for t in stream.tools)
        assert stream.text == "It shipped in 2026."
    await d.silent()
    assert [s["query"] for s in tavily.searches] == ["groupchat release date"]
    (result,) = tool_results(provider.bodies[1])
    assert json.loads(result["content"])[0]["url"].startswith("https://github.com/")


async def test_a_failing_search_is_reported_and_the_answer_completes(
    http: httpx.AsyncClient, provider: GatedOpenRouter, tavily: FakeTavily, alice: Actor
) -> None:
    tavily.api_key = "tvly-another-key"  # ours is now wrong: Tavily answers 401
    provider.queue(
        tool_call_reply([("web_search", {"query": "news"})]),
        text_reply("Search is down, but here is what I know."),
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai any news?")
    stream = await next_stream(a)
    assert [(t["status"], t["input"]) for t in stream.tools] == [
        ("started", {"query": "news"}),
        ("failed", {"query": "news"}),
    ]
    assert stream.error is None and stream.message is not None
    assert stream.message["content"] == "Search is down, but here is what I know."
    assert stream.message["ai"]["tools"] == [
        {"name": "web_search", "input": {"query": "news"}, "ok": False}
    ]
    (result,) = tool_results(provider.bodies[1])
    assert result["content"] == "Web search (Tavily) rejected the API key (401)."


async def test_fetch_page_of_a_private_address_is_refused(
    http: httpx.AsyncClient, provider: GatedOpenRouter, pages: FakePages, alice: Actor
) -> None:
    url = pages.url + "/article"  # 127.0.0.1: the SSRF guard refuses it (no allow_private)
    provider.queue(
        tool_call_reply([("fetch_page", {"url": url})]),
        text_reply("I could not open that page."),
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], f"@ai summarize {url}")
    stream = await next_stream(a)
    assert [(t["tool"], t["status"], t["input"]) for t in stream.tools] == [
        ("fetch_page", "started", {"url": url}),
        ("fetch_page", "failed", {"url": url}),
    ]
    assert stream.message is not None and stream.message["ai"]["tools"][0]["ok"] is False
    assert stream.text == "I could not open that page."
    assert pages.requests == []  # nothing was sent to the private address
    (result,) = tool_results(provider.bodies[1])
    assert result["content"].startswith("Refusing to fetch from 127.0.0.1")
    assert "private" in result["content"]


@pytest.mark.parametrize("ai_overrides", [{"fetch_allow_private": True}])
async def test_fetch_page_reads_the_page_for_the_model(
    http: httpx.AsyncClient, provider: GatedOpenRouter, pages: FakePages, alice: Actor
) -> None:
    url = pages.url + "/article"
    provider.queue(
        tool_call_reply([("fetch_page", {"url": url})]),
        text_reply("It says hello."),
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], f"@ai what does {url} say?")
    stream = await next_stream(a)
    assert [t["status"] for t in stream.tools] == ["started", "finished"]
    assert stream.text == "It says hello."
    (result,) = tool_results(provider.bodies[1])
    page = json.loads(result["content"])
    assert page["title"] == "Fake Article & Co" and "Hello, world" in page["text"]
    assert "script text must not appear" not in page["text"]


async def test_parallel_calls_are_run_and_answered_by_id(
    http: httpx.AsyncClient, provider: GatedOpenRouter, tavily: FakeTavily, alice: Actor
) -> None:
    calls = [
        ("call_a", "web_search", {"query": "first"}),
        ("call_b", "web_search", {"query": "second"}),
    ]
    steps = [
        Comment(),
        parallel_calls_chunk(calls),
        Data(chunk({"content": ""}, "tool_calls")),
        usage_step(usage_dict()),
    ]
    provider.queue(StreamReply(steps), text_reply("Both found."))
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai compare first and second")
    stream = await next_stream(a)
    assert [(t["status"], t["input"]["query"]) for t in stream.tools] == [
        ("started", "first"),
        ("finished", "first"),
        ("started", "second"),
        ("finished", "second"),
    ]
    assert [r["tool_call_id"] for r in tool_results(provider.bodies[1])] == ["call_a", "call_b"]
    assistant = provider.bodies[1]["messages"][-3]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert stream.text == "Both found."


@pytest.mark.parametrize("ai_overrides", [{"ai_max_tool_rounds": 1}])
async def test_the_last_round_is_sent_without_tools(
    http: httpx.AsyncClient, provider: GatedOpenRouter, tavily: FakeTavily, alice: Actor
) -> None:
    provider.queue(
        tool_call_reply([("web_search", {"query": "one"})]),
        tool_call_reply([("web_search", {"query": "two"})]),  # a model that will not stop
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai dig deep")
    stream = await next_stream(a)
    first, last = provider.bodies
    assert [t["function"]["name"] for t in first["tools"]] == ["web_search", "fetch_page"]
    assert first["tool_choice"] == "auto"
    assert "tools" not in last and "tool_choice" not in last
    assert [s["query"] for s in tavily.searches] == ["one"]  # the second call was not run
    assert [(t["status"], t["input"]) for t in stream.tools] == [
        ("started", {"query": "one"}),
        ("finished", {"query": "one"}),
    ]
    assert stream.message is None and stream.error is not None
    assert "tool rounds" in stream.error
    await a.silent()
    assert len(provider.chat_requests) == 2


@pytest.mark.parametrize("ai_overrides", [{"ai_max_tool_rounds": 1}])
async def test_an_answer_in_the_last_round_is_stored(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    provider.queue(
        tool_call_reply([("web_search", {"query": "one"})]),
        text_reply("Here is what I found."),
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai look it up")
    stream = await next_stream(a)
    assert stream.error is None and stream.text == "Here is what I found."
    assert "tools" not in provider.bodies[1]
    await a.silent()


@pytest.mark.parametrize("ai_overrides", [{"fetch_allow_private": True}])
async def test_fetched_pages_cannot_set_cookies_for_later_fetches(
    http: httpx.AsyncClient, provider: GatedOpenRouter, pages: FakePages, alice: Actor
) -> None:
    pages.pages["/tracker"] = Page(
        200, "text/html", b"<p>watching you</p>", headers={"Set-Cookie": "track=alice; Path=/"}
    )
    url = pages.url + "/tracker"
    provider.queue(
        tool_call_reply([("fetch_page", {"url": url})]),
        tool_call_reply([("fetch_page", {"url": url})]),
        text_reply("Seen it twice."),
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], f"@ai open {url} twice")
    stream = await next_stream(a)
    assert [t["status"] for t in stream.tools] == ["started", "finished"] * 2
    first, second = pages.requests
    assert "cookie" not in first.headers and "cookie" not in second.headers


@pytest.mark.parametrize("ai_overrides", [{"ai_max_tool_rounds": 0}])
async def test_no_tool_rounds_means_no_tools_at_all(
    http: httpx.AsyncClient, provider: GatedOpenRouter, tavily: FakeTavily, alice: Actor
) -> None:
    provider.queue(tool_call_reply([("web_search", {"query": "anyway"})]))
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai search it")
    stream = await next_stream(a)
    assert "tools" not in provider.bodies[0]
    assert stream.tools == [] and tavily.searches == []
    assert (
        stream.message is None and stream.error == "The AI asked for a tool instead of answering."
    )


OLLAMA_MODELS = [  # what Ollama's /v1/models says: no capabilities at all
    {"id": "llama3.2:latest", "object": "model", "created": 1700000000, "owned_by": "library"},
]


@pytest.mark.parametrize("ai_overrides", [{"ai_default_model": "llama3.2:latest"}])
async def test_a_local_server_model_is_offered_tools(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    provider.models = OLLAMA_MODELS
    provider.queue(text_reply("Hi from Ollama."))
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai hello")
    stream = await next_stream(a)
    assert stream.text == "Hi from Ollama."
    body = provider.bodies[0]
    assert body["model"] == "llama3.2:latest"
    assert [t["function"]["name"] for t in body["tools"]] == ["web_search", "fetch_page"]
