"""Loopback servers for tests: a small raw HTTP/1.1 server, uvicorn for ASGI apps, thread runners.

Everything binds 127.0.0.1 on a free port and exposes `.url`. The raw server gives handlers the
socket itself, so fakes can stream slowly, count the bytes they sent, or drop the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

import uvicorn

HOST = "127.0.0.1"
MAX_HEAD = 64 * 1024
logger = logging.getLogger(__name__)


@dataclass
class Request:
    """One HTTP request as the fake server received it."""

    method: str
    target: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """Writes one response on the raw socket; every response closes the connection."""

    writer: asyncio.StreamWriter
    bytes_sent: int = 0
    started: bool = False
    chunked: bool = False
    finished: bool = False
    client_gone: bool = False

    async def send(
        self,
        status: int,
        body: bytes | str = b"",
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        """A complete response with Content-Length."""
        data = body.encode() if isinstance(body, str) else body
        head = {"Content-Type": content_type, "Content-Length": str(len(data)), **(headers or {})}
        await self._head(status, head)
        await self._raw(data)
        self.finished = True

    async def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        await self.send(status, json.dumps(obj), content_type="application/json", headers=headers)

    async def start(
        self, status: int, headers: dict[str, str] | None = None, *, chunked: bool = True
    ) -> None:
        """Start a streamed body: chunked, or delimited by closing the connection."""
        self.chunked = chunked
        head = dict(headers or {})
        if chunked:
            head["Transfer-Encoding"] = "chunked"
        await self._head(status, head)

    async def write(self, data: bytes | str) -> None:
        """Send part of a streamed body (and wait until the socket takes it)."""
        raw = data.encode() if isinstance(data, str) else data
        if self.chunked:
            raw = b"%x\r\n%s\r\n" % (len(raw), raw) if raw else b""
        await self._raw(raw)

    async def end(self) -> None:
        """Finish a streamed body properly."""
        if self.chunked and not self.finished:
            await self._raw(b"0\r\n\r\n")
        self.finished = True

    def drop(self) -> None:
        """Abort the TCP connection right now (no chunk terminator, no FIN handshake)."""
        self.finished = True
        self.writer.transport.abort()

    async def _head(self, status: int, headers: dict[str, str]) -> None:
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "X"
        lines = [f"HTTP/1.1 {status} {reason}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.started = True
        await self._raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    async def _raw(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.client_gone = True
            raise ConnectionResetError("client went away") from None
        self.bytes_sent += len(data)


Handler = Callable[[Request, Response], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    return Request(method, target, parts.path, parse_qs(parts.query), headers, body)


class RawServer:
    """asyncio HTTP/1.1 server on 127.0.0.1:<free port> calling `handler(request, response)`."""

    def __init__(
        self, handler: Handler, host: str = HOST, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.handler = handler
        self.host = host
        self.ssl_context = ssl_context
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, self.host, 0, limit=MAX_HEAD, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> RawServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await _read_request(reader)
            if request is not None:
                await self._respond(request, Response(writer))
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, request: Request, response: Response) -> None:
        try:
            await self.handler(request, response)
            if response.started and not response.finished:
                await response.end()
        except ConnectionResetError:
            pass
        except Exception as exc:
            logger.exception("fake server handler failed")
            if not response.started:
                with contextlib.suppress(ConnectionResetError):
                    await response.send(500, f"fake server error: {exc!r}")


@dataclass
class RunningServer:
    """A started server's address."""

    host: str
    port: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers, so it can run inside a test's event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


@asynccontextmanager
async def serve_asgi(app: Any, **config: Any) -> AsyncIterator[RunningServer]:
    """Run an ASGI app with uvicorn in the current event loop; extra kwargs go to uvicorn.Config."""
    sock = _bound_socket()
    config.setdefault("log_level", "warning")
    server = _QuietServer(uvicorn.Config(app, **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped during startup")
            await asyncio.sleep(0.01)
        yield RunningServer(HOST, sock.getsockname()[1])
    finally:
        server.should_exit = True
        await task
        sock.close()


T = TypeVar("T")


class ThreadedServer(Generic[T]):
    """Runs an async context manager (a server) in its own thread and event loop.

    `with ThreadedServer(lambda: serve_asgi(app)) as running: running.url` — for browser tests
    whose own code is synchronous.
    """

    def __init__(self, factory: Callable[[], AbstractAsyncContextManager[T]]) -> None:
        self.factory = factory
        self.value: T | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)

    def __enter__(self) -> T:
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise self._error
        assert self.value is not None, "server did not start in 30 s"
        return self.value

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with self.factory() as value:
            self.value = value
            self._ready.set()
            await self._stop.wait()


class FakeService:
    """Base for fake outside services: `async with Fake() as fake`, or `with fake.in_thread()`."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.ssl_context: ssl.SSLContext | None = None  # set before start() to serve https
        self._server: RawServer | None = None

    async def handle(self, request: Request, response: Response) -> None:
        raise NotImplementedError

    async def _record_and_handle(self, request: Request, response: Response) -> None:
        self.requests.append(request)
        await self.handle(request, response)

    @property
    def url(self) -> str:
        assert self._server is not None, "fake server not started"
        return self._server.url

    async def start(self) -> None:
        self._server = RawServer(self._record_and_handle, ssl_context=self.ssl_context)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    async def __aenter__(self: T_Fake) -> T_Fake:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def in_thread(self: T_Fake) -> ThreadedServer[T_Fake]:
        """Serve this fake from a background thread (its state stays readable from here)."""
        return ThreadedServer(lambda: self)


T_Fake = TypeVar("T_Fake", bound=FakeService)
