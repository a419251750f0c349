"""What actions need from the running app, assembled once by app.create_app."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from groupchat.config import Settings
from groupchat.db.engine import Database
from groupchat.db.point_reads import PointReader, make_point_reader
from groupchat.metrics import Metrics
from groupchat.ratelimit import Buckets
from groupchat.realtime.bus import Bus, Event, MemoryBus
from groupchat.realtime.hub import Hub
from groupchat.schemas import Message, Room
from groupchat.security import Passwords, Tokens
from groupchat.store.post_writer import PostWriter, make_post_writer
from groupchat.upload_limits import UploadLimits

log = logging.getLogger(__name__)


class AiHooks(Protocol):
    """How actions wake the AI participant (see ai/participant.py)."""

    def on_message(self, room: Room, message: Message) -> None: ...

    def cancel(self, room_id: str, reason: str) -> bool: ...

    async def stop_room(self, room_id: str, reason: str) -> None: ...

    def on_event(self, event: Event) -> None: ...


class NoAi:
    """The AI participant when it is not wired in: it never answers."""

    def on_message(self, room: Room, message: Message) -> None:
        return None

    def cancel(self, room_id: str, reason: str) -> bool:
        return False

    async def stop_room(self, room_id: str, reason: str) -> None:
        return None

    def on_event(self, event: Event) -> None:
        return None


@dataclass
class Services:
    """The app's long-lived parts; route handlers and actions receive this."""

    settings: Settings
    db: Database
    bus: Bus
    hub: Hub
    passwords: Passwords
    tokens: Tokens
    http: httpx.AsyncClient
    ai: AiHooks
    upload_limits: UploadLimits = field(default_factory=UploadLimits)
    metrics: Metrics = field(default_factory=Metrics)  # this app's own registry
    posts: PostWriter = field(init=False)  # started and stopped by the app's lifespan
    reads: PointReader | None = field(init=False)  # one-statement reads (db/point_reads.py)
    posting: Buckets | None = field(init=False)  # per-user posting budget (API.md "Posting rate")
    _outbox: deque[Event] = field(default_factory=deque, init=False, repr=False)
    _drainer: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.posts = make_post_writer(self.settings, self.db)
        self.reads = make_point_reader(self.settings, self.db)
        rate, burst = self.settings.ws_messages_per_second, self.settings.ws_message_burst
        self.posting = Buckets(rate, burst) if rate > 0 and burst > 0 else None

    @property
    def upload_dir(self) -> Path:
        return self.settings.upload_dir

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event)

    def publish_soon(self, event: Event) -> None:
        """Publish from synchronous code; events go out in call order, what waits together.
        One process (the memory bus): delivered now, a turn of the event loop sooner (the
        hub still writes what one turn delivered together)."""
        if isinstance(self.bus, MemoryBus):  # nothing waits in the outbox then
            self.bus.deliver(event)
            return
        self._outbox.append(event)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def flush_published(self) -> None:
        """Wait until every publish_soon event has been handed to the bus."""
        if self._drainer is not None:
            await self._drainer

    async def _drain(self) -> None:
        while self._outbox:  # one round trip for all that waits (a batch's posts, say)
            events = list(self._outbox)
            self._outbox.clear()
            try:
                await self.bus.publish_many(events)
            except Exception:
                log.exception("publishing %d events failed", len(events))
            self.hub.flush()  # this process's sockets get the batch now, one write each
