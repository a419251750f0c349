"""Browser test fixtures: a real `python -m groupchat serve` subprocess, loopback fakes for the
AI and search providers, and Debian's Chromium driven by Playwright (never `playwright install`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from e2e.e2e_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    Fakes,
    Person,
    ServerProcess,
    free_port,
    register_api,
    unique,
)
from fakes.openrouter import FakeOpenRouter
from fakes.tavily import FakeTavily


@pytest.fixture(scope="session")
def fakes() -> Iterator[Fakes]:
    """Fake OpenRouter and Tavily in background threads, shared by all browser tests."""
    openrouter = FakeOpenRouter(api_key="test-key")
    tavily = FakeTavily(api_key="test")
    with ExitStack() as stack:
        stack.enter_context(openrouter.in_thread())
        stack.enter_context(tavily.in_thread())
        yield Fakes(openrouter, tavily)


def _server(
    tmp: Path, fakes: Fakes, settings: dict[str, str] | None = None
) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp, free_port(), fakes, settings=settings or {})
    server.start()
    try:
        yield server
    finally:
        server.stop()
        print(f"server log ({server.base_url}):\n{server.log_tail()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes) -> Iterator[ServerProcess]:
    """One server for the tests that do not stop it."""
    yield from _server(tmp_path_factory.mktemp("server"), fakes)


@pytest.fixture
def own_server(tmp_path: Path, fakes: Fakes) -> Iterator[ServerProcess]:
    """A server this test may kill and restart."""
    yield from _server(tmp_path, fakes)


@pytest.fixture
def server_with(tmp_path: Path, fakes: Fakes) -> Iterator[Callable[..., ServerProcess]]:
    """server_with(REGISTRATION_MODE="invite", ...) -> a fresh server with those settings."""
    stack = ExitStack()
    started: list[ServerProcess] = []

    def make(**settings: str) -> ServerProcess:
        data = tmp_path / f"server{len(started)}"
        data.mkdir()
        started.append(stack.enter_context(contextmanager(_server)(data, fakes, settings)))
        return started[-1]

    with stack:
        yield make


@pytest.fixture(autouse=True)
def _fresh_ai_script(fakes: Fakes) -> Iterator[None]:
    """Each test scripts its own AI replies."""
    fakes.openrouter.replies.clear()
    yield
    fakes.openrouter.replies.clear()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    # The whole suite shares 2 cores: give the page more than the default 5 s to catch up.
    expect.set_options(timeout=15_000)
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


PersonFactory = Callable[..., Person]


@pytest.fixture
def page_errors() -> Iterator[list[str]]:
    """Uncaught exceptions and CSP violations seen by any page of the test: there must be none."""
    errors: list[str] = []
    yield errors
    assert errors == []


def watch(context: BrowserContext, errors: list[str]) -> BrowserContext:
    """Record page errors and Content-Security-Policy violations of every page in the context.
    Failed requests, server errors and console errors are printed: pytest shows them (and the
    server's log, see _server) for a test that failed, which is all a CI run leaves behind."""
    context.on("requestfailed", lambda r: print(f"request failed: {r.method} {r.url}: {r.failure}"))
    context.on(
        "response",
        lambda r: print(f"{r.status} {r.request.method} {r.url}") if r.status >= 500 else None,
    )

    def on_page(page: Page) -> None:
        page.on("console", lambda msg: print(f"console {msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
        page.on(
            "console",
            lambda msg: (
                errors.append(f"{page.url}: {msg.text}")
                if "Content Security Policy" in msg.text
                else None
            ),
        )

    context.on("page", on_page)
    return context


@pytest.fixture
def person(browser: Browser, page_errors: list[str]) -> Iterator[PersonFactory]:
    """make(server, "alice") -> a Person registered via the API, signed in through localStorage."""
    people: list[Person] = []

    def make(server: ServerProcess, name: str, viewport: dict[str, int] | None = None) -> Person:
        display = name.capitalize()
        result = register_api(server.base_url, unique(name), display)
        token = str(result["token"])
        user = result["user"]
        assert isinstance(user, dict)
        storage = {
            "origin": server.base_url,
            "localStorage": [{"name": "gc.token", "value": token}],
        }
        context = browser.new_context(
            viewport=viewport or DESKTOP, storage_state={"cookies": [], "origins": [storage]}
        )
        watch(context, page_errors)
        auth = {"Authorization": f"Bearer {token}"}
        http = httpx.Client(base_url=server.base_url, headers=auth, timeout=10)
        people.append(
            Person(
                user["username"],
                display,
                token,
                user["id"],
                context,
                context.new_page(),
                server.base_url,
                http,
            )
        )
        return people[-1]

    yield make
    for someone in people:
        someone.context.close()
        someone.http.close()


@pytest.fixture
def blank_page(browser: Browser, page_errors: list[str]) -> Iterator[Callable[[], Page]]:
    """new() -> a page in a fresh context with nothing stored."""
    contexts: list[BrowserContext] = []

    def new() -> Page:
        context = watch(browser.new_context(viewport=DESKTOP), page_errors)
        contexts.append(context)
        return context.new_page()

    yield new
    for context in contexts:
        context.close()
