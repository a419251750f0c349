"""The AI as a room member: decides when to answer, one answer per room at a time, in order.

The questions wait in the database (store/ai_queue.py), so every process shares one queue per
room: a process claims a room's oldest question with a lease (AI_LEASE_SECONDS) and renews it
while it answers; the answer and the question's removal commit together (exactly once). When
the process dies the lease runs out and another process's sweep takes the question over; on
shutdown it hands its question back at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.actions.messages import post_system_message
from groupchat.ai import stream
from groupchat.ai.answer import Answer
from groupchat.ai.client import ProviderClient
from groupchat.ai.context import addresses_ai, should_answer
from groupchat.ai.models import ModelCatalog
from groupchat.ai.tools import ToolBox
from groupchat.ids import new_id
from groupchat.realtime.bus import Event
from groupchat.schemas import Message, Room
from groupchat.services import Services
from groupchat.store import ai_queue
from groupchat.store.ai_queue import Trigger

log = logging.getLogger(__name__)
NOT_CONFIGURED = "The AI is not configured on this server (OPENROUTER_API_KEY is not set)."
STOPPED = "The answer was stopped."
ROOM_GONE = {"room_cleared": "The room was cleared.", "room_deleted": "The room was deleted."}
QUEUE_FULL = "Too many questions are waiting for the AI in this room; ask again in a moment."
SHUTTING_DOWN = "The server is restarting; another server answers."
HALT_SECONDS = 10.0  # a clear or delete that never announces itself stops halting its room


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
        self.owner = new_id()  # this process, as the holder of claims
        self.lease = svc.settings.ai_lease_seconds
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._current: dict[str, Answer] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
        # rooms being cleared or deleted here: nothing is claimed there until the bus says done
        self._halted: set[str] = set()

    def start(self) -> None:
        """Answer what waits from before (a restart, a crashed process), and keep looking."""
        if self.client is not None:
            self._sweeper = asyncio.create_task(self._sweep())

    def on_message(self, room: Room, message: Message) -> None:
        """Queue an answer if this message calls for one (called after it was broadcast)."""
        name = self.svc.settings.ai_name
        if not should_answer(room, message, name):
            return
        if self.client is None:
            if addresses_ai(message, name):
                self.spawn(post_system_message(self.svc, room, NOT_CONFIGURED))
            return
        self.spawn(self._enqueue(room, message))

    async def _enqueue(self, room: Room, message: Message) -> None:
        """Store the question; claim it at once when nobody answers in the room (so the
        process that took the question answers it unless another one is busy there)."""
        author = message.author.id if message.author else None
        limit = self.svc.settings.ai_queue_limit
        claimed = None
        halted = room.id in self._halted
        async with self.svc.db.write() as conn:
            added = await ai_queue.add(conn, room.id, message.id, author, message.created_at, limit)
            if added and room.id not in self._workers and not self._stopping and not halted:
                claimed = await ai_queue.claim(conn, room.id, self.owner, time.time(), self.lease)
        if not added:
            await self._refuse(room)
        elif claimed is not None:
            self._workers[room.id] = asyncio.create_task(self._work(room.id, claimed))

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
        if control.get("type") == "ai_wake" and self.client is not None:  # a question handed back
            self._wake(str(control.get("room_id")))
            return
        reason = ROOM_GONE.get(str(event.frame.get("type")))
        room_id = event.frame.get("room_id")
        if reason is not None and isinstance(room_id, str) and room_id in self._halted:
            self._halted.discard(room_id)
            if self.client is not None:  # a question asked since the clear waits for us
                self.spawn(self._wake_later(room_id))
        if reason is not None and isinstance(room_id, str) and room_id in self._workers:
            self.spawn(self._stop_here(room_id, reason))

    async def stop_room(self, room_id: str, reason: str) -> None:
        """Drop the room's questions and its answer without storing anything; '*': this
        process shuts down and hands its questions back to the others."""
        if room_id == "*":
            await self._shut_down(reason)
            return
        self._halted.add(room_id)  # until room_cleared/room_deleted comes back over the bus
        asyncio.get_running_loop().call_later(HALT_SECONDS, self._halted.discard, room_id)
        async with self.svc.db.write() as conn:
            await ai_queue.drop_room(conn, room_id)
        await self._stop_here(room_id, reason)

    async def _stop_here(self, room_id: str, reason: str) -> None:
        answer = self._current.get(room_id)
        if answer is not None:
            answer.stop(reason, discard=True)
        worker = self._workers.get(room_id)
        if worker is not None:
            await asyncio.wait({worker}, timeout=10)

    async def _shut_down(self, reason: str) -> None:
        """Stop answering; each question being answered goes back to the queue, and the other
        processes are told to take it at once (the stream here ends with SHUTTING_DOWN)."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        rooms = list(self._current)
        for answer in list(self._current.values()):
            answer.stop(SHUTTING_DOWN, discard=True)
        if self._workers:
            await asyncio.wait(set(self._workers.values()), timeout=10)
        for room_id in rooms:
            wake = {"type": "ai_wake", "room_id": room_id}
            await self.svc.publish(Event(frame={}, control=wake))
        if self._background:  # let ledger rows be written
            await asyncio.wait(set(self._background), timeout=10)

    async def _wake_later(self, room_id: str) -> None:
        """After the stop that halted the room has ended (its worker too)."""
        worker = self._workers.get(room_id)
        if worker is not None:
            await asyncio.wait({worker}, timeout=10)
        self._wake(room_id)

    def _wake(self, room_id: str) -> None:
        if room_id not in self._workers and not self._stopping and room_id not in self._halted:
            self._workers[room_id] = asyncio.create_task(self._work(room_id, None))

    async def _sweep(self) -> None:
        """Every lease period: rooms with questions nobody answers (their holder died)."""
        while True:
            try:
                async with self.svc.db.read() as conn:
                    rooms = await ai_queue.claimable_rooms(conn, time.time())
                for room_id in rooms:
                    self._wake(room_id)
            except Exception:  # the database is down: try again next period
                log.exception("looking for waiting AI questions failed")
            await asyncio.sleep(self.lease)

    async def _work(self, room_id: str, trigger: Trigger | None) -> None:
        """Answer the room's questions one by one while this process can claim them."""
        try:
            while not self._stopping and room_id not in self._halted:
                if trigger is None:
                    async with self.svc.db.write() as conn:
                        trigger = await ai_queue.claim(
                            conn, room_id, self.owner, time.time(), self.lease
                        )
                if trigger is None:
                    return
                await self._answer(trigger)
                trigger = None
        except Exception:
            log.exception("AI worker for room %s failed", room_id)
        finally:
            self._current.pop(room_id, None)
            self._workers.pop(room_id, None)

    async def _answer(self, trigger: Trigger) -> None:
        """Run one answer while renewing the claim; then remove the question (or hand it back)."""
        answer = Answer(self, trigger.room_id)
        answer.user_id = trigger.user_id

        async def still_ours(conn: AsyncConnection) -> bool:
            return await ai_queue.finish(conn, trigger.id, self.owner)

        answer.claim = still_ours
        self._current[trigger.room_id] = answer
        renewer = asyncio.create_task(self._renew(trigger, answer))
        answer.task = asyncio.create_task(answer.run())
        try:
            await asyncio.wait({answer.task})
        finally:
            renewer.cancel()
            self._current.pop(trigger.room_id, None)
        async with self.svc.db.write() as conn:
            if self._stopping:
                await ai_queue.hand_back(conn, trigger.id, self.owner)
            else:  # no answer stored (refused, failed, empty): the question is done anyway
                await ai_queue.finish(conn, trigger.id, self.owner)

    async def _renew(self, trigger: Trigger, answer: Answer) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                async with self.svc.db.write() as conn:
                    ours = await ai_queue.renew(
                        conn, trigger.id, self.owner, time.time() + self.lease
                    )
            except Exception:  # keep answering; the store step checks the claim again
                log.exception("renewing the AI claim in room %s failed", trigger.room_id)
                continue
            if not ours:  # cleared, or taken over: another answer will count
                answer.stop(STOPPED, discard=True)
                return

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
