"""Lean load-generator clients: a hand-rolled WebSocket client and a keep-alive HTTP/1.1 client.

Why not the `websockets` client: one client core must out-run one server core, so frames are
parsed in one pass over each TCP read, with no task or future per frame.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable
from typing import Any, cast

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA

# A sink sees every text frame with the time of the TCP read it came in; True means "counted".
Sink = Callable[[bytes, float], bool]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client-to-server frame (RFC 6455 section 5.3)."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    key = os.urandom(4)
    mask = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return head + key + (int.from_bytes(payload, "big") ^ mask).to_bytes(n, "big")


class WsClient(asyncio.Protocol):
    """A WebSocket client connection; text frames go to `sink`, others to `expect()` waiters."""

    def __init__(self, host: str, port: int, path: str, sink: Sink | None) -> None:
        loop = asyncio.get_running_loop()
        self.request_line = (host, port, path)
        self.sink = sink
        self.counted = 0
        self.frames = 0
        self.close_code: int | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._key = base64.b64encode(os.urandom(16))
        self._buf = bytearray()
        self._handshaken = False
        self._waiters: list[tuple[bytes, asyncio.Future[bytes]]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        host, port, path = self.request_line
        self.transport.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self._key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("connection lost during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection lost"))

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._buf += data
        if not self._handshaken and not self._finish_handshake():
            return
        self._parse_frames(now)

    def _finish_handshake(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[: end + 4]
        accept = base64.b64encode(hashlib.sha1(self._key + WS_GUID).digest()).decode()
        if " 101 " not in head.split("\r\n")[0] or accept not in head:
            self.opened.set_exception(ConnectionError(head.split("\r\n")[0]))
            self.abort()
            return False
        self._handshaken = True
        self.opened.set_result(None)
        return True

    def _parse_frames(self, now: float) -> None:
        buf, pos, size = self._buf, 0, len(self._buf)
        while size - pos >= 2:
            length, start = buf[pos + 1] & 0x7F, pos + 2
            if length == 126:
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            end = start + length
            if end > size:
                break
            self._on_frame(buf[pos] & 0x0F, bytes(buf[start:end]), now)
            pos = end
        del buf[:pos]

    def _on_frame(self, opcode: int, payload: bytes, now: float) -> None:
        self.frames += 1
        if opcode == OP_TEXT:
            if self.sink is not None and self.sink(payload, now):
                self.counted += 1
            else:
                self._match(payload)
        elif opcode == OP_PING:
            self._write(client_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._write(client_frame(OP_CLOSE, payload[:2]))
            if self.transport is not None:
                self.transport.close()

    def _match(self, payload: bytes) -> None:
        for item in self._waiters:
            needle, future = item
            if needle in payload and not future.done():
                self._waiters.remove(item)
                future.set_result(payload)
                return

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def expect(self, needle: bytes) -> asyncio.Future[bytes]:
        """A future for the next uncounted text frame that contains `needle`."""
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiters.append((needle, future))
        return future

    def send_text(self, text: str | bytes) -> None:
        """Queue one text frame."""
        self._write(client_frame(OP_TEXT, text.encode() if isinstance(text, str) else text))

    def send_json(self, obj: Any) -> None:
        self.send_text(json.dumps(obj, separators=(",", ":")))

    def stall(self) -> None:
        """Stop reading from the socket: the kernel buffers fill, then the server's."""
        if self.transport is not None:
            self.transport.pause_reading()

    def unstall(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self) -> None:
        """Send a 1000 close frame and drop the connection without waiting for the reply."""
        self._write(client_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def open_ws(
    host: str, port: int, path: str, sink: Sink | None, *, rcvbuf: int | None = None
) -> WsClient:
    """Connect and finish the opening handshake (SO_RCVBUF is set before connect, if given)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        await loop.sock_connect(sock, (host, port))
        _, client = await loop.create_connection(
            lambda: WsClient(host, port, path, sink), sock=sock
        )
    except BaseException:
        sock.close()
        raise
    try:
        async with asyncio.timeout(10):
            await client.opened
    except BaseException:
        client.abort()
        raise
    return client


class HttpClient:
    """One keep-alive HTTP/1.1 connection speaking JSON (responses need Content-Length)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        """Send one request and return (status, decoded JSON body or None) within 30 s. A
        kept-alive connection the server closed while idle (uvicorn's keep-alive timeout) is
        reopened once: the server read nothing from it."""
        async with asyncio.timeout(30):
            try:
                return await self._request(method, path, body, token)
            except (ConnectionResetError, asyncio.IncompleteReadError):
                self.close()
                self._writer = None
                return await self._request(method, path, body, token)

    async def _request(
        self, method: str, path: str, body: Any, token: str | None
    ) -> tuple[int, Any]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        data = b"" if body is None else json.dumps(body).encode()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self._writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        return await _read_response(self._reader)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, Any]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionResetError("the server closed the connection")
    status = int(status_line.split()[1])
    length = None
    for _ in range(100):  # header lines
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise ConnectionError(f"HTTP {status} without Content-Length")
    raw = await reader.readexactly(length)
    return status, json.loads(raw) if raw else None
