"""A bus over Redis pub/sub, so every process's hub sees every event (REDIS_URL)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from groupchat.realtime.bus import Event, Handler, MemoryBus

log = logging.getLogger(__name__)
CHANNEL = "groupchat:events"
RETRY_SECONDS = 1.0


def encode_event(event: Event) -> str:
    return json.dumps(dataclasses.asdict(event), separators=(",", ":"), ensure_ascii=False)


def decode_event(data: str | bytes) -> Event:
    fields: dict[str, Any] = json.loads(data)
    for name in ("user_ids", "unjoin_user_ids"):
        fields[name] = tuple(fields.get(name, ()))
    return Event(**fields)


class RedisBus:
    """Publishes to one Redis channel and delivers what arrives on it to local handlers."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self._redis: Redis = Redis.from_url(url)
        self._channel = channel
        self._handlers: list[Handler] = []
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: Event) -> None:
        await self._redis.publish(self._channel, encode_event(event))

    async def start(self) -> None:
        """Subscribe before returning, so no event published after start is missed."""
        self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()
        self._handlers.clear()

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    await self._deliver_from(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: keep trying; sockets catch up later
                log.warning("redis bus: %s; reconnecting", exc)
                await asyncio.sleep(RETRY_SECONDS)

    async def _deliver_from(self, pubsub: PubSub) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                event = decode_event(message["data"])
            except (ValueError, TypeError):
                log.warning("redis bus: ignoring a malformed event")
                continue
            for handler in self._handlers:
                handler(event)


def make_bus(redis_url: str | None) -> MemoryBus | RedisBus:
    """The bus the settings ask for: Redis when REDIS_URL is set, else in-memory."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
