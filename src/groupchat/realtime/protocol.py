"""/ws served by callbacks on uvicorn's `websockets-sansio` protocol (DESIGN.md "Performance
facts"): no task, queue or ASGI scope per idle socket, and the hub's pre-framed bytes go
straight to the transport. Every other path goes to the ASGI app as before.

The hooks used here (handle_connect, send_receive_event_to_app, pause/resume_writing, the
`conn`, `transport`, `close_sent`, `close_timer` attributes) are uvicorn's private API:
pyproject.toml pins uvicorn's version range and tests/test_ws_protocol.py exercises them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections import deque
from collections.abc import Coroutine
from typing import Any
from urllib.parse import parse_qs

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from groupchat.realtime import ws
from groupchat.realtime.hub import CLOSE_TOO_SLOW, frame_text
from groupchat.schemas import User
from groupchat.services import Services

log = logging.getLogger(__name__)
CHAT_PATH = "/ws"
CLOSE_BAD_TEXT = 1007
READ_PAUSE_AT = 32  # frames waiting for the handler before we stop reading the socket
LINGER_ABORT = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: abort frees the kernel buffer now


class _Unused:
    """Stands in for the ASGI receive queue and the writable event, which a /ws socket never
    reads: ~3 KiB less per idle socket (their deques), and the parent's calls stay harmless."""

    __slots__ = ()

    def put_nowait(self, item: object) -> None:
        return None

    def set(self) -> None:
        return None

    def clear(self) -> None:
        return None


UNUSED: Any = _Unused()


class ChatProtocol(WebSocketsSansIOProtocol):
    """One client connection; on `/ws` it is also the hub's socket (hub.Socket)."""

    svc: Services | None = None  # set on /ws: the app's services, from the lifespan state
    user: User
    user_id: str = ""
    jti: str = ""
    rooms: set[str]
    budget: ws.FrameBudget
    # Writes go straight to the transport while this is true: open, no deflate, nothing waiting.
    _direct = False
    _gone = False
    _backlog: deque[str | bytes] | None = None  # frames waiting while a handler runs
    _stall_timer: asyncio.TimerHandle | None = None
    _written = 0  # bytes written since the transport last had to buffer
    _taken = 0  # of those, how many the kernel had taken at the last stall check

    # ---------------------------------------------------------------- handshake
    def handle_connect(self, event: Request) -> None:
        path, _, query = event.path.partition("?")
        svc = self.app_state.get("services")
        if path != CHAT_PATH or svc is None:
            super().handle_connect(event)
            return
        self.handshake_initiated = True
        response = self.conn.accept(event)
        headers = event.headers
        origins, hosts = headers.get_all("Origin"), headers.get_all("Host")
        origin, host = origins[0] if origins else None, hosts[0] if hosts else ""
        allowed = ws.host_allowed(host, svc.settings) and ws.origin_allowed(
            origin, host, svc.settings
        )
        if response.status_code != 101 or not allowed:
            self._refuse(response if response.status_code != 101 else None)
            return
        self.svc, self.response = svc, response
        self.queue, self.writable = UNUSED, UNUSED
        token = parse_qs(query).get("token", [""])[0]
        # websockets' parser generator keeps the request for the connection's life: ~2 KiB of
        # headers per idle socket, and the token in its path.
        headers.clear()
        event.path = ""
        self._run(self._open(svc, token))

    def _refuse(self, response: Any) -> None:
        """Answer the upgrade request with an HTTP error (403 unless websockets chose one)."""
        self.handshake_complete = self.close_sent = True
        self.conn.send_response(response or self.conn.reject(403, "Forbidden\n"))
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    async def _open(self, svc: Services, token: str) -> None:
        try:
            user, claims = await ws.admit(svc, token)
        except ws.Refused as refused:
            if self._accept():
                self.close(refused.code, refused.reason)
            return
        except Exception:
            log.exception("a WebSocket handshake failed")
            self.send_500_response()
            self.transport.close()
            return
        if not self._accept():
            return
        self.user, self.user_id, self.jti = user, user.id, claims.jti
        self.rooms = set()
        self.budget = ws.FrameBudget()
        svc.hub.register(self)

    def _accept(self) -> bool:
        """Send the 101 response; False when the client has gone meanwhile."""
        if self._gone or self.transport.is_closing():
            return False
        response = self.response
        del self.response  # kept for the connection's life otherwise
        del response.headers["Date"]
        response.headers.update(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in self.default_headers
        )
        self.handshake_complete = True
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.start_keepalive()
        settings = self.svc.settings if self.svc else None
        if settings and settings.ws_kernel_send_buffer:
            self._set_sockopt(socket.SO_SNDBUF, settings.ws_kernel_send_buffer)
        # Told the moment anything waits in user space (DESIGN.md: stalled readers).
        self.transport.set_write_buffer_limits(high=0, low=0)
        self._direct = not self.conn.extensions  # permessage-deflate frames per socket
        return True

    # ---------------------------------------------------------------- receiving
    def send_receive_event_to_app(self) -> None:
        if self.svc is None:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent or not self.user_id:
            return  # closing, or a frame sent before the handshake finished
        message: str | bytes = data
        if self.curr_msg_data_type == "text":
            try:
                message = data.decode()
            except UnicodeDecodeError:
                self.close(CLOSE_BAD_TEXT, "invalid UTF-8")
                return
        self._receive(message)

    def _receive(self, message: str | bytes) -> None:
        """Handle a frame now, or queue it behind the one being handled (order is kept)."""
        assert self.svc is not None
        if self._backlog is not None:
            self._backlog.append(message)
            if len(self._backlog) >= READ_PAUSE_AT and not self.read_paused:
                self.read_paused = True
                self.transport.pause_reading()
            return
        job = ws.on_frame(self.svc, self, message)
        if job is not None:
            self._backlog = deque()
            self._run(self._work(job))

    async def _work(self, job: Coroutine[Any, Any, None]) -> None:
        """Run handlers one at a time until no frame waits; then this task ends."""
        assert self.svc is not None and self._backlog is not None
        try:
            await job
            while self._backlog:
                if self.read_paused and len(self._backlog) < READ_PAUSE_AT // 2:
                    self.read_paused = False
                    self.transport.resume_reading()
                next_job = ws.on_frame(self.svc, self, self._backlog.popleft())
                if next_job is not None:
                    await next_job
        finally:
            self._backlog = None
            if self.read_paused and not self._gone:
                self.read_paused = False
                self.transport.resume_reading()

    def _run(self, coro: Coroutine[Any, Any, None]) -> None:
        """A short-lived task, awaited by uvicorn's graceful shutdown."""
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # ---------------------------------------------------------------- sending
    def write_frame(self, framed: bytes, payload: bytes) -> None:
        """hub.Socket: one text frame, already framed by the hub. Nothing is written once the
        transport is closing (uvicorn closes it itself after a client's close frame, a parse
        error or a missed pong; uvloop raises on a write after that)."""
        transport = self.transport
        if self._direct and not transport.is_closing():
            transport.write(framed)
            return
        if self._gone or self.close_sent or not self.handshake_complete or transport.is_closing():
            return
        if self.conn.extensions:
            self.conn.send_text(payload)
            framed = b"".join(self.conn.data_to_send())
        self._write(framed)
        if self._stall_timer is not None and self._over_cap():
            log.info("closing a socket of user %s: it cannot keep up", self.user_id)
            self.close(CLOSE_TOO_SLOW, "too slow")

    def write_frames(self, frames: list[tuple[bytes, bytes]]) -> None:
        """hub.Socket: several frames in one write while nothing waits in the transport."""
        if self._direct and not self.transport.is_closing():
            self.transport.write(b"".join(framed for framed, _ in frames))
            return
        for framed, payload in frames:
            self.write_frame(framed, payload)

    def _write(self, data: bytes) -> None:
        """Write, counting bytes while the transport buffers (what _check_stall compares)."""
        counting = self._stall_timer is not None  # pause_writing counts the write it was in
        self.transport.write(data)
        if counting:
            self._written += len(data)

    def _over_cap(self) -> bool:
        assert self.svc is not None
        return self.transport.get_write_buffer_size() > self.svc.settings.ws_send_buffer_bytes

    def send_text(self, text: str) -> None:
        """ws.Client: a frame for this socket only (in order with the hub's frames)."""
        payload = text.encode()
        assert self.svc is not None
        self.svc.hub.send(self, frame_text(payload), payload)

    def close(self, code: int, reason: str = "") -> None:
        """hub.Socket: send a close frame; the transport closes when the client answers, after
        close_timeout, or at once if the kernel stops taking bytes (see _check_stall)."""
        if self._gone or self.close_sent or not self.handshake_complete:
            return
        assert self.svc is not None
        self.svc.hub.flush()  # what the hub gathered this turn goes before the close frame
        self._direct = False
        self.conn.send_close(code, reason)
        self._write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)

    # ---------------------------------------------------------------- stalled readers
    def pause_writing(self) -> None:
        super().pause_writing()
        if self.svc is None or self._gone:
            return
        self._direct = False
        self._written = self.transport.get_write_buffer_size()
        self._taken = 0
        self._schedule_stall_check()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self._direct = bool(self.user_id) and not (
            self._gone or self.close_sent or self.conn.extensions
        )

    def _schedule_stall_check(self) -> None:
        assert self.svc is not None
        delay = self.svc.settings.ws_stall_seconds
        self._stall_timer = self.loop.call_later(delay, self._check_stall)

    def _check_stall(self) -> None:
        """Abort a socket whose kernel buffer took no bytes since the last check while data
        waited; a slow reader that takes some bytes is left alone."""
        taken = self._written - self.transport.get_write_buffer_size()
        if taken > self._taken:
            self._taken = taken
            self._schedule_stall_check()
            return
        log.info("aborting a socket of user %s: it stopped reading", self.user_id)
        self._stall_timer = None
        self._set_sockopt(socket.SO_LINGER, LINGER_ABORT)
        self.transport.abort()

    def _set_sockopt(self, option: int, value: int | bytes) -> None:
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, value)

    # ---------------------------------------------------------------- the end
    def connection_lost(self, exc: Exception | None) -> None:
        self._gone, self._direct = True, False
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        if self.svc is not None and self.user_id:
            self.svc.hub.unregister(self)
        super().connection_lost(exc)
