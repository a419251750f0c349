"""The event bus: actions publish after commit; every process's hub receives every event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """One frame and who receives it. Plain data, so a bus can carry it between processes."""

    frame: dict[str, Any]
    room_id: str | None = None  # every socket that joined this room
    user_ids: tuple[str, ...] = ()  # every socket of these users, joined or not
    exclude_user_id: str | None = None  # typing: never echoed to the typist
    sender_id: str | None = None  # whose sockets get `sender_extra` merged in
    sender_extra: dict[str, Any] = field(default_factory=dict)  # e.g. client_id
    unjoin_user_ids: tuple[str, ...] = ()  # after delivery, these users' sockets leave the room
    unjoin_all: bool = False  # after delivery, every socket leaves the room (deleted)
    close_jti: str | None = None  # close the sockets signed in with this token (logout)
    close_user_id: str | None = None  # close this user's sockets (disabled, logout-all) …
    keep_jti: str | None = None  # … but those signed in with this token (password change)
    control: dict[str, Any] | None = None  # for every process's AI participant, not for sockets
    # (prev_hash, hash) of the chain entry this frame announces: edits and deletions set it so
    # realtime/ordering.py keeps live order across processes (a new_message's is in its frame)
    chain: tuple[str | None, str] | None = None


Handler = Callable[[Event], None]


class Bus(Protocol):
    """Publish/subscribe for events; `memory://` now, a Redis bus for several processes."""

    def subscribe(self, handler: Handler) -> None: ...

    async def publish(self, event: Event) -> None: ...

    async def publish_many(self, events: list[Event]) -> None:
        """Publish these in order (one round trip to Redis)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def before_join(self, room_id: str) -> None:
        """A socket of this process is about to join the room (realtime/ordering.py)."""


class MemoryBus:
    """Delivers events to this process's subscribers only."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        """Hand the event to every subscriber now."""
        for handler in self._handlers:
            handler(event)

    async def publish_many(self, events: list[Event]) -> None:
        for event in events:
            await self.publish(event)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._handlers.clear()

    async def before_join(self, room_id: str) -> None:
        return None
