"""This process's sockets: who joined which room, and fan-out through bounded outboxes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any

from starlette.websockets import WebSocket

from groupchat.events import encode_frame as encode
from groupchat.realtime.bus import Event

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013  # "try again later": the client reconnects and catches up
CLOSE_UNAUTHORIZED = 4401


class Connection:
    """One socket. Frames are written straight through while the socket keeps up; once a
    write has to wait, later frames queue in a bounded outbox drained by one writer task
    (DESIGN.md: write-through is cheapest when sparse, the outbox keeps a stalled reader
    from freezing the room)."""

    def __init__(self, ws: WebSocket, user_id: str, jti: str, queue_size: int) -> None:
        self.ws = ws
        self.user_id = user_id
        self.jti = jti
        self.rooms: set[str] = set()
        self._outbox: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._writer: asyncio.Task[None] | None = None  # alive only while backlogged
        self._closer: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        """Nothing to start: the writer task exists only while the socket is backlogged."""

    def send(self, text: str) -> None:
        """Write now if nothing is pending, else queue; a full outbox closes the socket."""
        if self.closed:
            return
        if self._writer is None:
            self._write_through(text)
            return
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.info("closing a socket of user %s: it cannot keep up", self.user_id)
            self.close_soon(CLOSE_TOO_SLOW, "too slow")

    def _write_through(self, text: str) -> None:
        # Run the ASGI send by hand: while the transport is writable it completes without
        # suspending, saving a queue hop and a task wake-up per frame and socket.
        write = self.ws.send_text(text)
        try:
            waiting_on = write.send(None)
        except StopIteration:
            return
        except Exception:  # the peer went away; the reader loop notices and unregisters
            self.closed = True
            return
        self._writer = asyncio.create_task(self._finish_then_drain(write, waiting_on))

    async def _finish_then_drain(self, write: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        try:
            await _resume(write, waiting_on)
            while not self._outbox.empty():
                await self.ws.send_text(self._outbox.get_nowait())
        except asyncio.CancelledError:
            raise
        except Exception:
            self.closed = True
        finally:
            self._writer = None

    def close_soon(self, code: int, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self._closer = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._writer is not None:
            self._writer.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    async def stop(self) -> None:
        """Stop the writer (the socket is gone)."""
        self.closed = True
        writer = self._writer
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer


async def _resume(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    """Drive a coroutine that suspended on `waiting_on` to its end (what a Task would do)."""
    while True:
        if waiting_on is not None:
            # What Task.__step does with a yielded future before it waits on it.
            waiting_on._asyncio_future_blocking = False
        try:
            # A failed future is fine here: the coroutine reads its result when resumed.
            with contextlib.suppress(Exception):
                await (asyncio.sleep(0) if waiting_on is None else waiting_on)
        except asyncio.CancelledError as exc:
            coro.throw(exc)
            raise
        try:
            waiting_on = coro.send(None)
        except StopIteration:
            return


class Hub:
    """Routes bus events to local sockets."""

    def __init__(self) -> None:
        self._by_room: defaultdict[str, set[Connection]] = defaultdict(set)
        self._by_user: defaultdict[str, set[Connection]] = defaultdict(set)

    def register(self, conn: Connection) -> None:
        self._by_user[conn.user_id].add(conn)
        conn.start()

    async def unregister(self, conn: Connection) -> None:
        for room_id in list(conn.rooms):
            self.leave(conn, room_id)
        _discard(self._by_user, conn.user_id, conn)
        await conn.stop()

    def join(self, conn: Connection, room_id: str) -> None:
        conn.rooms.add(room_id)
        self._by_room[room_id].add(conn)

    def leave(self, conn: Connection, room_id: str) -> None:
        conn.rooms.discard(room_id)
        _discard(self._by_room, room_id, conn)

    def connection_count(self) -> int:
        return sum(len(conns) for conns in self._by_user.values())

    def user_connection_count(self, user_id: str) -> int:
        """How many sockets this user holds in this process."""
        return len(self._by_user.get(user_id, ()))

    def deliver(self, event: Event) -> None:
        """Fan an event out to the sockets it is for (called by the bus)."""
        if event.control is not None:
            return
        if event.close_jti is not None:
            self._close_token(event.close_jti)
            return
        targets = set(self._by_room.get(event.room_id, ())) if event.room_id else set()
        for user_id in event.user_ids:
            targets.update(self._by_user.get(user_id, ()))
        text = encode(event.frame)
        sender_text = encode({**event.frame, **event.sender_extra}) if event.sender_extra else text
        for conn in targets:
            if conn.user_id == event.exclude_user_id:
                continue
            conn.send(sender_text if conn.user_id == event.sender_id else text)
        self._unjoin(event)

    def _unjoin(self, event: Event) -> None:
        if event.room_id is None:
            return
        for conn in list(self._by_room.get(event.room_id, ())):
            if event.unjoin_all or conn.user_id in event.unjoin_user_ids:
                self.leave(conn, event.room_id)

    def _close_token(self, jti: str) -> None:
        for conns in self._by_user.values():
            for conn in conns:
                if conn.jti == jti:
                    conn.close_soon(CLOSE_UNAUTHORIZED, "signed out")

    async def close_all(self) -> None:
        for conns in list(self._by_user.values()):
            for conn in list(conns):
                conn.close_soon(1001, "server shutting down")


def _discard(index: defaultdict[str, set[Connection]], key: str, conn: Connection) -> None:
    conns = index.get(key)
    if conns is not None:
        conns.discard(conn)
        if not conns:
            del index[key]
