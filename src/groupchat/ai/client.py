"""Streaming client for OpenAI-compatible chat completions (OpenRouter by default)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from groupchat.ai.sse import (
    DONE,
    EventDecoder,
    Finish,
    LineSplitter,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    Turn,
    Usage,
    clip,
    parse_event_data,
)

__all__ = [
    "Finish",
    "ProviderClient",
    "ProviderError",
    "StreamEvent",
    "TextDelta",
    "Timeouts",
    "ToolCall",
    "Usage",
    "http_error",
]

logger = logging.getLogger(__name__)

MAX_ERROR_BODY = 64 * 1024
MAX_JSON_BODY = 16 * 1024 * 1024


@dataclass
class Timeouts:
    """Limits for one provider call, in seconds."""

    connect: float = 10
    first_token: float = 60
    idle: float = 60
    total: float = 300


def _sentence(prefix: str, detail: str | None, suffix: str = "") -> str:
    """`prefix: detail.` with the final full stop added only when missing."""
    text = f"{prefix}: {clip(detail).rstrip('.')}" if detail else prefix
    text += suffix
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_detail(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace").strip()
        return text or None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return None


def http_error(status: int, body: bytes, headers: httpx.Headers) -> ProviderError:
    """Map an HTTP error answer from the provider to a readable ProviderError."""
    detail = _error_detail(body)
    retry = _retry_after(headers)
    wait = f"; try again in {round(retry)} s" if retry is not None else "; try again later"
    if status == 401:
        text = "The AI provider rejected the API key (401)."
    elif status == 402:
        text = "The AI provider is out of credits (402)."
    elif status == 429:
        text = f"The AI provider is rate limiting us (429){wait}."
    elif status == 408:
        text = "The AI provider timed out (408)."
    elif status in (502, 503):
        text = _sentence(f"The AI provider is unavailable ({status})", detail, wait)
    elif status == 400:
        text = _sentence("The AI provider rejected the request (400)", detail)
    elif status == 403:
        text = _sentence("The AI provider refused the request (403)", detail)
    elif status == 404:
        text = _sentence("The AI provider has no such model or endpoint (404)", detail)
    else:
        text = _sentence(f"The AI provider reported an error ({status})", detail)
    return ProviderError(text, status)


class _Clock:
    """Deadlines for one call: first data, gap between data events, whole call."""

    def __init__(self, timeouts: Timeouts) -> None:
        self.timeouts = timeouts
        now = time.monotonic()
        self.total_deadline = now + timeouts.total
        self.progress_deadline = now + timeouts.first_token
        self.got_data = False

    def progress(self) -> None:
        """Record that a data event arrived."""
        self.got_data = True
        self.progress_deadline = time.monotonic() + self.timeouts.idle

    def remaining(self) -> float:
        """Seconds until the nearest deadline."""
        return min(self.progress_deadline, self.total_deadline) - time.monotonic()

    def expired(self) -> ProviderError:
        """The error for whichever deadline has passed."""
        if self.total_deadline <= self.progress_deadline:
            return ProviderError(
                f"The AI provider did not finish within {self.timeouts.total:g} s."
            )
        if not self.got_data:
            return ProviderError("The AI provider timed out waiting for the first token.")
        return ProviderError(f"The AI provider sent nothing for {self.timeouts.idle:g} s.")


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """Up to `limit` bytes of the body; what arrived so far if the connection breaks."""
    body = bytearray()
    try:
        async for piece in response.aiter_bytes():
            body.extend(piece)
            if len(body) >= limit:
                break
    except httpx.HTTPError as exc:
        logger.debug("body cut short: %r", exc)
    return bytes(body[:limit])


class ProviderClient:
    """Talks to `{base_url}/chat/completions` and `{base_url}/models`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        api_key: str,
        timeouts: Timeouts,
        app_url: str | None = None,
        app_title: str = "GroupChat",
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeouts = timeouts
        self.app_url = app_url
        self.app_title = app_title

    def _headers(self) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "X-OpenRouter-Title": self.app_title,
            "X-Title": self.app_title,
        }
        if self.app_url:
            headers["HTTP-Referer"] = self.app_url
        return headers

    def _httpx_timeout(self, read: float | None) -> httpx.Timeout:
        connect = self.timeouts.connect
        return httpx.Timeout(connect=connect, read=read, write=connect, pool=connect)

    async def stream_chat(
        self,
        *,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        extra_body: dict[str, Any] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream one turn: TextDelta…, then ToolCall…, Usage (if sent), Finish; or raise.

        Raises ProviderError for every failure. Wrap in `contextlib.aclosing` when the caller
        may stop early (cancel), so the connection is released at once.
        """
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        if tools:
            body["tools"] = tools
            body["tool_choice"] = "auto"
        body.update(extra_body or {})
        clock = _Clock(self.timeouts)
        response = await self._send(body, clock)
        turn = Turn()
        try:
            async with contextlib.aclosing(self._chunks(response, clock, turn)) as chunks:
                async for chunk in chunks:
                    for event in turn.apply(chunk):
                        yield event
        finally:
            await response.aclose()
        if not turn.done and turn.finish_reason is None:
            raise ProviderError("The AI provider closed the connection mid-answer.")
        for event in turn.finish():
            yield event

    async def _send(self, body: dict[str, Any], clock: _Clock) -> httpx.Response:
        """POST the request and wait for the response head; map failures."""
        headers = {**self._headers(), "Accept": "text/event-stream"}
        request = self.http.build_request(
            "POST",
            f"{self.base_url}/chat/completions",
            json=body,
            headers=headers,
            timeout=self._httpx_timeout(None),
        )
        try:
            async with asyncio.timeout(clock.remaining()):
                response = await self.http.send(request, stream=True)
                if response.status_code < 400:
                    return response
                try:
                    error_body = await _read_capped(response, MAX_ERROR_BODY)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise clock.expired() from None
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.timeouts) from exc
        raise http_error(response.status_code, error_body, response.headers)

    async def _chunks(
        self, response: httpx.Response, clock: _Clock, turn: Turn
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the JSON chunks of an SSE (or plain JSON) body until [DONE] or the end."""
        if "json" in response.headers.get("content-type", ""):
            yield await self._json_body(response, clock, turn)
            return
        splitter, decoder = LineSplitter(), EventDecoder()
        raw = response.aiter_bytes()
        while not turn.done:
            data = await self._read(raw, clock, turn)
            lines = splitter.feed(data) if data is not None else [*splitter.flush(), ""]
            for line in lines:
                event = decoder.feed(line)
                for item in parse_event_data(event) if event is not None else []:
                    clock.progress()
                    if item == DONE:
                        turn.done = True
                        return
                    if isinstance(item, dict):
                        yield item
            if data is None:
                return

    async def _read(self, raw: AsyncIterator[bytes], clock: _Clock, turn: Turn) -> bytes | None:
        """Next body bytes within the deadlines; None at the end of the body."""
        remaining = clock.remaining()
        if remaining <= 0:
            raise clock.expired()
        try:
            async with asyncio.timeout(remaining):
                return await anext(raw)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise clock.expired() from None
        except httpx.HTTPError as exc:
            if turn.finish_reason is not None:
                return None  # the answer was complete; only the stream's tail got lost
            logger.info("provider stream broke: %r", exc)
            raise ProviderError("The AI provider closed the connection mid-answer.") from exc

    async def _json_body(self, response: httpx.Response, clock: _Clock, turn: Turn) -> Any:
        """A server that ignored `stream` answered with one JSON document."""
        try:
            async with asyncio.timeout(max(clock.remaining(), 0)):
                body = await _read_capped(response, MAX_JSON_BODY)
        except TimeoutError:
            raise clock.expired() from None
        try:
            data = json.loads(body)
        except ValueError:
            raise ProviderError("The AI provider sent an unreadable answer.") from None
        turn.done = True
        return data if isinstance(data, dict) else {}

    async def list_models(self) -> list[dict[str, Any]]:
        """The provider's raw model list (`data` of GET /models)."""
        try:
            async with asyncio.timeout(self.timeouts.first_token):
                response = await self.http.get(
                    f"{self.base_url}/models",
                    headers=self._headers(),
                    timeout=self._httpx_timeout(self.timeouts.first_token),
                )
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderError("The AI provider did not send its model list in time.") from None
        except httpx.HTTPError as exc:
            raise _transport_error(exc, self.timeouts) from exc
        if response.status_code >= 400:
            raise http_error(response.status_code, response.content, response.headers)
        try:
            data = response.json().get("data")
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            raise ProviderError("The AI provider sent an unreadable model list.")
        return [item for item in data if isinstance(item, dict)]


def _transport_error(exc: httpx.HTTPError, timeouts: Timeouts) -> ProviderError:
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderError(
            f"The AI provider did not accept a connection within {timeouts.connect:g} s."
        )
    if isinstance(exc, httpx.ConnectError):
        return ProviderError("The AI provider could not be reached.")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError("The AI provider timed out.")
    return ProviderError("The AI provider closed the connection mid-answer.")
