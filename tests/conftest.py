"""Fixtures: a real uvicorn server on 127.0.0.1 per test, on a temporary SQLite file
(or PostgreSQL when TEST_DATABASE_URL is set), and helpers that speak HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import functools
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection

from groupchat.app import create_app
from groupchat.config import Settings
from groupchat.services import Services
from groupchat.serving import uvicorn_config

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
QUIET = 0.3  # seconds a socket must stay silent to count as "received nothing"
# The wire shapes of API.md, written out (not derived from our models) so tests can catch drift.
ROOM_KEYS = {
    "id",
    "name",
    "description",
    "is_public",
    "ai_mode",
    "ai_model",
    "ai_system_prompt",
    "ai_budget_usd",
    "created_by",
    "created_at",
    "member_count",
    "my_role",
    "unread_count",
    "mention_count",
    "last_read_id",
    "last_message",
}
USER_PUBLIC_KEYS = {"id", "username", "display_name", "avatar_url", "nostr_pubkey"}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # RFC 3339, ms, UTC


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings for a test: everything under tmp_path, cheap password hashing."""
    values: dict[str, Any] = {
        "database_url": TEST_DATABASE_URL or f"sqlite:///{tmp_path}/chat.db",
        "upload_dir": tmp_path / "uploads",
        "backup_dir": tmp_path / "backups",
        "jwt_secret": "test-secret-" + "x" * 40,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "auth_rate_per_minute": 0,  # tests sign up many people from one address
        "ws_messages_per_second": 0,  # tests post freely unless they test the posting rate
        "registration_mode": "open",  # tests sign up freely unless they test the modes
        "bind_addr": "127.0.0.1:0",
        "openrouter_api_key": None,
        "search_provider": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def reset_postgres(url: str, *, fresh: bool = False) -> None:
    """Empty the test database so each test starts with no rows: a database migrated to the
    newest revision keeps its tables (emptied: 40 ms, where migrating again took 200), any
    other is dropped. `fresh`: drop it whatever it holds (migration tests)."""
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        if not fresh and await _at_head(conn):
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
            names = ", ".join(f'"{row[0]}"' for row in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            return
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def _at_head(conn: Any) -> bool:
    import asyncpg

    try:
        versions = await conn.fetch("SELECT version_num FROM alembic_version")
    except asyncpg.UndefinedTableError:
        return False
    return [row[0] for row in versions] == [migration_head()]


@functools.cache
def migration_head() -> str:
    from alembic.script import ScriptDirectory

    from groupchat.db.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


@functools.cache
def migrated_sqlite() -> Path:
    """A SQLite file migrated to the newest revision, made once per test run: a test's
    database starts as a copy (migrating every test's file took ~130 ms each)."""
    from groupchat.db.engine import Database
    from groupchat.db.migrate import upgrade

    path = Path(tempfile.mkdtemp(prefix="groupchat-template-")) / "chat.db"
    atexit.register(shutil.rmtree, path.parent, ignore_errors=True)

    async def migrate() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(db)
        finally:
            await db.dispose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own event loop
        pool.submit(asyncio.run, migrate()).result()
    return path


async def fresh_database(settings: Settings) -> None:
    """No database at all (no file, no tables), for tests of migrations and first starts."""
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL, fresh=True)
        return
    path = settings.sqlite_path
    assert path is not None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@dataclass
class Server:
    """A running GroupChat server."""

    base_url: str
    ws_url: str
    settings: Settings
    app: Any
    _uvicorn: uvicorn.Server
    _task: asyncio.Task[None]

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    async def stop(self) -> None:
        self._uvicorn.should_exit = True
        await asyncio.wait_for(self._task, 10)


async def start_server(settings: Settings) -> Server:
    """Start uvicorn in this event loop on a free loopback port."""
    app = create_app(settings)
    config = uvicorn_config(app, settings, "127.0.0.1", 0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the startup error
            raise RuntimeError("server stopped during startup")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    return Server(base, f"ws://127.0.0.1:{port}/ws", settings, app, server, task)


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    """A test's settings, its database migrated and empty (see fresh_database for none)."""
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    else:
        shutil.copyfile(migrated_sqlite(), tmp_path / "chat.db")
    return make_settings(tmp_path)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    srv = await start_server(settings)
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client


class Socket:
    """A client WebSocket that reads JSON frames with timeouts."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 5) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        return frame

    async def expect(self, type_: str, timeout: float = 5) -> dict[str, Any]:
        """The next frame of this type; frames of other types before it are skipped."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            frame = await self.recv(max(left, 0.01))
            if frame["type"] == type_:
                return frame

    async def silent(self, duration: float = QUIET) -> None:
        """Assert that nothing arrives for `duration` seconds."""
        try:
            frame = await asyncio.wait_for(self.ws.recv(), duration)
        except TimeoutError:
            return
        raise AssertionError(f"expected no frame, got {frame!r}")

    async def join(self, room_id: str) -> None:
        await self.send({"type": "join_room", "room_id": room_id})
        frame = await self.recv()
        assert frame == {"type": "joined", "room_id": room_id}, frame

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class Actor:
    """A signed-in user: token, user object, and a way to open sockets."""

    name: str
    token: str
    user: dict[str, Any]
    server: Server
    sockets: list[Socket] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def socket(self, *, join: tuple[str, ...] = ()) -> Socket:
        ws = await websockets.connect(
            f"{self.server.ws_url}?token={self.token}", max_size=2**22, open_timeout=5
        )
        sock = Socket(ws)
        self.sockets.append(sock)
        for room_id in join:
            await sock.join(room_id)
        return sock


Register = Callable[[str], Awaitable[Actor]]


async def sign_up(
    http: httpx.AsyncClient,
    server: Any,
    name: str,
    password: str | None = None,
    display_name: str | None = None,
) -> Actor:
    """A new account made through the API on `server` (a Server, or anything with its
    base_url and ws_url), signed in; a random password unless one is given."""
    body = {"username": name, "password": password or secrets.token_hex(8)}
    if display_name is not None:
        body["display_name"] = display_name
    resp = await http.post("/api/auth/register", json=body)
    assert resp.status_code == 201, resp.text
    return Actor(name, resp.json()["token"], resp.json()["user"], server)


@pytest.fixture
async def register(server: Server, http: httpx.AsyncClient) -> AsyncIterator[Register]:
    """register("alice") -> Actor; sockets are closed at the end of the test."""
    actors: list[Actor] = []

    async def make(name: str) -> Actor:
        actor = await sign_up(http, server, name, display_name=name.title())
        actors.append(actor)
        return actor

    yield make
    for actor in actors:
        for sock in actor.sockets:
            await sock.close()


@pytest.fixture
async def alice(register: Register) -> Actor:
    return await register("alice")


@pytest.fixture
async def bob(register: Register) -> Actor:
    return await register("bob")


@pytest.fixture
async def carol(register: Register) -> Actor:
    return await register("carol")


async def create_room(http: httpx.AsyncClient, owner: Actor, **fields: Any) -> dict[str, Any]:
    """A room owned by `owner`."""
    resp = await http.post("/api/rooms", json={"name": "general", **fields}, headers=owner.headers)
    assert resp.status_code == 201, resp.text
    room: dict[str, Any] = resp.json()
    return room


async def post_message(
    http: httpx.AsyncClient, actor: Actor, room_id: str, content: str, **extra: Any
) -> Any:
    """Post over REST (extra fields such as image_url or reply_to); the stored Message."""
    resp = await http.post(
        f"/api/rooms/{room_id}/messages", json={"content": content, **extra}, headers=actor.headers
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def add_member(
    http: httpx.AsyncClient, room: dict[str, Any], admin: Actor, who: Actor
) -> None:
    """Bring `who` into the room through an invite created by `admin`."""
    resp = await http.post("/api/invites", json={"room_id": room["id"]}, headers=admin.headers)
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    resp = await http.post(f"/api/invites/{token}/accept", headers=who.headers)
    assert resp.status_code == 200, resp.text


@pytest.fixture
def png_bytes() -> bytes:
    """A small valid PNG."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()
