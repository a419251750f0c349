"""AI answers as streams: rooms side by side, one answer at a time per room, what is stored,
what the model is sent (history, prompt, images), usage and cost."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import pytest

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import (
    Gate,
    GatedOpenRouter,
    assert_one_at_a_time,
    chain_hash,
    held_text,
    last_user_text,
    next_stream,
    read_frames,
    read_until,
    room_messages,
    say,
    slow_text,
    stored_rows,
    streams,
)
from conftest import Actor, Register, Server, add_member, create_room
from fakes.openrouter import (
    TEXT_MODEL,
    VISION_MODEL,
    text_reply,
    tool_call_reply,
    usage_dict,
)
from groupchat.ai.participant import QUEUE_FULL
from groupchat.ai.stream import ChunkCoalescer


async def test_two_rooms_stream_at_once_without_crosstalk(
    http: httpx.AsyncClient,
    provider: GatedOpenRouter,
    register: Register,
    alice: Actor,
    bob: Actor,
    carol: Actor,
) -> None:
    dave = await register("dave")
    north = await create_room(http, alice, name="north")
    south = await create_room(http, carol, name="south")
    await add_member(http, north, alice, bob)
    await add_member(http, south, carol, bob)
    a = await alice.socket(join=(north["id"],))
    c = await carol.socket(join=(south["id"],))
    b = await bob.socket(join=(north["id"], south["id"]))
    d = await dave.socket()
    provider.queue(slow_text("North ", "wind ", "blows ", "cold ", "today."))
    provider.queue(slow_text("South ", "is ", "warm."))
    await say(a, north["id"], "@ai weather up north?")
    north_frames = await read_until(a, "ai_stream_chunk")  # north took the first reply
    await say(c, south["id"], "@ai and down south?")
    north_frames += await read_frames(a)
    south_frames = await read_frames(c)
    both_frames = await read_frames(b, ends=2)
    assert {f["room_id"] for f in north_frames if "room_id" in f} == {north["id"]}
    assert {f["room_id"] for f in south_frames if "room_id" in f} == {south["id"]}
    (north_stream,) = streams(north_frames)
    (south_stream,) = streams(south_frames)
    assert north_stream.text == "North wind blows cold today."
    assert south_stream.text == "South is warm."
    by_room = {s.typing["room_id"]: s for s in streams(both_frames)}
    assert by_room[north["id"]].text == north_stream.text
    assert by_room[south["id"]].text == south_stream.text
    for stream in (north_stream, south_stream):
        assert stream.message is not None and stream.message["content"] == stream.text
    await asyncio.gather(a.silent(), c.silent(), d.silent())


async def test_three_quick_mentions_are_answered_one_after_another(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    provider.queue(
        slow_text("First ", "answer."), slow_text("Second ", "answer."), slow_text("Third.")
    )
    for question in ("@ai one?", "@ai two?", "@ai three?"):
        await say(a, room["id"], question)
    for sock in (a, b):
        frames = await read_frames(sock, ends=3)
        assert_one_at_a_time(frames)
        found = streams(frames)
        assert [s.text for s in found] == ["First answer.", "Second answer.", "Third."]
        assert all(s.error is None and s.message is not None for s in found)
    await a.silent()
    # Each later request already saw the answers stored before it.
    bodies = provider.bodies
    assert len(bodies) == 3
    assert [m["content"] for m in bodies[2]["messages"] if m["role"] == "assistant"] == [
        "First answer.",
        "Second answer.",
    ]
    stored = await room_messages(http, alice, room["id"])
    assert [m["content"] for m in stored] == [
        "@ai one?",
        "@ai two?",
        "@ai three?",
        "First answer.",
        "Second answer.",
        "Third.",
    ]


@pytest.mark.parametrize("ai_overrides", [{"ai_queue_limit": 1}])
async def test_a_full_queue_refuses_with_a_readable_error(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    gate = Gate()
    provider.queue(held_text("Thinking", gate, " done."), text_reply("Second answer."))
    await say(a, room["id"], "@ai first?")
    await gate.reached.wait()  # the first answer streams; the queue is empty again
    await say(a, room["id"], "@ai second?")  # waits in the queue (1 of 1)
    await say(b, room["id"], "@ai third?")  # over the limit
    frames = await read_until(a, "ai_stream_end")  # the refusal, while the first streams
    refused = frames[-1]
    assert refused["message"] is None and refused["error"] == QUEUE_FULL
    gate.open()
    found = streams(frames + await read_frames(a, ends=2))
    assert [(s.text, s.error) for s in found] == [
        ("Thinking done.", None),
        ("", QUEUE_FULL),
        ("Second answer.", None),
    ]
    frames_b = await read_frames(b, ends=3)
    assert [s.error for s in streams(frames_b)] == [None, QUEUE_FULL, None]
    assert len(provider.chat_requests) == 2
    await a.silent()


async def test_deltas_equal_the_stored_message_in_the_chain(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    b = await bob.socket(join=(room["id"],))
    pieces = ("**Bold** ", "and `code`", "\n\n- a list ", "\u00e9t\u00e9 \U0001f600", "  ")
    provider.queue(text_reply(*pieces))
    await say(a, room["id"], "@ai format something")
    seen = [await next_stream(sock) for sock in (a, b)]
    assert seen[0].text == seen[1].text == "".join(pieces)
    assert seen[0].end == seen[1].end
    stored = await room_messages(http, bob, room["id"])
    question, answer = stored
    assert answer == seen[0].message
    assert answer["content"] == "".join(pieces)
    assert answer["author_type"] == "ai" and answer["author"] is None
    assert "<strong>Bold</strong>" in answer["content_html"]
    assert answer["ai"]["model"] == VISION_MODEL and answer["ai"]["finish_reason"] == "stop"
    assert answer["prev_hash"] == question["hash"] == chain_hash(question)
    assert answer["hash"] == chain_hash(answer)
    rows = await stored_rows(server, room["id"])
    assert [r.author_type for r in rows] == ["user", "ai"]
    assert rows[1].author_id is None and rows[1].ai_meta["model"] == VISION_MODEL
    # A message after the answer links to it.
    resp = await http.post(
        f"/api/rooms/{room['id']}/messages", json={"content": "thanks"}, headers=bob.headers
    )
    assert resp.status_code == 201 and resp.json()["prev_hash"] == answer["hash"]


async def test_closing_the_coalescer_never_loses_a_delta() -> None:
    published: list[str] = []
    publishing = asyncio.Event()

    async def slow_publish(text: str) -> None:  # as a publish through Redis would be
        publishing.set()
        await asyncio.sleep(0.02)
        published.append(text)

    coalescer = ChunkCoalescer(slow_publish, window=0.005)
    coalescer.add("a")
    await publishing.wait()  # its timer is publishing "a" now
    coalescer.add("b")
    await coalescer.close()
    assert "".join(published) == "ab"


async def test_usage_and_cost_are_summed_over_tool_rounds(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    provider.queue(
        tool_call_reply(
            [("web_search", {"query": "weather"})], usage=usage_dict(100, 10, cost=0.001)
        ),
        text_reply("Sunny.", usage=usage_dict(250, 20, cost=0.0025), usage_style="choice"),
    )
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai weather?")
    stream = await next_stream(a)
    assert stream.message is not None
    meta = stream.message["ai"]
    assert (meta["prompt_tokens"], meta["completion_tokens"], meta["total_tokens"]) == (
        350,
        30,
        380,
    )
    assert meta["cost"] == pytest.approx(0.0035)
    assert meta["finish_reason"] == "stop" and meta["model"] == VISION_MODEL
    assert isinstance(meta["latency_ms"], int) and meta["latency_ms"] >= 0
    assert meta["tools"] == [{"name": "web_search", "input": {"query": "weather"}, "ok": True}]
    stored = await room_messages(http, alice, room["id"])
    assert stored[-1]["ai"] == meta


async def test_cost_is_null_when_the_provider_does_not_report_it(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    provider.queue(text_reply("Free answer.", usage=usage_dict(12, 3, cost=None)))
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    await say(a, room["id"], "@ai hi")
    stream = await next_stream(a)
    assert stream.message is not None
    meta = stream.message["ai"]
    assert (meta["total_tokens"], meta["cost"], meta["tools"]) == (15, None, [])


@pytest.mark.parametrize("ai_overrides", [{"ai_history_limit": 3}])
async def test_the_model_sees_the_prompt_and_recent_history(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, name="Book club", ai_system_prompt="Talk like a pirate.")
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(room["id"],))
    for who, text in ((alice, "one"), (bob, "two"), (alice, "three")):
        resp = await http.post(
            f"/api/rooms/{room['id']}/messages", json={"content": text}, headers=who.headers
        )
        assert resp.status_code == 201
    provider.queue(text_reply("Arr."))
    await say(a, room["id"], "@ai four")
    assert (await next_stream(a)).text == "Arr."
    assert provider.bodies[0]["messages"] == [
        {"role": "system", "content": "Talk like a pirate."},
        {"role": "user", "content": "Bob: two"},
        {"role": "user", "content": "Alice: three"},
        {"role": "user", "content": "Alice: @ai four"},
    ]
    provider.queue(text_reply("Arr again."))
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"ai_system_prompt": None}, headers=alice.headers
    )
    assert resp.status_code == 200
    await say(a, room["id"], "@ai five")
    assert (await next_stream(a)).text == "Arr again."
    second = provider.bodies[1]["messages"]
    assert "Book club" in second[0]["content"]  # the default prompt names the room
    assert second[1:] == [
        {"role": "user", "content": "Alice: @ai four"},
        {"role": "assistant", "content": "Arr."},
        {"role": "user", "content": "Alice: @ai five"},
    ]


async def upload_png(http: httpx.AsyncClient, actor: Actor, png: bytes) -> str:
    resp = await http.post(
        "/api/upload", files={"file": ("red.png", png, "image/png")}, headers=actor.headers
    )
    assert resp.status_code == 201, resp.text
    url: str = resp.json()["url"]
    return url


async def test_images_go_to_a_vision_model_as_data_urls(
    http: httpx.AsyncClient,
    server: Server,
    provider: GatedOpenRouter,
    alice: Actor,
    png_bytes: bytes,
) -> None:
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    url = await upload_png(http, alice, png_bytes)
    provider.queue(text_reply("A red rectangle."))
    await say(a, room["id"], "@ai what is this?", image_url=url)
    assert (await next_stream(a)).text == "A red rectangle."
    stored_file = Path(server.settings.upload_dir) / "chat-images" / url.rsplit("/", 1)[1]
    expected = "data:image/png;base64," + base64.b64encode(stored_file.read_bytes()).decode()
    assert last_user_text(provider.bodies[0]) == [
        {"type": "text", "text": "Alice: @ai what is this?"},
        {"type": "image_url", "image_url": {"url": expected}},
    ]
    served = await http.get(url)
    assert served.status_code == 200 and served.content == stored_file.read_bytes()


async def test_a_text_only_model_gets_no_image_and_no_tools(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, png_bytes: bytes
) -> None:
    room = await create_room(http, alice)
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"ai_model": TEXT_MODEL}, headers=alice.headers
    )
    assert resp.status_code == 200 and resp.json()["ai_model"] == TEXT_MODEL
    a = await alice.socket(join=(room["id"],))
    url = await upload_png(http, alice, png_bytes)
    provider.queue(text_reply("I cannot see images."))
    await say(a, room["id"], "@ai what is this?", image_url=url)
    stream = await next_stream(a)
    assert stream.typing["model"] == TEXT_MODEL
    assert stream.message is not None and stream.message["ai"]["model"] == TEXT_MODEL
    body = provider.bodies[0]
    assert body["model"] == TEXT_MODEL
    assert last_user_text(body) == "Alice: @ai what is this? [shared an image]"
    assert "image_url" not in str(body["messages"]) and "data:image" not in str(body)
    assert "tools" not in body and "tool_choice" not in body  # the model cannot call tools
