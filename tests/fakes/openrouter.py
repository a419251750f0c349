"""Fake OpenRouter (chat completions over SSE, /models) on 127.0.0.1, scripted per test.

    async with FakeOpenRouter() as fake:
        fake.queue(text_reply("Hello", " world"), tool_call_reply([("web_search", {"query": "x"})]))
        client = ProviderClient(http, base_url=fake.base_url, api_key=fake.api_key, ...)

Each chat request takes the next queued reply. A reply is a `StreamReply` (a list of SSE steps:
`Data`, `Comment`, `Raw`, `Sleep`, `Drop`) or an `ErrorReply`. Every request is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fakes.server import FakeService, Request, Response

DEFAULT_KEY = "sk-or-v1-test-key"
VISION_MODEL = "openai/gpt-4o"
TEXT_MODEL = "meta-llama/llama-3-8b-instruct"
IMAGE_OUTPUT_MODEL = "black-forest-labs/flux.2-pro"

_ids = itertools.count(1)


@dataclass
class Data:
    """A `data:` event: a JSON object (or a raw string such as "[DONE]")."""

    payload: dict[str, Any] | str
    space: bool = True  # False writes `data:{...}` (legal SSE, no space)


@dataclass
class Comment:
    text: str = "OPENROUTER PROCESSING"


@dataclass
class Raw:
    """Bytes written as they are (garbage lines, odd framing, multi-line data)."""

    data: bytes


@dataclass
class Sleep:
    seconds: float


@dataclass
class Drop:
    """Abort the TCP connection here."""


Step = Data | Comment | Raw | Sleep | Drop


@dataclass
class StreamReply:
    steps: list[Step]
    done: bool = True  # append `data: [DONE]`
    chunked: bool = True  # False: no Transfer-Encoding, the body ends when the socket closes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ErrorReply:
    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class JsonReply:
    """A non-streamed JSON body with status 200 (a server that ignores `stream`)."""

    body: dict[str, Any]


Reply = StreamReply | ErrorReply | JsonReply


def chunk(
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    *,
    usage: dict[str, Any] | None = None,
    choices: bool = True,
    gen_id: str = "gen-1700000000-aB3dE5",
) -> dict[str, Any]:
    """A `chat.completion.chunk` object shaped like OpenRouter's."""
    body: dict[str, Any] = {
        "id": gen_id,
        "provider": "OpenAI",
        "model": VISION_MODEL,
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "choices": [],
    }
    if choices:
        body["choices"] = [
            {
                "index": 0,
                "delta": {"role": "assistant", **(delta or {"content": ""})},
                "finish_reason": finish_reason,
                "native_finish_reason": finish_reason,
                "logprobs": None,
            }
        ]
    if usage is not None:
        body["usage"] = usage
    return body


def usage_dict(
    prompt: int = 412, completion: int = 31, cost: float | None = 0.001341
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
        "cost_details": {"upstream_inference_cost": None},
    }
    if cost is not None:
        usage["cost"] = cost
    return usage


def usage_step(usage: dict[str, Any], style: str = "empty") -> Data:
    """The usage chunk: `style="empty"` has `choices: []`, `"choice"` an empty-delta choice."""
    return Data(chunk(usage=usage, choices=style == "choice"))


def text_reply(
    *pieces: str,
    usage: dict[str, Any] | None = None,
    usage_style: str = "empty",
    finish: str = "stop",
    keepalive: bool = True,
    delay: float = 0.0,
) -> StreamReply:
    """Text deltas (each after `delay` seconds), a finish chunk, the usage chunk and [DONE]."""
    steps: list[Step] = [Comment()] if keepalive else []
    for piece in pieces:
        if delay:
            steps.append(Sleep(delay))
        steps.append(Data(chunk({"content": piece})))
    steps.append(Data(chunk({"content": ""}, finish)))
    steps.append(usage_step(usage or usage_dict(), usage_style))
    return StreamReply(steps)


def tool_call_reply(
    calls: list[tuple[str, dict[str, Any]]],
    *,
    split: bool = True,
    text: str | None = None,
    ids: list[str] | None = None,
    repeat_type: bool = False,
    usage: dict[str, Any] | None = None,
) -> StreamReply:
    """Tool calls: each split into first fragment + argument pieces, or whole in one chunk.

    `ids` overrides the call ids (use the same or "" to test those variants).
    """
    steps: list[Step] = [Comment()]
    if text:
        steps.append(Data(chunk({"content": text})))
    for index, (name, arguments) in enumerate(calls):
        call_id = ids[index] if ids is not None else f"call_{next(_ids):06d}"
        steps += _call_steps(index, call_id, name, json.dumps(arguments), split, repeat_type)
    steps.append(Data(chunk({"content": ""}, "tool_calls")))
    steps.append(usage_step(usage or usage_dict()))
    return StreamReply(steps)


def _call_steps(
    index: int, call_id: str, name: str, arguments: str, split: bool, repeat_type: bool
) -> list[Step]:
    def fragment(part: dict[str, Any]) -> Data:
        return Data(chunk({"content": None, "tool_calls": [{"index": index, **part}]}))

    head = {"id": call_id, "type": "function"}
    if not split:
        return [fragment({**head, "function": {"name": name, "arguments": arguments}})]
    middle = len(arguments) // 2
    extra = {"type": "function"} if repeat_type else {}
    return [
        fragment({**head, "function": {"name": name, "arguments": ""}}),
        fragment({**extra, "function": {"arguments": arguments[:middle]}}),
        fragment({**extra, "function": {"arguments": arguments[middle:]}}),
    ]


def parallel_calls_chunk(calls: list[tuple[str, str, dict[str, Any]]]) -> Data:
    """Several whole calls (id, name, arguments) in one chunk, indexes 0, 1, …"""
    parts = [
        {
            "index": i,
            "id": cid,
            "type": "function",
            "function": {"name": n, "arguments": json.dumps(a)},
        }
        for i, (cid, n, a) in enumerate(calls)
    ]
    return Data(chunk({"content": None, "tool_calls": parts}))


def mid_stream_error(message: str = "Provider disconnected unexpectedly", code: Any = 502) -> Data:
    """A chunk carrying a top-level `error` and finish_reason "error"."""
    body = chunk({"content": ""}, "error")
    body["error"] = {
        "code": code,
        "message": message,
        "metadata": {"error_type": "provider_unavailable"},
    }
    return Data(body)


ERROR_BODIES: dict[int, dict[str, Any]] = {
    400: {
        "error": {
            "code": 400,
            "message": "Invalid request parameters",
            "metadata": {"error_type": "invalid_request"},
        }
    },
    401: {"error": {"message": "User not found.", "code": 401}},
    402: {
        "error": {
            "code": 402,
            "message": "Insufficient credits. Add more using https://openrouter.ai/credits",
        }
    },
    403: {
        "error": {
            "code": 403,
            "message": "Request blocked: flagged by moderation",
            "metadata": {"reasons": ["x"]},
        }
    },
    408: {"error": {"code": 408, "message": "Operation timed out. Please try again later."}},
    429: {
        "error": {
            "code": 429,
            "message": "Rate limit exceeded",
            "metadata": {"error_type": "rate_limit_exceeded"},
        }
    },
    500: {
        "error": {
            "code": 500,
            "message": "Internal Server Error",
            "metadata": {"error_type": "server"},
        }
    },
    502: {
        "error": {
            "code": 502,
            "message": "Provider returned error",
            "metadata": {"error_type": "provider_unavailable"},
        }
    },
    503: {
        "error": {
            "code": 503,
            "message": "No instances available",
            "metadata": {"error_type": "provider_overloaded"},
        }
    },
}


def error_reply(status: int, *, retry_after: str | None = None, body: Any = None) -> ErrorReply:
    """An HTTP error answer with OpenRouter's body for that status."""
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return ErrorReply(status, body if body is not None else ERROR_BODIES[status], headers)


def model_entry(
    model_id: str, name: str, *, inputs: list[str], outputs: list[str], params: list[str]
) -> dict[str, Any]:
    return {
        "id": model_id,
        "canonical_slug": model_id,
        "name": name,
        "created": 1715367049,
        "description": f"{name} (fake)",
        "context_length": 128000,
        "architecture": {
            "modality": "+".join(inputs) + "->" + "+".join(outputs),
            "input_modalities": inputs,
            "output_modalities": outputs,
            "tokenizer": "GPT",
            "instruct_type": None,
        },
        "pricing": {"prompt": "0.0000025", "completion": "0.00001", "request": "0", "image": "0"},
        "top_provider": {
            "context_length": 128000,
            "max_completion_tokens": 16384,
            "is_moderated": True,
        },
        "per_request_limits": None,
        "supported_parameters": params,
        "default_parameters": None,
        "expiration_date": None,
    }


def default_models() -> list[dict[str, Any]]:
    """A vision+tools model, a text-only model without tools, an image-only-output model."""
    return [
        model_entry(VISION_MODEL, "OpenAI: GPT-4o", inputs=["text", "image", "file"],
                    outputs=["text"], params=["max_tokens", "temperature", "tools", "tool_choice"]),
        model_entry(TEXT_MODEL, "Meta: Llama 3 8B Instruct", inputs=["text"], outputs=["text"],
                    params=["max_tokens", "temperature"]),
        model_entry(IMAGE_OUTPUT_MODEL, "Black Forest Labs: FLUX.2 Pro", inputs=["text", "image"],
                    outputs=["image"], params=[]),
    ]  # fmt: skip


class FakeOpenRouter(FakeService):
    """OpenRouter at `{url}/api/v1`: chat completions from a queue, a model list, auth checks."""

    def __init__(
        self, api_key: str = DEFAULT_KEY, models: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = default_models() if models is None else models
        self.replies: deque[Reply] = deque()
        self.default_reply: Reply | None = None
        self.models_status = 200
        self.known_models_only = False
        self.chat_requests: list[Request] = []
        self.models_requests: list[Request] = []
        self.responses: list[Response] = []

    @property
    def base_url(self) -> str:
        return self.url + "/api/v1"

    def queue(self, *replies: Reply) -> None:
        """Script the next chat replies, in order."""
        self.replies.extend(replies)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of all chat requests so far."""
        return [request.json() for request in self.chat_requests]

    async def handle(self, request: Request, response: Response) -> None:
        self.responses.append(response)
        if request.method == "GET" and request.path == "/api/v1/models":
            self.models_requests.append(request)
            await self._models(response)
        elif request.method == "POST" and request.path == "/api/v1/chat/completions":
            self.chat_requests.append(request)
            await self._chat(request, response)
        else:
            await response.send_json(404, {"error": {"code": 404, "message": "Not Found"}})

    async def _models(self, response: Response) -> None:
        if self.models_status != 200:
            await response.send_json(self.models_status, ERROR_BODIES.get(self.models_status, {}))
        else:
            await response.send_json(200, {"data": self.models})

    async def _chat(self, request: Request, response: Response) -> None:
        auth = request.headers.get("authorization")
        if not auth:
            body = {"error": {"message": "No auth credentials found", "code": 401}}
            return await response.send_json(401, body)
        if auth != f"Bearer {self.api_key}":
            return await response.send_json(401, ERROR_BODIES[401])
        body = request.json()
        if self.known_models_only and body.get("model") not in {m["id"] for m in self.models}:
            message = f"{body.get('model')} is not a valid model ID"
            return await response.send_json(400, {"error": {"code": 400, "message": message}})
        reply = self.replies.popleft() if self.replies else self.default_reply
        if reply is None:
            return await response.send_json(
                500, {"error": {"code": 500, "message": "no scripted reply"}}
            )
        await play(reply, response)


async def play(reply: Reply, response: Response) -> None:
    """Write a scripted reply."""
    if isinstance(reply, ErrorReply):
        await asyncio.sleep(reply.delay)
        body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        await response.send(
            reply.status, body, content_type="application/json", headers=reply.headers
        )
        return
    if isinstance(reply, JsonReply):
        await response.send_json(200, reply.body)
        return
    headers = {"Content-Type": "text/event-stream", "X-Generation-Id": "gen-1700000000-aB3dE5"}
    await response.start(200, {**headers, **reply.headers}, chunked=reply.chunked)
    for step in reply.steps:
        if isinstance(step, Drop):
            response.drop()
            return
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
        elif hasattr(step, "wait"):  # a test's own pause point (e.g. a gate it opens later)
            await step.wait()
        else:
            await response.write(encode_step(step))
    if reply.done:
        await response.write(b"data: [DONE]\n\n")
    await response.end()


def encode_step(step: Data | Comment | Raw) -> bytes:
    """The bytes of one SSE step."""
    if isinstance(step, Comment):
        return f": {step.text}\n\n".encode()
    if isinstance(step, Raw):
        return step.data
    payload = step.payload if isinstance(step.payload, str) else json.dumps(step.payload)
    return f"data:{' ' if step.space else ''}{payload}\n\n".encode()
