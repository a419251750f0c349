"""The provider client against a fake OpenRouter on 127.0.0.1: SSE, errors, timeouts, models."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from fakes.openrouter import (
    DEFAULT_KEY,
    IMAGE_OUTPUT_MODEL,
    TEXT_MODEL,
    VISION_MODEL,
    Comment,
    Data,
    Drop,
    FakeOpenRouter,
    JsonReply,
    Raw,
    Sleep,
    StreamReply,
    chunk,
    error_reply,
    mid_stream_error,
    parallel_calls_chunk,
    text_reply,
    tool_call_reply,
    usage_dict,
    usage_step,
)
from groupchat.ai.client import (
    Finish,
    ProviderClient,
    ProviderError,
    StreamEvent,
    TextDelta,
    Timeouts,
    ToolCall,
    Usage,
)
from groupchat.ai.models import ModelCatalog

MESSAGES = [
    {"role": "system", "content": "You are a participant in a group chat."},
    {"role": "user", "content": "alice: hello"},
]
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenRouter]:
    async with FakeOpenRouter() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def provider(
    http: httpx.AsyncClient, fake: FakeOpenRouter, key: str = DEFAULT_KEY, **limits: float
) -> ProviderClient:
    return ProviderClient(
        http,
        base_url=fake.base_url,
        api_key=key,
        timeouts=Timeouts(**limits),
        app_url="https://chat.example.org",
    )


async def run(
    client: ProviderClient, tools: list[dict[str, Any]] | None = None, **kw: Any
) -> list[StreamEvent]:
    return [
        event
        async for event in client.stream_chat(
            model=VISION_MODEL, messages=MESSAGES, tools=tools, **kw
        )
    ]


async def run_error(client: ProviderClient) -> tuple[list[StreamEvent], ProviderError]:
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in client.stream_chat(model=VISION_MODEL, messages=MESSAGES, tools=None):
            events.append(event)
    return events, caught.value


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def calls_of(events: list[StreamEvent]) -> list[ToolCall]:
    return [e for e in events if isinstance(e, ToolCall)]


# --- happy paths and the request we send ------------------------------------------------------


async def test_text_reply_streams_deltas_then_usage_and_finish(http, fake) -> None:
    fake.queue(text_reply("Hello", ", ", "world", usage=usage_dict(10, 3, 0.0002)))
    events = await run(provider(http, fake))
    assert events == [
        TextDelta("Hello"),
        TextDelta(", "),
        TextDelta("world"),
        Usage(prompt_tokens=10, completion_tokens=3, total_tokens=13, cost=0.0002),
        Finish("stop"),
    ]


async def test_request_carries_auth_attribution_messages_tools_and_images(http, fake) -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "bob: look"},
                {"type": "image_url", "image_url": {"url": image}},
            ],
        }
    ]
    fake.queue(text_reply("ok"))
    client = provider(http, fake)
    events = [
        e
        async for e in client.stream_chat(
            model=TEXT_MODEL, messages=messages, tools=[SEARCH_TOOL], extra_body={"max_tokens": 50}
        )
    ]
    assert text_of(events) == "ok"
    request = fake.chat_requests[0]
    assert request.headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    assert request.headers["http-referer"] == "https://chat.example.org"
    assert request.headers["x-openrouter-title"] == "GroupChat"
    assert request.headers["x-title"] == "GroupChat"
    body = request.json()
    assert body["model"] == TEXT_MODEL
    assert body["stream"] is True
    assert body["messages"] == messages
    assert body["messages"][0]["content"][1]["image_url"]["url"] == image
    assert body["tools"] == [SEARCH_TOOL]
    assert body["tool_choice"] == "auto"
    assert body["max_tokens"] == 50


async def test_no_tools_means_no_tools_field(http, fake) -> None:
    fake.queue(text_reply("hi"))
    await run(provider(http, fake))
    assert "tools" not in fake.bodies[0]
    assert "tool_choice" not in fake.bodies[0]


WIRE_RESPONSE_1 = b"""\
: OPENROUTER PROCESSING

data: {"id":"gen-1700000000-aB3dE5","provider":"OpenAI","model":"openai/gpt-4o","object":"\
chat.completion.chunk","created":1700000000,"choices":[{"index":0,"delta":{"role":"assista\
nt","content":"Let me check."},"finish_reason":null,"native_finish_reason":null,"logprobs"\
:null}]}

data: {"id":"gen-1700000000-aB3dE5","provider":"OpenAI","model":"openai/gpt-4o","object":"\
chat.completion.chunk","created":1700000000,"choices":[{"index":0,"delta":{"role":"assista\
nt","content":null,"tool_calls":[{"index":0,"id":"call_abc123","type":"function","function\
":{"name":"web_search","arguments":""}}]},"finish_reason":null,"native_finish_reason":null\
,"logprobs":null}]}

data: {"id":"gen-1700000000-aB3dE5","provider":"OpenAI","model":"openai/gpt-4o","object":"\
chat.completion.chunk","created":1700000000,"choices":[{"index":0,"delta":{"role":"assista\
nt","content":null,"tool_calls":[{"index":0,"function":{"arguments":"{\\"query\\":\\"nos"}\
}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}

data: {"id":"gen-1700000000-aB3dE5","provider":"OpenAI","model":"openai/gpt-4o","object":"\
chat.completion.chunk","created":1700000000,"choices":[{"index":0,"delta":{"role":"assista\
nt","content":null,"tool_calls":[{"index":0,"function":{"arguments":"tr NIP-07\\"}"}}]},"f\
inish_reason":null,"native_finish_reason":null,"logprobs":null}]}

: OPENROUTER PROCESSING

data: {"id":"gen-1700000000-aB3dE5","provider":"OpenAI","model":"openai/gpt-4o","object":"\
chat.completion.chunk","created":1700000000,"choices":[{"index":0,"delta":{"role":"assista\
nt","content":""},"finish_reason":"tool_calls","native_finish_reason":"tool_calls","logpro\
bs":null}]}

data: {"id":"gen-1700000000-aB3dE5","provider":"OpenAI","model":"openai/gpt-4o","object":"\
chat.completion.chunk","created":1700000000,"choices":[],"usage":{"prompt_tokens":412,"com\
pletion_tokens":31,"total_tokens":443,"cost":0.001341,"is_byok":false,"prompt_tokens_detai\
ls":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0},"cost_details":\
{"upstream_inference_cost":null}}}

data: [DONE]

"""  # the exact bytes of wire-formats.md 1.5, response 1


async def test_wire_example_with_split_tool_call(http, fake) -> None:
    fake.queue(StreamReply([Raw(WIRE_RESPONSE_1)], done=False))
    events = await run(provider(http, fake), tools=[SEARCH_TOOL])
    assert events == [
        TextDelta("Let me check."),
        ToolCall("call_abc123", "web_search", '{"query":"nostr NIP-07"}'),
        Usage(412, 31, 443, 0.001341),
        Finish("tool_calls"),
    ]


async def test_usage_chunk_with_a_non_empty_choice(http, fake) -> None:
    fake.queue(
        text_reply(
            "NIP-07 defines ",
            "window.nostr.",
            usage=usage_dict(530, 12, 0.001445),
            usage_style="choice",
        )
    )
    events = await run(provider(http, fake))
    assert text_of(events) == "NIP-07 defines window.nostr."
    assert events[-2:] == [Usage(530, 12, 542, 0.001445), Finish("stop")]


async def test_usage_without_cost(http, fake) -> None:
    fake.queue(text_reply("x", usage=usage_dict(1, 2, None)))
    events = await run(provider(http, fake))
    assert Usage(1, 2, 3, None) in events


async def test_framing_variants_are_all_understood(http, fake) -> None:
    hello = json.dumps(chunk({"content": "Hel"}))
    cut = hello.index(', "provider"') + 1  # between two JSON members: still valid with a newline
    fake.queue(
        StreamReply(
            [
                Comment(),
                Data(chunk({"content": "A"}), space=False),
                Raw(b"this line is garbage\n\n"),
                Raw(b"data: {not json at all\n\n"),
                Raw(b"data: 42\n\n"),
                Raw(b"event: message\nid: 7\nretry: 100\n"),
                Raw(("data: " + hello[:cut] + "\ndata: " + hello[cut:] + "\n\n").encode()),
                Raw(b"data: " + json.dumps(chunk({"content": "lo"})).encode() + b"\r\n\r\n"),
                Comment(),
                Raw(b"data: " + json.dumps(chunk({"content": "!"})).encode() + b"\rdata: "),
                Raw(json.dumps(chunk({"content": "?"})).encode() + b"\r\r"),
                Data(chunk({"content": ""}, "stop")),
                usage_step(usage_dict()),
            ]
        )
    )
    events = await run(provider(http, fake))
    # "!" and "?" arrive as two data lines of one event (lone CR endings): parsed line by line.
    assert text_of(events) == "AHello!?"
    assert events[-1] == Finish("stop")


async def test_events_glued_without_blank_lines(http, fake) -> None:
    a = json.dumps(chunk({"content": "one "}))
    b = json.dumps(chunk({"content": "two"}, "stop"))
    fake.queue(StreamReply([Raw(f"data: {a}\ndata: {b}\ndata: [DONE]\n".encode())], done=False))
    events = await run(provider(http, fake))
    assert text_of(events) == "one two"
    assert events[-1] == Finish("stop")


async def test_byte_order_mark_and_delayed_pieces(http, fake) -> None:
    reply = text_reply("slow", "ly", delay=0.02, keepalive=False)
    reply.steps.insert(0, Raw(b"\xef\xbb"))
    reply.steps.insert(1, Sleep(0.01))
    reply.steps.insert(2, Raw(b"\xbf"))
    fake.queue(reply)
    events = await run(provider(http, fake))
    assert text_of(events) == "slowly"


async def test_done_without_trailing_blank_line(http, fake) -> None:
    fake.queue(
        StreamReply([Data(chunk({"content": "x"}, "stop")), Raw(b"data: [DONE]")], done=False)
    )
    assert (await run(provider(http, fake)))[-1] == Finish("stop")


async def test_utf8_split_across_network_chunks(http, fake) -> None:
    line = (
        "data: " + json.dumps(chunk({"content": "héllo \u2028 wörld"}), ensure_ascii=False) + "\n\n"
    ).encode()
    cut = line.index("é".encode()) + 1
    fake.queue(
        StreamReply([Raw(line[:cut]), Sleep(0.02), Raw(line[cut:]), Data(chunk(None, "stop"))])
    )
    assert text_of(await run(provider(http, fake))) == "héllo \u2028 wörld"


# --- tool calls --------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("repeat_type", [True, False])
async def test_tool_call_assembled(http, fake, split, repeat_type) -> None:
    args = {"query": 'nostr NIP-07 "quoted" ünïcode'}
    fake.queue(
        tool_call_reply(
            [("web_search", args)], split=split, repeat_type=repeat_type, ids=["call_1"]
        )
    )
    events = await run(provider(http, fake), tools=[SEARCH_TOOL])
    (call,) = calls_of(events)
    assert call.id == "call_1"
    assert call.name == "web_search"
    assert json.loads(call.arguments) == args
    assert events[-1] == Finish("tool_calls")


async def test_parallel_tool_calls_keep_their_order(http, fake) -> None:
    fake.queue(
        tool_call_reply(
            [("web_search", {"query": "a"}), ("fetch_page", {"url": "https://example.org/"})],
            text="Checking two things.",
            ids=["call_a", "call_b"],
        )
    )
    events = await run(provider(http, fake), tools=[SEARCH_TOOL])
    assert text_of(events) == "Checking two things."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls_of(events)] == [
        ("call_a", "web_search", {"query": "a"}),
        ("call_b", "fetch_page", {"url": "https://example.org/"}),
    ]


async def test_interleaved_fragments_of_parallel_calls(http, fake) -> None:
    def frag(index: int, **part: Any) -> Data:
        return Data(chunk({"content": None, "tool_calls": [{"index": index, **part}]}))

    fake.queue(
        StreamReply(
            [
                frag(
                    1,
                    id="call_y",
                    type="function",
                    function={"name": "fetch_page", "arguments": ""},
                ),
                frag(
                    0,
                    id="call_x",
                    type="function",
                    function={"name": "web_search", "arguments": '{"qu'},
                ),
                frag(1, function={"arguments": '{"url":"http://a"}'}),
                frag(0, function={"arguments": 'ery":"b"}'}),
                Data(chunk(None, "tool_calls")),
            ]
        )
    )
    calls = calls_of(await run(provider(http, fake)))
    assert calls == [
        ToolCall("call_x", "web_search", '{"query":"b"}'),
        ToolCall("call_y", "fetch_page", '{"url":"http://a"}'),
    ]


async def test_whole_calls_in_one_chunk(http, fake) -> None:
    fake.queue(
        StreamReply(
            [
                parallel_calls_chunk(
                    [("c1", "web_search", {"query": "x"}), ("c2", "web_search", {"query": "y"})]
                ),
                Data(chunk(None, "tool_calls")),
            ]
        )
    )
    calls = calls_of(await run(provider(http, fake)))
    assert [(c.id, json.loads(c.arguments)) for c in calls] == [
        ("c1", {"query": "x"}),
        ("c2", {"query": "y"}),
    ]


@pytest.mark.parametrize("ids", [["same", "same"], ["", ""]])
async def test_same_or_empty_ids_become_unique(http, fake, ids) -> None:
    fake.queue(
        tool_call_reply([("web_search", {"query": "a"}), ("web_search", {"query": "b"})], ids=ids)
    )
    calls = calls_of(await run(provider(http, fake)))
    assert [json.loads(c.arguments)["query"] for c in calls] == ["a", "b"]
    assert len({c.id for c in calls}) == 2
    assert all(c.id for c in calls)


async def test_call_without_arguments_gets_empty_object(http, fake) -> None:
    part = {"index": 0, "id": "c", "type": "function", "function": {"name": "now", "arguments": ""}}
    fake.queue(StreamReply([Data(chunk({"tool_calls": [part]}, "tool_calls"))]))
    assert calls_of(await run(provider(http, fake))) == [ToolCall("c", "now", "{}")]


async def test_tool_call_as_message_part() -> None:
    call = ToolCall("call_1", "web_search", '{"query":"x"}')
    assert call.as_message_part() == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "web_search", "arguments": '{"query":"x"}'},
    }


async def test_non_streamed_json_answer_is_accepted(http, fake) -> None:
    message = {
        "role": "assistant",
        "content": "plain",
        "tool_calls": [
            {"id": "c9", "type": "function", "function": {"name": "web_search", "arguments": "{}"}}
        ],
    }
    body = {
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
        "usage": usage_dict(5, 5, None),
    }
    fake.queue(JsonReply(body))
    events = await run(provider(http, fake))
    assert events == [
        TextDelta("plain"),
        ToolCall("c9", "web_search", "{}"),
        Usage(5, 5, 10, None),
        Finish("tool_calls"),
    ]


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (error_reply(402), "The AI provider is out of credits (402)."),
        (
            error_reply(429, retry_after="20"),
            "The AI provider is rate limiting us (429); try again in 20 s.",
        ),
        (error_reply(429), "The AI provider is rate limiting us (429); try again later."),
        (
            error_reply(400),
            "The AI provider rejected the request (400): Invalid request parameters.",
        ),
        (
            error_reply(403),
            "The AI provider refused the request (403): Request blocked: flagged by moderation.",
        ),
        (error_reply(408), "The AI provider timed out (408)."),
        (error_reply(500), "The AI provider reported an error (500): Internal Server Error."),
        (
            error_reply(502),
            "The AI provider is unavailable (502): Provider returned error; try again later.",
        ),
        (
            error_reply(503, retry_after="5"),
            "The AI provider is unavailable (503): No instances available; try again in 5 s.",
        ),
        (
            error_reply(500, body="<html>oops</html>"),
            "The AI provider reported an error (500): <html>oops</html>.",
        ),
        (error_reply(504, body=""), "The AI provider reported an error (504)."),
    ],
)
async def test_http_errors_become_readable(http, fake, reply, message) -> None:
    fake.queue(reply)
    events, error = await run_error(provider(http, fake))
    assert events == []
    assert error.message == message
    assert error.status == reply.status


async def test_wrong_key_is_rejected_by_the_fake(http, fake) -> None:
    _events, error = await run_error(provider(http, fake, key="sk-or-v1-wrong"))
    assert error.message == "The AI provider rejected the API key (401)."
    assert error.status == 401
    assert fake.replies == type(fake.replies)()


async def test_mid_stream_error_after_some_text(http, fake) -> None:
    fake.queue(StreamReply([Data(chunk({"content": "Partial"})), mid_stream_error()], done=False))
    events, error = await run_error(provider(http, fake))
    assert events == [TextDelta("Partial")]
    assert error.message == "The AI provider reported an error: Provider disconnected unexpectedly"
    assert error.status == 502


async def test_mid_stream_error_with_string_code_then_done(http, fake) -> None:
    fake.queue(StreamReply([mid_stream_error("Upstream failed", code="server_error")]))
    _events, error = await run_error(provider(http, fake))
    assert error.message == "The AI provider reported an error: Upstream failed"
    assert error.status is None


async def test_finish_reason_error_without_error_object(http, fake) -> None:
    fake.queue(StreamReply([Data(chunk({"content": "x"}, "error"))]))
    _events, error = await run_error(provider(http, fake))
    assert error.message == "The AI provider reported an error."


@pytest.mark.parametrize("chunked", [True, False])
async def test_connection_dropped_mid_answer(http, fake, chunked) -> None:
    fake.queue(StreamReply([Data(chunk({"content": "Half an ans"})), Drop()], chunked=chunked))
    events, error = await run_error(provider(http, fake))
    assert events == [TextDelta("Half an ans")]
    assert error.message == "The AI provider closed the connection mid-answer."


@pytest.mark.parametrize("chunked", [True, False])
async def test_drop_after_finish_reason_counts_as_done(http, fake, chunked) -> None:
    fake.queue(
        StreamReply(
            [Data(chunk({"content": "Done."})), Data(chunk(None, "stop")), Drop()], chunked=chunked
        )
    )
    events = await run(provider(http, fake))
    assert events == [TextDelta("Done."), Finish("stop")]


async def test_clean_close_without_done_or_finish_is_an_error(http, fake) -> None:
    fake.queue(StreamReply([Data(chunk({"content": "abc"}))], done=False))
    _events, error = await run_error(provider(http, fake))
    assert error.message == "The AI provider closed the connection mid-answer."


async def test_unreachable_provider(http) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ProviderClient(
        http, base_url=f"http://127.0.0.1:{port}/api/v1", api_key="k", timeouts=Timeouts()
    )
    with pytest.raises(ProviderError) as caught:
        await run(client)
    assert caught.value.message == "The AI provider could not be reached."


# --- timeouts ------------------------------------------------------------------------------------


async def test_first_token_timeout_ignores_keepalive_comments(http, fake) -> None:
    steps: list[Any] = [Comment(), Sleep(0.1)] * 6 + [Data(chunk({"content": "late"}))]
    fake.queue(StreamReply(steps))
    events, error = await run_error(provider(http, fake, first_token=0.25))
    assert events == []
    assert error.message == "The AI provider timed out waiting for the first token."


async def test_first_token_timeout_before_response_headers(http, fake) -> None:
    reply = error_reply(500)
    reply.delay = 1.0
    fake.queue(reply)
    _events, error = await run_error(provider(http, fake, first_token=0.2))
    assert error.message == "The AI provider timed out waiting for the first token."


async def test_idle_timeout_between_chunks(http, fake) -> None:
    fake.queue(
        StreamReply(
            [Data(chunk({"content": "Start"})), Sleep(1.0), Data(chunk({"content": "never"}))]
        )
    )
    events, error = await run_error(provider(http, fake, idle=0.2))
    assert events == [TextDelta("Start")]
    assert error.message == "The AI provider sent nothing for 0.2 s."


async def test_total_timeout_even_while_chunks_keep_coming(http, fake) -> None:
    steps: list[Any] = []
    for i in range(20):
        steps += [Data(chunk({"content": f"{i} "})), Sleep(0.05)]
    fake.queue(StreamReply(steps))
    # idle is far above the 0.05 s gaps, so only the total limit can end this stream
    events, error = await run_error(provider(http, fake, idle=5, total=0.5))
    assert 1 <= len(events) < 20
    assert error.message == "The AI provider did not finish within 0.5 s."


async def test_slow_but_steady_stream_succeeds(http, fake) -> None:
    steps: list[Any] = [
        Sleep(0.05),
        Data(chunk({"content": "a"})),
        Sleep(0.05),
        Data(chunk({"content": "b"}, "stop")),
    ]
    fake.queue(StreamReply(steps))
    events = await run(provider(http, fake, first_token=0.5, idle=0.5, total=2))
    assert text_of(events) == "ab"


async def test_abandoning_a_stream_closes_the_connection(http, fake) -> None:
    steps: list[Any] = [Data(chunk({"content": "a"}))] + [
        Sleep(0.05),
        Data(chunk({"content": "b"})),
    ] * 40
    fake.queue(StreamReply(steps))
    stream = provider(http, fake).stream_chat(model=VISION_MODEL, messages=MESSAGES, tools=None)
    first = await anext(stream)
    await stream.aclose()
    assert first == TextDelta("a")
    # The next reply still works on the same client (the pool was not left in a bad state).
    fake.queue(text_reply("again"))
    assert text_of(await run(provider(http, fake))) == "again"


# --- model list and catalogue ---------------------------------------------------------------


async def test_list_models_returns_raw_entries(http, fake) -> None:
    raw = await provider(http, fake).list_models()
    assert [m["id"] for m in raw] == [VISION_MODEL, TEXT_MODEL, IMAGE_OUTPUT_MODEL]
    assert fake.models_requests[0].headers["authorization"] == f"Bearer {DEFAULT_KEY}"


async def test_list_models_failure(http, fake) -> None:
    fake.models_status = 500
    with pytest.raises(ProviderError) as caught:
        await provider(http, fake).list_models()
    assert caught.value.status == 500


async def test_catalog_shape(http, fake) -> None:
    catalog = ModelCatalog(provider(http, fake), default_model=VISION_MODEL)
    models, real = await catalog.list()
    assert real is True
    assert models == [
        {
            "id": VISION_MODEL,
            "name": "OpenAI: GPT-4o",
            "context_length": 128000,
            "pricing": {"prompt": "0.0000025", "completion": "0.00001"},
            "supports_images": True,
            "supports_tools": True,
        },
        {
            "id": TEXT_MODEL,
            "name": "Meta: Llama 3 8B Instruct",
            "context_length": 128000,
            "pricing": {"prompt": "0.0000025", "completion": "0.00001"},
            "supports_images": False,
            "supports_tools": False,
        },
    ]  # the image-output model is left out: it cannot chat
    assert await catalog.knows(TEXT_MODEL) is True
    assert await catalog.knows("nobody/nothing") is False
    assert (await catalog.get(VISION_MODEL))["supports_images"] is True  # type: ignore[index]
    assert await catalog.get("nobody/nothing") is None


async def test_catalog_caches_for_its_ttl(http, fake) -> None:
    now = [1000.0]
    catalog = ModelCatalog(
        provider(http, fake), default_model=VISION_MODEL, ttl_seconds=3600, clock=lambda: now[0]
    )
    await catalog.list()
    await catalog.get(VISION_MODEL)
    await catalog.knows(TEXT_MODEL)
    assert len(fake.models_requests) == 1
    now[0] += 3601
    await catalog.list()
    assert len(fake.models_requests) == 2


async def test_catalog_concurrent_callers_share_one_fetch(http, fake) -> None:
    catalog = ModelCatalog(provider(http, fake), default_model=VISION_MODEL)
    results = await asyncio.gather(*(catalog.list() for _ in range(10)))
    assert len(fake.models_requests) == 1
    assert all(real for _models, real in results)


async def test_catalog_falls_back_to_the_default_model_briefly(http, fake) -> None:
    now = [0.0]
    fake.models_status = 500
    catalog = ModelCatalog(
        provider(http, fake),
        default_model="acme/default",
        failure_ttl_seconds=60,
        clock=lambda: now[0],
    )
    models, real = await catalog.list()
    assert real is False
    assert models == [
        {
            "id": "acme/default",
            "name": "acme/default",
            "context_length": None,
            "pricing": {"prompt": None, "completion": None},
            "supports_images": False,
            "supports_tools": True,
        }
    ]
    assert await catalog.knows("acme/default") is None
    assert (await catalog.get("acme/default")) == models[0]
    assert len(fake.models_requests) == 1
    fake.models_status = 200
    now[0] += 61
    models, real = await catalog.list()
    assert real is True
    assert len(models) == 2
