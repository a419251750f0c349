"""Web search (Tavily, Brave), page fetching and the ToolBox, against fakes on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from fakes.brave import FakeBrave
from fakes.pages import FakePages
from fakes.server import ThreadedServer, serve_asgi
from fakes.tavily import FakeTavily
from groupchat.ai.fetch import FetchError, PageText, fetch_page
from groupchat.ai.html_text import html_to_text
from groupchat.ai.search import (
    BraveSearch,
    SearchError,
    SearchResult,
    TavilySearch,
    strip_html,
)
from groupchat.ai.tools import ToolBox, ToolResult


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def tavily() -> AsyncIterator[FakeTavily]:
    async with FakeTavily() as fake:
        yield fake


@pytest.fixture
async def brave() -> AsyncIterator[FakeBrave]:
    async with FakeBrave() as fake:
        yield fake


@pytest.fixture
async def pages() -> AsyncIterator[FakePages]:
    async with FakePages() as fake:
        yield fake


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- Tavily ---------------------------------------------------------------------------------------


async def test_tavily_results_and_request(http, tavily) -> None:
    search = TavilySearch(http, tavily.api_key, base_url=tavily.base_url)
    results = await search.search("  what is   NIP-07? ")
    assert results == [
        SearchResult(
            "NIP-07 - window.nostr capability (what is NIP-07?)",
            "https://github.com/nostr-protocol/nips/blob/master/07.md",
            "The window.nostr object may be made available by browsers or extensions…",
        ),
        SearchResult("nos2x", "https://example.org/nos2x", "A signer extension."),
    ]
    request = tavily.requests[0]
    assert request.headers["authorization"] == f"Bearer {tavily.api_key}"
    assert request.json() == {"query": "what is NIP-07?", "max_results": 5, "search_depth": "basic"}


async def test_tavily_query_is_capped(http, tavily) -> None:
    await TavilySearch(http, tavily.api_key, base_url=tavily.base_url).search("x" * 1000)
    assert len(tavily.searches[0]["query"]) == 400


async def test_empty_query_is_refused_without_a_request(http, tavily) -> None:
    with pytest.raises(SearchError) as caught:
        await TavilySearch(http, tavily.api_key, base_url=tavily.base_url).search("   ")
    assert caught.value.message == "The search query is empty."
    assert tavily.requests == []


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (429, "Web search (Tavily) is rate limiting us (429); try again later."),
        (432, "Web search (Tavily) usage limit reached (432)."),
        (500, "Web search (Tavily) failed (500): Internal server error."),
    ],
)
async def test_tavily_errors(http, tavily, status, message) -> None:
    tavily.fail_status = status
    with pytest.raises(SearchError) as caught:
        await TavilySearch(http, tavily.api_key, base_url=tavily.base_url).search("q")
    assert caught.value.message == message
    assert caught.value.status == status


async def test_tavily_bad_key(http, tavily) -> None:
    with pytest.raises(SearchError) as caught:
        await TavilySearch(http, "tvly-wrong", base_url=tavily.base_url).search("q")
    assert caught.value.message == "Web search (Tavily) rejected the API key (401)."


async def test_tavily_timeout(http, tavily) -> None:
    tavily.delay = 1.0
    search = TavilySearch(http, tavily.api_key, base_url=tavily.base_url, timeout=0.2)
    with pytest.raises(SearchError) as caught:
        await search.search("q")
    assert caught.value.message == "Web search (Tavily) timed out."


async def test_search_service_unreachable(http) -> None:
    with pytest.raises(SearchError) as caught:
        await TavilySearch(http, "k", base_url=closed_port_url()).search("q")
    assert caught.value.message == "Web search (Tavily) could not be reached."


# --- Brave ----------------------------------------------------------------------------------------


async def test_brave_results_are_plain_text(http, brave) -> None:
    search = BraveSearch(http, brave.api_key, base_url=brave.base_url)
    results = await search.search("hello world")
    assert results == [
        SearchResult(
            '"Hello, World!" program - Wikipedia',
            "https://en.wikipedia.org/wiki/%22Hello,_World!%22_program",
            'A "Hello, World!" program (hello world) is usually a simple computer program '
            "that emits a message & exits.",
        ),
        SearchResult("Second", "https://example.org/second", "plain <tag> text"),
    ]
    request = brave.requests[0]
    assert request.headers["x-subscription-token"] == brave.api_key
    assert request.headers["accept"] == "application/json"
    assert request.query == {"q": ["hello world"], "count": ["5"]}


async def test_brave_query_capped_to_50_words(http, brave) -> None:
    await BraveSearch(http, brave.api_key, base_url=brave.base_url).search("w " * 80)
    assert len(brave.requests[0].query["q"][0].split()) == 50


async def test_brave_without_web_results(http, brave) -> None:
    brave.no_web = True
    assert await BraveSearch(http, brave.api_key, base_url=brave.base_url).search("q") == []


@pytest.mark.parametrize("status", [422, 401])
async def test_brave_bad_key(http, brave, status) -> None:
    brave.bad_key_status = status
    with pytest.raises(SearchError) as caught:
        await BraveSearch(http, "wrong", base_url=brave.base_url).search("q")
    assert caught.value.message == f"Web search (Brave) rejected the API key ({status})."


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (429, "Web search (Brave) is rate limiting us (429); try again later."),
        (422, "Web search (Brave) failed (422): Unable to validate request parameter(s)."),
    ],
)
async def test_brave_errors(http, brave, status, message) -> None:
    brave.fail_status = status
    with pytest.raises(SearchError) as caught:
        await BraveSearch(http, brave.api_key, base_url=brave.base_url).search("q")
    assert caught.value.message == message


def test_strip_html() -> None:
    assert strip_html("a <b>bold</b>&nbsp;&amp; <i>it&#39;s</i>\n  fine") == "a bold & it's fine"


# --- fetch_page content ---------------------------------------------------------------------------


async def fetch(pages: FakePages, path: str, **options) -> PageText:
    return await fetch_page(None, pages.url + path, allow_private=True, **options)


async def test_html_page_becomes_readable_text(pages) -> None:
    page = await fetch(pages, "/article")
    assert page.title == "Fake Article & Co"
    assert page.url == pages.url + "/article"
    assert page.truncated is False
    assert page.text == (
        "Home | About us\n\n"
        "Hello, world\n\n"
        "First paragraph with a link and bold text.\n\n"
        "one\n\ntwo <3\n\n"
        "Café — 日本"
    )
    for hidden in ("script text", "color: red", "Enable JavaScript", "svg text", "nope"):
        assert hidden not in page.text


def test_html_without_closing_head_keeps_the_body() -> None:
    assert html_to_text("<html><head><title>T</title><body><p>Body kept") == ("T", "Body kept")


@pytest.mark.parametrize(
    ("path", "title", "text"),
    [
        ("/plain", "", "just   text\nline two"),
        ("/data.json", "", '{"answer": 42}'),
        ("/latin1", "", "café"),
        ("/xhtml", "X", "xhtml body"),
        ("/no-head", "T", "Body kept"),
    ],
)
async def test_other_accepted_types(pages, path, title, text) -> None:
    page = await fetch(pages, path)
    assert (page.title, page.text) == (title, text)


@pytest.mark.parametrize(
    ("path", "kind"), [("/image.png", "image/png"), ("/no-type", "none given")]
)
async def test_unsupported_content_types(pages, path, kind) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch(pages, path)
    assert caught.value.message == f"The page has an unsupported content type ({kind})."


async def test_error_status(pages) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch(pages, "/missing")
    assert caught.value.message == "The page answered HTTP 404."


async def test_huge_page_stops_reading_at_the_byte_cap(pages) -> None:
    page = await fetch(pages, "/huge", max_bytes=300_000, max_chars=1_000_000)
    assert page.truncated is True
    assert page.title == "Huge"
    assert 250_000 < len(page.text) <= 300_000
    for _ in range(100):  # the server notices the closed socket on its next writes
        if pages.huge_aborted:
            break
        await asyncio.sleep(0.01)
    assert pages.huge_aborted
    assert not pages.huge_complete
    assert pages.huge_bytes_sent < 20 * 1024 * 1024  # of 200 MiB


async def test_text_is_capped_to_max_chars(pages) -> None:
    page = await fetch(pages, "/article", max_chars=20)
    assert page.truncated is True
    assert page.text == "Home | About us\n\nHel"


async def test_slow_page_times_out(pages) -> None:
    with pytest.raises(FetchError) as caught:
        await fetch(pages, "/slow", timeout=0.2)
    assert caught.value.message == "The page did not load within 0.2 s."


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_to_another_local_page(pages, status) -> None:
    page = await fetch(pages, f"/redirect?status={status}&to=/article")
    assert page.url == pages.url + "/article"
    assert page.title == "Fake Article & Co"


async def test_redirect_limit(pages) -> None:
    assert (await fetch(pages, "/chain/4", max_redirects=5)).title == "Fake Article & Co"
    with pytest.raises(FetchError) as caught:
        await fetch(pages, "/chain/5", max_redirects=5)
    assert caught.value.message == "The page redirected more than 5 times."
    with pytest.raises(FetchError):
        await fetch(pages, "/loop")


async def test_unreachable_page() -> None:
    with pytest.raises(FetchError) as caught:
        await fetch_page(None, closed_port_url() + "/", allow_private=True)
    assert caught.value.message == "Could not connect to 127.0.0.1."


async def test_fetch_with_a_given_client(http, pages) -> None:
    page = await fetch_page(http, pages.url + "/plain", allow_private=True)
    assert page.text == "just   text\nline two"


# --- ToolBox --------------------------------------------------------------------------------------


def toolbox(http, search=None, **options) -> ToolBox:
    return ToolBox(search=search, http=http, fetch_options={"allow_private": True, **options})


def test_definitions_depend_on_search(http, tavily) -> None:
    without = toolbox(http).definitions()
    assert [d["function"]["name"] for d in without] == ["fetch_page"]
    with_search = toolbox(http, TavilySearch(http, "k")).definitions()
    assert [d["function"]["name"] for d in with_search] == ["web_search", "fetch_page"]
    assert with_search[0]["type"] == "function"
    assert with_search[0]["function"]["parameters"]["required"] == ["query"]
    assert with_search[1]["function"]["parameters"]["required"] == ["url"]


async def test_web_search_tool(http, brave) -> None:
    tools = toolbox(http, BraveSearch(http, brave.api_key, base_url=brave.base_url))
    result = await tools.run("web_search", '{"query": "hello"}')
    assert result.ok is True
    assert result.input == {"query": "hello"}
    assert json.loads(result.content)[1] == {
        "title": "Second",
        "url": "https://example.org/second",
        "snippet": "plain <tag> text",
    }
    compact = json.dumps(json.loads(result.content), ensure_ascii=False, separators=(",", ":"))
    assert result.content == compact


async def test_fetch_page_tool(http, pages) -> None:
    result = await toolbox(http).run("fetch_page", json.dumps({"url": pages.url + "/plain"}))
    assert result.ok is True
    assert json.loads(result.content) == {
        "url": pages.url + "/plain",
        "title": "",
        "text": "just   text\nline two",
        "truncated": False,
    }


@pytest.mark.parametrize(
    ("name", "arguments", "content", "input"),
    [
        ("fetch_page", "{not json", "The tool arguments were not valid JSON.", {}),
        ("fetch_page", "[1, 2]", "The tool arguments must be a JSON object.", {}),
        ("fetch_page", "", "fetch_page needs a non-empty string argument `url`.", {}),
        (
            "fetch_page",
            '{"url": 5}',
            "fetch_page needs a non-empty string argument `url`.",
            {"url": 5},
        ),
        (
            "web_search",
            '{"query": "x"}',
            "Web search is not configured on this server.",
            {"query": "x"},
        ),
        ("rm_rf", "{}", "There is no tool named 'rm_rf'.", {}),
        (
            "fetch_page",
            '{"url": "file:///etc/passwd"}',
            "Only http and https pages can be fetched, not file:.",
            {"url": "file:///etc/passwd"},
        ),
    ],
)
async def test_tool_failures_are_results(http, name, arguments, content, input) -> None:
    assert await toolbox(http).run(name, arguments) == ToolResult(False, content, input)


async def test_search_error_becomes_a_result(http, tavily) -> None:
    tavily.fail_status = 429
    tools = toolbox(http, TavilySearch(http, tavily.api_key, base_url=tavily.base_url))
    result = await tools.run("web_search", '{"query": "q"}')
    assert result == ToolResult(
        False, "Web search (Tavily) is rate limiting us (429); try again later.", {"query": "q"}
    )


async def test_private_page_refused_by_default(http, pages) -> None:
    tools = ToolBox(search=None, http=http, fetch_options={})
    result = await tools.run("fetch_page", json.dumps({"url": pages.url + "/article"}))
    assert result.ok is False
    assert result.content == (
        "Refusing to fetch from 127.0.0.1: it resolves to a private or reserved address."
    )
    assert pages.requests == []


async def test_tool_timeout(http, pages) -> None:
    tools = ToolBox(search=None, http=http, fetch_options={"allow_private": True}, timeout=0.2)
    result = await tools.run("fetch_page", json.dumps({"url": pages.url + "/slow"}))
    assert result == ToolResult(
        False, "The tool fetch_page took longer than 0.2 s.", {"url": pages.url + "/slow"}
    )


# --- the fake-server helpers themselves -----------------------------------------------------


async def hello_app(scope, receive, send) -> None:
    assert scope["type"] == "http"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello from asgi"})


async def test_serve_asgi_in_the_test_loop(http) -> None:
    async with serve_asgi(hello_app, lifespan="off") as running:
        assert running.url.startswith("http://127.0.0.1:")
        response = await http.get(running.url + "/")
    assert response.text == "hello from asgi"


def test_servers_in_a_background_thread() -> None:
    fake = FakeTavily()
    with (
        fake.in_thread() as tavily,
        ThreadedServer(lambda: serve_asgi(hello_app, lifespan="off")) as app,
        httpx.Client(trust_env=False) as client,
    ):
        assert client.get(app.url + "/").text == "hello from asgi"
        answer = client.post(tavily.url + "/search", json={"query": "q", "api_key": fake.api_key})
    assert answer.status_code == 200
    assert fake.searches == [{"query": "q", "api_key": fake.api_key}]
