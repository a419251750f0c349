"""Shared parts of the AI room tests: the server wired to fake OpenRouter/Tavily/pages over real
HTTP, a fake OpenRouter whose replies can wait at a Gate, and readers for AI streams.

Test modules take the fixtures with `from ai_fixtures import *` (only the names in `__all__`)
and change the server's settings per test with
`@pytest.mark.parametrize("ai_overrides", [{"ai_queue_limit": 1}])`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from conftest import TEST_DATABASE_URL, Actor, Server, Socket, make_settings, reset_postgres
from fakes.openrouter import (
    DEFAULT_KEY,
    VISION_MODEL,
    Data,
    FakeOpenRouter,
    Sleep,
    StreamReply,
    chunk,
    play,
    usage_dict,
    usage_step,
)
from fakes.pages import FakePages
from fakes.server import Request, Response
from fakes.tavily import DEFAULT_KEY as TAVILY_KEY
from fakes.tavily import FakeTavily
from groupchat.config import Settings
from groupchat.db import tables

__all__ = ["ai_overrides", "pages", "provider", "settings", "tavily"]

Frame = dict[str, Any]
AI_FRAMES = ("ai_typing", "ai_stream_chunk", "ai_tool_use", "ai_stream_end")


# ------------------------------------------------------------------ a fake that can hold a reply
class Gate:
    """A step of a held reply: the fake stops there until the test opens the gate."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._open = asyncio.Event()

    def open(self) -> None:
        self._open.set()

    async def wait(self) -> None:
        self.reached.set()
        await self._open.wait()


@dataclass
class HeldReply:
    """A streamed reply whose steps may include Gates (Data, Comment, Raw, Sleep, Drop too)."""

    steps: list[Any]
    done: bool = True


def held_text(before: str, gate: Gate, after: str = "", *, usage: Frame | None = None) -> HeldReply:
    """Text `before` the gate, then (once it opens) `after`, the finish chunk and usage."""
    steps: list[Any] = [Data(chunk({"content": before}))] if before else []
    steps.append(gate)
    if after:
        steps.append(Data(chunk({"content": after})))
    steps += [Data(chunk({"content": ""}, "stop")), usage_step(usage or usage_dict())]
    return HeldReply(steps)


class GatedOpenRouter(FakeOpenRouter):
    """FakeOpenRouter that also plays HeldReply (queued like any reply)."""

    async def handle(self, request: Request, response: Response) -> None:
        head = self.replies[0] if self.replies else None
        if request.path == "/api/v1/chat/completions" and isinstance(head, HeldReply):
            self.replies.popleft()
            self.responses.append(response)
            self.chat_requests.append(request)
            await _play_held(head, response)
            return
        await super().handle(request, response)

    async def wait_for_requests(self, count: int, timeout: float = 5) -> None:
        """Return once `count` chat requests arrived (a condition, not a timing guess)."""
        async with asyncio.timeout(timeout):
            while len(self.chat_requests) < count:
                await asyncio.sleep(0.01)


async def _play_held(reply: HeldReply, response: Response) -> None:
    await play(StreamReply(reply.steps, done=reply.done), response)  # play awaits Gate steps


def slow_text(*pieces: str, pause: float = 0.05) -> StreamReply:
    """Text deltas with a short pause before each (so streams of two rooms overlap)."""
    steps: list[Any] = []
    for piece in pieces:
        steps += [Sleep(pause), Data(chunk({"content": piece}))]
    steps += [Data(chunk({"content": ""}, "stop")), usage_step(usage_dict())]
    return StreamReply(steps)


# ------------------------------------------------------------------ fixtures
@pytest.fixture
def ai_overrides() -> dict[str, Any]:
    """Settings for this test's server on top of the AI defaults below (parametrize to change)."""
    return {}


@pytest.fixture
async def provider() -> AsyncIterator[GatedOpenRouter]:
    async with GatedOpenRouter() as fake:
        yield fake


@pytest.fixture
async def tavily() -> AsyncIterator[FakeTavily]:
    async with FakeTavily() as fake:
        yield fake


@pytest.fixture
async def pages() -> AsyncIterator[FakePages]:
    async with FakePages() as fake:
        yield fake


@pytest.fixture
async def settings(
    tmp_path: Path, provider: GatedOpenRouter, tavily: FakeTavily, ai_overrides: dict[str, Any]
) -> Settings:
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    values: dict[str, Any] = {
        "openrouter_api_key": DEFAULT_KEY,
        "openrouter_base_url": provider.base_url,
        "ai_default_model": VISION_MODEL,
        "search_provider": "tavily",
        "tavily_api_key": TAVILY_KEY,
        "tavily_base_url": tavily.base_url,
    }
    return make_settings(tmp_path, **{**values, **ai_overrides})


# ------------------------------------------------------------------ talking and reading
async def say(sock: Socket, room_id: str, content: str, **extra: Any) -> None:
    """Send a chat message over the socket."""
    await sock.send({"type": "send_message", "room_id": room_id, "content": content, **extra})


@dataclass
class Stream:
    """The frames of one AI answer as one socket saw them."""

    typing: Frame
    deltas: list[str] = field(default_factory=list)
    tools: list[Frame] = field(default_factory=list)
    end: Frame | None = None

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    @property
    def message(self) -> Frame | None:
        assert self.end is not None
        message: Frame | None = self.end["message"]
        return message

    @property
    def error(self) -> str | None:
        assert self.end is not None
        error: str | None = self.end.get("error")
        return error


async def read_frames(sock: Socket, ends: int = 1, timeout: float = 10) -> list[Frame]:
    """Every frame up to and including the `ends`-th ai_stream_end."""
    frames: list[Frame] = []
    seen = 0
    while seen < ends:
        frame = await sock.recv(timeout)
        frames.append(frame)
        seen += frame["type"] == "ai_stream_end"
    return frames


async def read_until(sock: Socket, type_: str, timeout: float = 10) -> list[Frame]:
    """Every frame up to and including the next one of this type."""
    frames = [await sock.recv(timeout)]
    while frames[-1]["type"] != type_:
        frames.append(await sock.recv(timeout))
    return frames


def streams(frames: list[Frame]) -> list[Stream]:
    """Group AI frames by stream, in the order the streams started; checks each is well formed."""
    by_id: dict[str, Stream] = {}
    for frame in frames:
        if frame["type"] not in AI_FRAMES:
            continue
        sid = frame["stream_id"]
        if frame["type"] == "ai_typing":
            assert sid not in by_id, f"second ai_typing for {sid}"
            by_id[sid] = Stream(frame)
            continue
        stream = by_id[sid]  # KeyError: a frame of a stream that never started
        assert stream.end is None, f"{frame['type']} after ai_stream_end"
        assert frame["room_id"] == stream.typing["room_id"]
        if frame["type"] == "ai_stream_chunk":
            stream.deltas.append(frame["delta"])
        elif frame["type"] == "ai_tool_use":
            stream.tools.append(frame)
        else:
            stream.end = frame
    return list(by_id.values())


async def next_stream(sock: Socket, timeout: float = 10) -> Stream:
    """Read up to the next ai_stream_end; exactly one stream must have started and ended."""
    found = streams(await read_frames(sock, 1, timeout))
    assert len(found) == 1 and found[0].end is not None, found
    return found[0]


def assert_one_at_a_time(frames: list[Frame]) -> None:
    """Never two ai_typing in a room without the first stream's ai_stream_end between."""
    open_streams: dict[str, str] = {}
    for frame in frames:
        room = frame.get("room_id")
        if frame["type"] == "ai_typing":
            assert room not in open_streams, f"two streams at once in {room}: {frame}"
            open_streams[room] = frame["stream_id"]
        elif frame["type"] == "ai_stream_end":
            assert open_streams.pop(room) == frame["stream_id"]


async def room_messages(http: httpx.AsyncClient, actor: Actor, room_id: str) -> list[Frame]:
    """GET the room's newest messages (oldest first), as `actor`."""
    resp = await http.get(f"/api/rooms/{room_id}/messages", headers=actor.headers)
    assert resp.status_code == 200, resp.text
    messages: list[Frame] = resp.json()["messages"]
    return messages


async def stored_rows(server: Server, room_id: str) -> list[Any]:
    """The room's message rows straight from the database, in id order."""
    query = (
        sa.select(tables.messages)
        .where(tables.messages.c.room_id == room_id)
        .order_by(tables.messages.c.id)
    )
    async with server.services.db.read() as conn:
        return list((await conn.execute(query)).all())


def chain_hash(message: Frame) -> str:
    """A message's hash recomputed as docs/hash-chain.md says (independent of our code):
    v2 for an unedited message stored since chain v2, v1 before."""
    author = message["author"]
    if message["chain_v"] == 2:
        reply = message["reply_to"]
        salted = (message["salt"] + message["content"]).encode("utf-8")
        entry = {
            "v": 2,
            "id": message["id"],
            "room_id": message["room_id"],
            "kind": "message",
            "author_type": message["author_type"],
            "author_id": author["id"] if author is not None else None,
            "target_id": None,
            "reply_to": reply["id"] if reply is not None else None,
            "image_url": message["image_url"],
            "content_sha256": hashlib.sha256(salted).hexdigest(),
            "created_at": message["created_at"],
            "prev_hash": message["prev_hash"],
        }
        text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    fields = {
        "v": 1,
        "id": message["id"],
        "room_id": message["room_id"],
        "author_type": message["author_type"],
        "author_id": author["id"] if author is not None else None,
        "content": message["content"],
        "image_url": message["image_url"],
        "created_at": message["created_at"],
        "prev_hash": message["prev_hash"],
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def last_user_text(body: Frame) -> Any:
    """The content of the last user turn of a recorded chat request."""
    users = [m for m in body["messages"] if m["role"] == "user"]
    return users[-1]["content"]
