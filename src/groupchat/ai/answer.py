"""One AI answer: context, provider rounds with tools, streaming to the room, storing the result."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.actions.messages import append_message
from groupchat.ai import spending, stream
from groupchat.ai.client import Finish, ProviderError, TextDelta, ToolCall, Usage
from groupchat.ai.context import build_messages, system_prompt
from groupchat.ai.models import ModelInfo
from groupchat.ids import new_id
from groupchat.realtime.bus import Event
from groupchat.schemas import AiMeta, Message, Room, ToolUse
from groupchat.store import messages as message_store
from groupchat.store import rooms as room_store

if TYPE_CHECKING:
    from groupchat.ai.participant import Participant

log = logging.getLogger(__name__)


@dataclass
class Totals:
    """Usage summed over every round of one answer."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost: float | None = None
    tools: list[ToolUse] = field(default_factory=list)

    def add(self, usage: Usage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.total_tokens += usage.total_tokens
        if usage.cost is not None:
            self.cost = (self.cost or 0.0) + usage.cost


class Answer:
    """Streams one answer to a room; `stop()` cancels it (keeping or discarding partial text)."""

    def __init__(self, ai: Participant, room_id: str, trigger: Message | None = None) -> None:
        self.ai = ai
        self.svc = ai.svc
        self.room_id = room_id
        # whose message asked for this answer: their limits apply, the ledger names them
        self.user_id = trigger.author.id if trigger and trigger.author else None
        self.room: Room | None = None
        self.info: ModelInfo | None = None
        self.provider_calls = 0
        self.stream_id = new_id()
        self.parts: list[str] = []
        self.totals = Totals()
        self.finish_reason = "stop"
        self.started = time.monotonic()
        self.first_token: float | None = None
        self.stop_reason: str | None = None
        self.discard = False
        self.task: asyncio.Task[None] | None = None
        self.finishing = False
        self.chunks = stream.ChunkCoalescer(self._publish_chunk)
        # the durable queue's check, in the transaction storing the answer: False when the
        # question was cleared or taken over by another process (nothing is stored then)
        self.claim: Callable[[AsyncConnection], Awaitable[bool]] | None = None

    def stop(self, reason: str, *, discard: bool) -> None:
        """Cancel the answer; with `discard` nothing is stored (room cleared or deleted)."""
        if self.stop_reason is None:
            self.stop_reason, self.discard = reason, discard
        else:
            self.discard = self.discard or discard
        if self.task is not None and not self.finishing:
            self.task.cancel()

    async def run(self) -> None:
        room = self.room = await self._load_room()
        if room is None:
            return
        refusal = await spending.find_refusal(self.svc, room, self.user_id)
        if refusal is not None:  # no provider call, no stream frames, nothing stored
            await spending.refuse(self.svc, self.room_id, self.user_id, refusal)
            return
        model = room.ai_model or self.ai.default_model
        error: str | None = None
        try:  # a stop during the ai_typing publish must still end the stream
            await self._publish(stream.ai_typing(self.room_id, self.stream_id, model))
            await self._converse(room, model)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # we handled it: later awaits must not see it again
            error, self.finish_reason = self.stop_reason or "The answer was stopped.", "cancelled"
        except ProviderError as exc:
            error, self.finish_reason = exc.message, "error"
        except Exception:
            log.exception("AI answer in room %s failed", self.room_id)
            error, self.finish_reason = "The AI failed unexpectedly.", "error"
        await self._finish(model, error)

    async def _load_room(self) -> Room | None:
        async with self.svc.db.read() as conn:
            return await room_store.get_room(conn, self.room_id, None)

    async def _history(self) -> list[Message]:
        async with self.svc.db.read() as conn:
            return await message_store.recent(
                conn, self.room_id, self.svc.settings.ai_history_limit
            )

    async def _converse(self, room: Room, model: str) -> None:
        settings = self.svc.settings
        info = self.info = await self.ai.catalog.get(model) if self.ai.catalog else None
        messages = build_messages(
            await self._history(),
            prompt=system_prompt(room, settings.ai_name, settings.ai_system_prompt),
            upload_dir=settings.upload_dir,
            with_images=bool(info and info["supports_images"]),
        )
        tools = self._tools_for(info)
        rounds = settings.ai_max_tool_rounds
        for round_ in range(rounds + 1):
            offer = tools if tools and round_ < rounds else None
            text, calls = await self._one_round(model, messages, offer)
            if not calls:
                return
            if offer is None:  # never run a tool the model was not offered in this round
                raise ProviderError(_tools_refused(rounds if tools else 0))
            await self.chunks.flush()
            messages.append(
                {
                    "role": "assistant",
                    "content": text or None,
                    "tool_calls": [call.as_message_part() for call in calls],
                }
            )
            for call in calls:
                content = await self._run_tool(call)
                messages.append({"role": "tool", "tool_call_id": call.id, "content": content})

    def _tools_for(self, info: ModelInfo | None) -> list[dict[str, Any]]:
        """Tool definitions to offer: none to a model the provider lists without tool support."""
        # A model missing from the list is assumed to take tools, as models.fallback_entry says.
        if self.ai.toolbox is None or (info is not None and not info["supports_tools"]):
            return []
        return self.ai.toolbox.definitions()

    async def _one_round(
        self, model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> tuple[str, list[ToolCall]]:
        assert self.ai.client is not None
        text: list[str] = []
        calls: list[ToolCall] = []
        self.provider_calls += 1
        async for event in self.ai.client.stream_chat(model=model, messages=messages, tools=tools):
            if isinstance(event, TextDelta) and event.text:
                if self.first_token is None:
                    self.first_token = time.monotonic()
                text.append(event.text)
                self.parts.append(event.text)
                self.chunks.add(event.text)
            elif isinstance(event, ToolCall):
                calls.append(event)
            elif isinstance(event, Usage):
                self.totals.add(event)
            elif isinstance(event, Finish):
                self.finish_reason = event.reason
        return "".join(text), calls

    async def _run_tool(self, call: ToolCall) -> str:
        started_input = _arguments(call.arguments)
        await self._tool_event(call.name, "started", started_input)
        assert self.ai.toolbox is not None
        result = await self.ai.toolbox.run(call.name, call.arguments)
        await self._tool_event(call.name, "finished" if result.ok else "failed", result.input)
        self.totals.tools.append(ToolUse(name=call.name, input=result.input, ok=result.ok))
        return result.content

    async def _tool_event(self, tool: str, status: str, input_: dict[str, Any]) -> None:
        frame = stream.ai_tool_use(self.room_id, self.stream_id, tool, status, input_)
        await self._publish(frame)

    async def _finish(self, model: str, error: str | None) -> None:
        self.finishing = True  # from here on, always end with ai_stream_end
        await self.chunks.close(drop=self.discard)
        text = "".join(self.parts)
        if error is None and not text.strip():
            error, self.finish_reason = "The AI returned an empty answer.", "error"
        message = None
        if not self.discard and text.strip():
            message = await self._store(model, text)
            if message is None:
                error = error or "The answer could not be stored."
        if self.provider_calls:
            if self.discard:  # a clear or delete is waiting for this answer to end
                self.ai.spawn(self._record(model, error))
            else:  # before ai_stream_end: the room's next answer is checked against it
                await self._record(model, error)
        frame = stream.ai_stream_end(self.room_id, self.stream_id, message, error)
        await self._publish(frame)

    async def _store(self, model: str, text: str) -> Message | None:
        meta = self._meta(model).model_dump(mode="json")
        try:
            async with self.svc.db.write() as conn:
                if await room_store.get_room(conn, self.room_id, None) is None:
                    return None
                if self.claim is not None and not await self.claim(conn):
                    return None
                message = await append_message(conn, self.room_id, "ai", text, ai_meta=meta)
        except Exception:
            log.exception("storing the AI answer in room %s failed", self.room_id)
            return None
        self.svc.metrics.message_stored("ai")
        return message

    async def _record(self, model: str, error: str | None) -> None:
        """The ledger row of an answer that reached the provider, however it ended."""
        assert self.room is not None
        if self.discard:
            outcome = "discarded"  # cut by a clear or delete
        elif self.finish_reason == "cancelled":
            outcome = "cancelled"
        else:
            outcome = "failed" if error is not None else "finished"
        totals = self.totals
        cost = spending.answer_cost(
            totals.cost, totals.prompt_tokens, totals.completion_tokens, self.info
        )
        await spending.record(
            self.svc,
            room=self.room,
            user_id=self.user_id,
            model=model,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
            cost=cost,
            outcome=outcome,
        )

    def _meta(self, model: str) -> AiMeta:
        now = time.monotonic()
        first = None if self.first_token is None else int((self.first_token - self.started) * 1000)
        return AiMeta(
            model=model,
            prompt_tokens=self.totals.prompt_tokens,
            completion_tokens=self.totals.completion_tokens,
            total_tokens=self.totals.total_tokens,
            cost=self.totals.cost,
            latency_ms=int((now - self.started) * 1000),
            first_token_ms=first,
            finish_reason=self.finish_reason,
            tools=self.totals.tools,
        )

    async def _publish_chunk(self, delta: str) -> None:
        await self._publish(stream.ai_stream_chunk(self.room_id, self.stream_id, delta))

    async def _publish(self, frame: dict[str, Any]) -> None:
        await self.svc.publish(Event(frame=frame, room_id=self.room_id))


def _tools_refused(rounds: int) -> str:
    """Why an answer ended when the model asked for tools it was not offered."""
    if rounds:
        return f"The AI was still calling tools after {rounds} tool rounds, so it stopped."
    return "The AI asked for a tool instead of answering."


def _arguments(arguments: str) -> dict[str, Any]:
    """The call's arguments as an object, for the room's UI (best effort)."""
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {"raw": arguments[:500]}
    return parsed if isinstance(parsed, dict) else {"value": parsed}
