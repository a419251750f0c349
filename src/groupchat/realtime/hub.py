"""This process's sockets: who joined which room, and fan-out through bounded outboxes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from starlette.websockets import WebSocket

from groupchat.events import encode_frame as encode
from groupchat.realtime.bus import Event

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 1013  # "try again later": the client reconnects and catches up
CLOSE_UNAUTHORIZED = 4401


class Connection:
    """One socket with a bounded outbox drained by a single writer task."""

    def __init__(self, ws: WebSocket, user_id: str, jti: str, queue_size: int) -> None:
        self.ws = ws
        self.user_id = user_id
        self.jti = jti
        self.rooms: set[str] = set()
        self._outbox: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._writer: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        self._writer = asyncio.create_task(self._drain())

    def send(self, text: str) -> None:
        """Queue a frame; a socket whose outbox is full is closed instead of slowing the room."""
        if self.closed:
            return
        try:
            self._outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.info("closing a socket of user %s: it cannot keep up", self.user_id)
            self.close_soon(CLOSE_TOO_SLOW, "too slow")

    def close_soon(self, code: int, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        if self._writer is not None:
            self._writer.cancel()
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    async def _drain(self) -> None:
        try:
            while True:
                text = await self._outbox.get()
                await self.ws.send_text(text)
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away; the reader loop notices and unregisters
            self.closed = True

    async def stop(self) -> None:
        """Stop the writer (the socket is gone)."""
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer


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
