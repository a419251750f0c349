"""The AI as a room member: decides when to answer, one answer per room at a time, in order."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any

from groupchat.actions.messages import post_system_message
from groupchat.ai import stream
from groupchat.ai.answer import Answer
from groupchat.ai.client import ProviderClient
from groupchat.ai.context import mentions_ai, should_answer
from groupchat.ai.models import ModelCatalog
from groupchat.ai.tools import ToolBox
from groupchat.ids import new_id
from groupchat.realtime.bus import Event
from groupchat.schemas import Message, Room
from groupchat.services import Services

log = logging.getLogger(__name__)
NOT_CONFIGURED = "The AI is not configured on this server (OPENROUTER_API_KEY is not set)."
STOPPED = "The answer was stopped."
ROOM_GONE = {"room_cleared": "The room was cleared.", "room_deleted": "The room was deleted."}
QUEUE_FULL = "Too many questions are waiting for the AI in this room; ask again in a moment."


class Participant:
    """Implements services.AiHooks. Without a provider client it only explains that."""

    def __init__(
        self,
        svc: Services,
        client: ProviderClient | None,
        catalog: ModelCatalog | None,
        toolbox: ToolBox | None,
    ) -> None:
        self.svc = svc
        self.client = client
        self.catalog = catalog
        self.toolbox = toolbox
        self.default_model = svc.settings.ai_default_model
        self._queues: dict[str, deque[Message]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._current: dict[str, Answer] = {}
        self._background: set[asyncio.Task[Any]] = set()

    def on_message(self, room: Room, message: Message) -> None:
        """Queue an answer if this message calls for one (called after it was broadcast)."""
        name = self.svc.settings.ai_name
        if not should_answer(room, message, name):
            return
        if self.client is None:
            if mentions_ai(message.content, name):
                self.spawn(post_system_message(self.svc, room, NOT_CONFIGURED))
            return
        queue = self._queues.setdefault(room.id, deque())
        if len(queue) >= self.svc.settings.ai_queue_limit:
            self.spawn(self._refuse(room))
            return
        queue.append(message)
        if room.id not in self._workers:
            self._workers[room.id] = asyncio.create_task(self._work(room.id))

    def cancel(self, room_id: str, reason: str) -> bool:
        """Stop the answer streaming in this room now; its partial text is kept."""
        answer = self._current.get(room_id)
        if answer is None:
            return False
        answer.stop(reason, discard=False)
        return True

    def on_event(self, event: Event) -> None:
        """Bus events from every process: cancel requests, and clears/deletes of rooms whose
        answer streams here (the process that cleared may not be the one streaming)."""
        control = event.control or {}
        if control.get("type") == "cancel_ai":
            self.cancel(str(control.get("room_id")), str(control.get("reason") or STOPPED))
            return
        reason = ROOM_GONE.get(str(event.frame.get("type")))
        room_id = event.frame.get("room_id")
        if reason is not None and isinstance(room_id, str) and room_id in self._workers:
            self.spawn(self.stop_room(room_id, reason))

    async def stop_room(self, room_id: str, reason: str) -> None:
        """Drop the queue and the current answer without storing anything ('*': every room)."""
        room_ids = list(self._workers) if room_id == "*" else [room_id]
        for rid in room_ids:
            self._queues.pop(rid, None)
            answer = self._current.get(rid)
            if answer is not None:
                answer.stop(reason, discard=True)
            worker = self._workers.get(rid)
            if worker is not None:
                await asyncio.wait({worker}, timeout=10)
        if room_id == "*" and self._background:  # shutting down: let ledger rows be written
            await asyncio.wait(set(self._background), timeout=10)

    async def _work(self, room_id: str) -> None:
        try:
            queue = self._queues.get(room_id)
            while queue:
                trigger = queue.popleft()
                answer = Answer(self, room_id, trigger)
                self._current[room_id] = answer
                answer.task = asyncio.create_task(answer.run())
                await asyncio.wait({answer.task})
                self._current.pop(room_id, None)
                queue = self._queues.get(room_id)
        except Exception:
            log.exception("AI worker for room %s failed", room_id)
        finally:
            self._current.pop(room_id, None)
            self._workers.pop(room_id, None)
            if not self._queues.get(room_id):
                self._queues.pop(room_id, None)

    async def _refuse(self, room: Room) -> None:
        stream_id = new_id()
        model = room.ai_model or self.default_model
        for frame in (
            stream.ai_typing(room.id, stream_id, model),
            stream.ai_stream_end(room.id, stream_id, None, QUEUE_FULL),
        ):
            await self.svc.publish(Event(frame=frame, room_id=room.id))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run `coro` in the background, holding a reference until it ends."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
