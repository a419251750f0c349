"""Frames of an AI answer, and the coalescer that keeps fast models from flooding sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from groupchat.schemas import Message

Frame = dict[str, Any]


def ai_typing(room_id: str, stream_id: str, model: str) -> Frame:
    return {"type": "ai_typing", "room_id": room_id, "stream_id": stream_id, "model": model}


def ai_stream_chunk(room_id: str, stream_id: str, delta: str) -> Frame:
    return {"type": "ai_stream_chunk", "room_id": room_id, "stream_id": stream_id, "delta": delta}


def ai_tool_use(room_id: str, stream_id: str, tool: str, status: str, input_: Any) -> Frame:
    return {
        "type": "ai_tool_use",
        "room_id": room_id,
        "stream_id": stream_id,
        "tool": tool,
        "status": status,
        "input": input_,
    }


def ai_stream_end(
    room_id: str, stream_id: str, message: Message | None, error: str | None
) -> Frame:
    frame: Frame = {
        "type": "ai_stream_end",
        "room_id": room_id,
        "stream_id": stream_id,
        "message": message.model_dump(mode="json") if message else None,
    }
    if error is not None:
        frame["error"] = error
    return frame


class ChunkCoalescer:
    """Collects deltas and publishes them at most once per `window` seconds, in order."""

    def __init__(self, publish: Callable[[str], Awaitable[None]], window: float = 0.03) -> None:
        self._publish = publish
        self._window = window
        self._pending: list[str] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    def add(self, text: str) -> None:
        self._pending.append(text)
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._window)
        # close() cancels this timer: a publish already under way must not lose its text.
        await asyncio.shield(self.flush())

    async def flush(self) -> None:
        """Publish everything pending now (before a tool event, and at the end)."""
        async with self._lock:
            if self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                await self._publish(text)

    async def close(self, *, drop: bool = False) -> None:
        """Stop the timer; publish what is left unless `drop`."""
        if drop:
            self._pending.clear()
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        await self.flush()
