"""Decoding the provider's stream: SSE framing, chunk JSON, and assembly into stream events.

Tolerant of the variants OpenAI-compatible providers send (see wire-formats.md section 1).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Final

logger = logging.getLogger(__name__)

DONE: Final = "[DONE]"
MAX_DETAIL_CHARS = 300


class LineSplitter:
    """Split a byte stream into text lines on CRLF, LF or a lone CR (the SSE rules)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._started = False

    def feed(self, data: bytes) -> list[str]:
        """Add bytes; return the lines they complete (without line endings)."""
        self._buffer.extend(data)
        if not self._started and len(self._buffer) >= 3:
            self._started = True
            if self._buffer.startswith(b"\xef\xbb\xbf"):
                del self._buffer[:3]  # the SSE spec ignores a leading byte order mark
        lines: list[str] = []
        while True:
            cut = _find_line_end(self._buffer)
            if cut is None:
                return lines
            end, after = cut
            lines.append(self._buffer[:end].decode("utf-8", errors="replace"))
            del self._buffer[:after]

    def flush(self) -> list[str]:
        """Return what is left at the end of the stream as a last line."""
        rest = bytes(self._buffer).rstrip(b"\r")
        self._buffer.clear()
        return [rest.decode("utf-8", errors="replace")] if rest else []


def _find_line_end(buffer: bytearray) -> tuple[int, int] | None:
    """Index of the first line end and of the byte after it, or None if incomplete."""
    lf = buffer.find(b"\n")
    cr = buffer.find(b"\r", 0, lf if lf >= 0 else len(buffer))
    if cr >= 0:
        if cr + 1 == len(buffer):
            return None  # may be the first half of a CRLF split across reads
        return cr, cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
    if lf >= 0:
        return lf, lf + 1
    return None


class EventDecoder:
    """Collect `data:` fields into events; blank lines end an event, `:` lines are comments."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line; return the event's data when this line completes an event."""
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        # Other fields (event, id, retry) and stray text lines carry nothing we use.
        return None

    def flush(self) -> str | None:
        """Return the pending event's data, if any."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        return data


def parse_event_data(data: str) -> list[dict[str, Any] | str]:
    """Turn one event's data into JSON objects and DONE markers; skip what is not JSON."""
    if data.strip() == DONE:
        return [DONE]
    parsed = _load_object(data)
    if parsed is not None:
        return [parsed]
    if "\n" not in data:
        logger.debug("skipping a non-JSON SSE event: %.200r", data)
        return []
    # A server that forgot blank lines between events glues them into one: try line by line.
    items: list[dict[str, Any] | str] = []
    for line in data.split("\n"):
        items.extend(parse_event_data(line))
    return items


def _load_object(data: str) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ProviderError(Exception):
    """A provider failure, with a message a chat user can read."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call requested by the model (emitted when the turn ends)."""

    id: str
    name: str
    arguments: str

    def as_message_part(self) -> dict[str, Any]:
        """The entry for an assistant message's `tool_calls` list."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class Usage:
    """Token counts and cost (credits, when the provider reports it) of one turn."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float | None


@dataclass(frozen=True)
class Finish:
    """End of the turn: `stop`, `tool_calls`, `length`, `content_filter`, …"""

    reason: str


StreamEvent = TextDelta | ToolCall | Usage | Finish


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class Turn:
    """Accumulates one streamed turn: tool-call fragments, finish reason, usage."""

    def __init__(self) -> None:
        self.calls: dict[int, _PartialCall] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.done = False

    def apply(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """Read one chunk; return its text deltas; raise ProviderError on a reported error."""
        _raise_for_error(chunk.get("error"))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = _parse_usage(usage)
        events: list[StreamEvent] = []
        for choice in _first_choices(chunk):
            _raise_for_error(choice.get("error"))
            delta = choice.get("delta") or choice.get("message") or {}
            if isinstance(delta, dict):
                events.extend(self._apply_delta(delta))
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self.finish_reason = reason
        if self.finish_reason == "error":
            raise ProviderError("The AI provider reported an error.")
        return events

    def _apply_delta(self, delta: dict[str, Any]) -> list[StreamEvent]:
        for fragment in delta.get("tool_calls") or []:
            if isinstance(fragment, dict):
                self._add_fragment(fragment)
        content = delta.get("content")
        return [TextDelta(content)] if isinstance(content, str) and content else []

    def _add_fragment(self, fragment: dict[str, Any]) -> None:
        call = self.calls.setdefault(self._index_of(fragment), _PartialCall())
        call_id = fragment.get("id")
        if isinstance(call_id, str) and call_id and not call.id:
            call.id = call_id
        function = fragment.get("function")
        if not isinstance(function, dict):
            return
        name = function.get("name")
        if isinstance(name, str) and name and not call.name:
            call.name = name
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.arguments.append(arguments)
        elif isinstance(arguments, dict):
            call.arguments.append(json.dumps(arguments))

    def _index_of(self, fragment: dict[str, Any]) -> int:
        index = fragment.get("index")
        if isinstance(index, int):
            return index
        # No index (non-streamed messages, some servers): a new id starts a new call.
        call_id = fragment.get("id")
        known = {call.id for call in self.calls.values()}
        if not self.calls or (isinstance(call_id, str) and call_id and call_id not in known):
            return max(self.calls, default=-1) + 1
        return max(self.calls)

    def finish(self) -> list[StreamEvent]:
        """The events that close the turn: assembled tool calls, usage, finish reason."""
        events: list[StreamEvent] = list(self._assembled_calls())
        if self.usage is not None:
            events.append(self.usage)
        reason = self.finish_reason or ("tool_calls" if self.calls else "stop")
        events.append(Finish(reason))
        return events

    def _assembled_calls(self) -> list[ToolCall]:
        calls: list[ToolCall] = []
        seen: set[str] = set()
        for index in sorted(self.calls):
            partial = self.calls[index]
            # Empty or repeated ids would make the tool results ambiguous: make them unique.
            call_id = partial.id or f"call_{index}"
            if call_id in seen:
                call_id = f"{call_id}_{index}"
            seen.add(call_id)
            arguments = "".join(partial.arguments) or "{}"
            calls.append(ToolCall(call_id, partial.name, arguments))
        return calls


def _first_choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    """The choices for the first completion (index 0 or unnumbered); empty lists are fine."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return []
    return [c for c in choices if isinstance(c, dict) and c.get("index", 0) in (0, None)]


def _raise_for_error(error: object) -> None:
    if not error:
        return
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code")
    else:
        message, code = str(error), None
    status = code if isinstance(code, int) else None
    if isinstance(message, str) and message.strip():
        raise ProviderError(f"The AI provider reported an error: {clip(message)}", status)
    raise ProviderError(f"The AI provider reported an error ({code}).", status)


def _parse_usage(usage: dict[str, Any]) -> Usage:
    def count(key: str) -> int:
        value = usage.get(key)
        return value if isinstance(value, int) else 0

    cost = usage.get("cost")
    return Usage(
        prompt_tokens=count("prompt_tokens"),
        completion_tokens=count("completion_tokens"),
        total_tokens=count("total_tokens") or count("prompt_tokens") + count("completion_tokens"),
        cost=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
    )


def clip(text: str) -> str:
    """Collapse whitespace and cap a provider-supplied message."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 1] + "…"
