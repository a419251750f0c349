"""A bus over Redis pub/sub, so every process's hub sees every event (REDIS_URL)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic_core import to_json
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from groupchat.realtime.bus import Event, Handler, MemoryBus

log = logging.getLogger(__name__)
CHANNEL = "groupchat:events"
RETRY_SECONDS = 0.1  # the first reconnect; doubles up to MAX_RETRY_SECONDS
MAX_RETRY_SECONDS = 2.0
PUBLISH_TIMEOUT = 2.0  # seconds: a publish that takes longer counts as Redis being down
# Published on every (re)subscription: what this process stored before it died, or while it
# was cut off from Redis, may never have reached the others; they fill their rooms from the
# database (realtime/ordering.py).
JOINED = {"type": "bus_joined"}


def encode_event(event: Event) -> bytes:
    return to_json(dataclasses.asdict(event))  # events.frame_bytes' serializer


def decode_event(data: str | bytes) -> Event:
    fields: dict[str, Any] = json.loads(data)
    for name in ("user_ids", "unjoin_user_ids"):
        fields[name] = tuple(fields.get(name, ()))
    if fields.get("chain") is not None:
        fields["chain"] = tuple(fields["chain"])
    return Event(**fields)


class RedisBus:
    """Publishes to one Redis channel and delivers what arrives on it to local handlers."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self._redis: Redis = Redis.from_url(url, socket_connect_timeout=PUBLISH_TIMEOUT)
        self._channel = channel
        self._handlers: list[Handler] = []
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.down = False  # an outage began and the subscription is not back yet
        self.on_resync: Callable[[], None] | None = None  # called when Redis is back
        # before a socket joins a room: where its live stream starts (realtime/ordering.py)
        self.join_hook: Callable[[str], Awaitable[None]] | None = None
        self._announce: asyncio.Task[None] | None = None

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: Event) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: list[Event]) -> None:
        """Send these in order in one round trip (a pipeline): one awaited round trip per event
        let a busy process publish its posts seconds after their commit (each event loop turn
        was one round trip), and the other processes' frames then waited for them
        (realtime/ordering.py). Never raises nor blocks long: when Redis cannot take them, this
        process's own sockets still get them (the other processes' fill in from the database,
        or resync once Redis is back)."""
        sent: list[Event] = []
        pipe = self._redis.pipeline(transaction=False)
        for event in events:
            try:
                pipe.publish(self._channel, encode_event(event))
                sent.append(event)
            except (TypeError, ValueError):
                log.exception("cannot publish a %s event", event.frame.get("type"))
        try:
            await asyncio.wait_for(pipe.execute(), PUBLISH_TIMEOUT)
        except (OSError, TimeoutError, RedisError) as exc:
            if not self.down:  # resubscribe: once subscribed again, every socket here resyncs
                self._went_down(exc)
                self._restart_listener()
            for event in sent:
                self._deliver(event)

    def _restart_listener(self) -> None:
        """Drop the subscription (it may not have noticed the outage yet) and subscribe anew."""
        if self._listener is not None:
            self._listener.cancel()
        self._listener = asyncio.create_task(self._listen())

    async def start(self) -> None:
        """Subscribe before returning, so no event published after start is missed."""
        self._listener = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def before_join(self, room_id: str) -> None:
        if self.join_hook is not None:
            await self.join_hook(room_id)

    async def ping(self) -> None:
        """Raise unless Redis answers and this process is subscribed (readyz)."""
        if self.down:
            raise ConnectionError("the redis bus is reconnecting")
        await asyncio.wait_for(self._redis.ping(), PUBLISH_TIMEOUT)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()
        self._handlers.clear()

    async def _listen(self) -> None:
        delay = RETRY_SECONDS
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    delay = RETRY_SECONDS
                    self._announce = asyncio.create_task(
                        self.publish(Event(frame={}, control=dict(JOINED)))
                    )
                    if self.down:
                        self._came_back()
                    await self._deliver_from(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: keep trying; sockets resync later
                self._went_down(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _went_down(self, exc: BaseException) -> None:
        if not self.down:
            log.warning("redis bus down (%s): serving this process's sockets only", exc)
        self.down = True

    def _came_back(self) -> None:
        log.warning("redis bus back: sockets resync")
        self.down = False
        if self.on_resync is not None:
            self.on_resync()

    async def _deliver_from(self, pubsub: PubSub) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                event = decode_event(message["data"])
            except (ValueError, TypeError):
                log.warning("redis bus: ignoring a malformed event")
                continue
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for handler in self._handlers:
            try:
                handler(event)
            except Exception:  # one handler's bug must not stop the bus
                log.exception("handling a %s event failed", event.frame.get("type"))


def make_bus(redis_url: str | None) -> MemoryBus | RedisBus:
    """The bus the settings ask for: Redis when REDIS_URL is set, else in-memory."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
