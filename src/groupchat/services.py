"""What actions need from the running app, assembled once by app.create_app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from groupchat.config import Settings
from groupchat.db.engine import Database
from groupchat.realtime.bus import Bus, Event
from groupchat.realtime.hub import Hub
from groupchat.schemas import Message, Room
from groupchat.security import Passwords, Tokens
from groupchat.upload_limits import UploadLimits


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

    @property
    def upload_dir(self) -> Path:
        return self.settings.upload_dir

    async def publish(self, event: Event) -> None:
        await self.bus.publish(event)
