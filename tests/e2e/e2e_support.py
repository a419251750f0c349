"""Shared pieces of the browser tests: the server process, people, and API/UI shortcuts."""

from __future__ import annotations

import io
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from playwright.sync_api import BrowserContext, Locator, Page, WebSocketRoute

from fakes.openrouter import FakeOpenRouter
from fakes.tavily import FakeTavily

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Fakes:
    """The outside services the server talks to in these tests."""

    openrouter: FakeOpenRouter
    tavily: FakeTavily


@dataclass
class ServerProcess:
    """`python -m groupchat serve` on 127.0.0.1:<port>; restartable on the same port and db."""

    data_dir: Path
    port: int
    fakes: Fakes
    proc: subprocess.Popen[bytes] | None = None
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    settings: dict[str, str] = field(default_factory=dict)  # environment overrides

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The whole environment of the server process (nothing inherited)."""
        return {
            "BIND_ADDR": f"127.0.0.1:{self.port}",
            "DATABASE_URL": f"sqlite:///{self.data_dir}/chat.db",
            "UPLOAD_DIR": str(self.data_dir / "uploads"),
            "BACKUP_DIR": str(self.data_dir / "backups"),
            "JWT_SECRET": self.jwt_secret,
            "LOG_LEVEL": "warning",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "8192",
            "AUTH_RATE_PER_MINUTE": "0",
            "OPENROUTER_API_KEY": "test-key",
            "OPENROUTER_BASE_URL": self.fakes.openrouter.base_url,
            "AI_DEFAULT_MODEL": "openai/gpt-4o",
            "SEARCH_PROVIDER": "tavily",
            "TAVILY_API_KEY": "test",
            "TAVILY_BASE_URL": self.fakes.tavily.base_url,
            "FETCH_ALLOW_PRIVATE": "true",
            "REGISTRATION_MODE": "open",  # most tests sign people up freely
            "WS_MESSAGES_PER_SECOND": "0",  # tests seed history faster than people type
            **self.settings,
        }

    def start(self) -> None:
        """Start the process and wait until /healthz answers."""
        command = [sys.executable, "-m", "groupchat", "serve"]
        with (self.data_dir / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                command, env=self.env(), cwd=self.data_dir, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become healthy:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: the clients see their connections drop at once."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing after 10 s."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def log_tail(self, size: int = 4000) -> str:
        path = self.data_dir / "server.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""


@dataclass
class Person:
    """A signed-in user with their own browser context (a separate localStorage)."""

    username: str
    display_name: str
    token: str
    user_id: str
    context: BrowserContext
    page: Page
    base_url: str
    http: httpx.Client

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the REST API as this user."""
        return self.http.request(method, path, **kwargs)


def unique(name: str) -> str:
    """A username that no other test uses."""
    return f"{name}_{secrets.token_hex(3)}"


def register_api(base_url: str, name: str, display_name: str) -> dict[str, object]:
    """Register through the API; returns {token, user}."""
    body = {"username": name, "password": PASSWORD, "display_name": display_name}
    resp = httpx.post(f"{base_url}/api/auth/register", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    result: dict[str, object] = resp.json()
    return result


def create_room(owner: Person, name: str, **fields: Any) -> dict[str, Any]:
    """Create a room through the API."""
    resp = owner.api("POST", "/api/rooms", json={"name": name, **fields})
    assert resp.status_code == 201, resp.text
    room: dict[str, Any] = resp.json()
    return room


def add_member(owner: Person, room_id: str, guest: Person) -> None:
    """Invite and accept through the API."""
    resp = owner.api("POST", "/api/invites", json={"room_id": room_id})
    assert resp.status_code == 201, resp.text
    accepted = guest.api("POST", f"/api/invites/{resp.json()['token']}/accept")
    assert accepted.status_code == 200, accepted.text


def post_message(author: Person, room_id: str, content: str) -> dict[str, Any]:
    """Send a message through the REST API."""
    resp = author.api("POST", f"/api/rooms/{room_id}/messages", json={"content": content})
    assert resp.status_code == 201, resp.text
    message: dict[str, Any] = resp.json()
    return message


def open_room(person: Person, room_id: str) -> Locator:
    """Load the room page and return its message log once the history is shown."""
    person.page.goto(f"{person.base_url}/rooms/{room_id}")
    log = person.page.get_by_role("log", name="Messages")
    log.wait_for()
    return log


class SocketSwitch:
    """A page's /ws routed through Playwright, so a test can take it down and keep it down:
    while `offline`, each reconnect is closed with 4000. Set it up before the page loads.
    `on_send` sees each frame the page sends before it goes on to the server."""

    def __init__(self, page: Page, on_send: Callable[[str | bytes], None] | None = None) -> None:
        self.offline = False
        self.sockets: list[WebSocketRoute] = []
        self._on_send = on_send
        page.route_web_socket(re.compile(r"/ws\?"), self._relay)

    @property
    def reconnected(self) -> bool:
        """Whether a socket opened after the first one."""
        return len(self.sockets) > 1

    def drop(self) -> None:
        """Close the page's socket and refuse its reconnects until `restore`."""
        self.offline = True
        self.sockets[-1].close(code=4000, reason="offline")

    def restore(self) -> None:
        self.offline = False

    def _relay(self, ws: WebSocketRoute) -> None:
        if self.offline:
            ws.close(code=4000, reason="offline")
            return
        to_server = ws.connect_to_server()
        on_send = self._on_send
        if on_send is not None:

            def forward(message: str | bytes) -> None:
                on_send(message)
                to_server.send(message)

            ws.on_message(forward)
        self.sockets.append(ws)


def png_bytes(
    color: tuple[int, int, int] = (91, 79, 245), size: tuple[int, int] = (64, 48)
) -> bytes:
    """A small PNG image."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def axe_problems(page: Page) -> list[str]:
    """The serious and critical axe-core violations on the page as it is now, in the light and
    the dark colour scheme (contrast differs)."""
    from axe_playwright_python.sync_playwright import Axe  # only the tests that check need it

    problems = []
    for scheme in ("dark", "light"):  # light last: the tests' default
        page.emulate_media(color_scheme=scheme)
        # Colours fade between schemes (CSS transitions): check the settled ones.
        page.evaluate(
            "Promise.all(document.getAnimations()"
            ".filter((a) => a instanceof CSSTransition).map((a) => a.finished.catch(() => 0)))"
        )
        results = Axe().run(page, options={"resultTypes": ["violations"]})
        problems += [
            f"{scheme}: {v['id']} ({v['impact']}): {v['help']} — "
            f"{[n['target'] for n in v['nodes']][:5]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
    return problems


def setup_url(server: ServerProcess) -> str:
    """The one-time first-run setup link the server wrote to its log at startup."""
    found = re.search(r"/setup/([A-Za-z0-9_~-]+)", server.log_tail(100_000))
    assert found, f"no setup link in the server log:\n{server.log_tail()}"
    return f"{server.base_url}/setup/{found.group(1)}"
