"""This process's sockets: who joined which room, and fan-out of pre-framed bytes."""

from __future__ import annotations

import asyncio
import struct
from collections import defaultdict
from typing import Protocol

from groupchat.events import encode_frame as encode
from groupchat.realtime.bus import Event

CLOSE_TOO_SLOW = 1013  # "try again later": the client reconnects and catches up
CLOSE_UNAUTHORIZED = 4401
CLOSE_GOING_AWAY = 1001


class Socket(Protocol):
    """What the hub needs of a connection (realtime/protocol.py's ChatProtocol)."""

    user_id: str
    jti: str
    rooms: set[str]

    def write_frame(self, framed: bytes, payload: bytes) -> None:
        """Send one text frame: `framed` is its wire bytes, `payload` its UTF-8 text."""

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake (no-op when already closing)."""

    def flush(self) -> None:
        """Write the frames gathered since the last flush (see Hub.flush_soon)."""


def frame_text(payload: bytes) -> bytes:
    """An unmasked, unfragmented server-to-client text frame (RFC 6455 section 5.2): the same
    bytes for every receiver while permessage-deflate is off."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 65536:
        return struct.pack("!BBH", 0x81, 126, size) + payload
    return struct.pack("!BBQ", 0x81, 127, size) + payload


class Hub:
    """Routes bus events to local sockets: each event is encoded and framed once."""

    def __init__(self) -> None:
        self._by_room: defaultdict[str, set[Socket]] = defaultdict(set)
        self._by_user: defaultdict[str, set[Socket]] = defaultdict(set)
        self._unflushed: list[Socket] = []

    def flush_soon(self, conn: Socket) -> None:
        """Have `conn.flush()` called once this turn of the event loop is over. A socket that
        gets several frames in one turn (a group-committed batch, AI stream chunks, a burst from
        the bus) then writes them with one system call, which costs as much as one frame."""
        if not self._unflushed:
            asyncio.get_running_loop().call_soon(self._flush)
        self._unflushed.append(conn)

    def _flush(self) -> None:
        conns, self._unflushed = self._unflushed, []
        for conn in conns:
            conn.flush()

    def register(self, conn: Socket) -> None:
        self._by_user[conn.user_id].add(conn)

    def unregister(self, conn: Socket) -> None:
        for room_id in list(conn.rooms):
            self.leave(conn, room_id)
        _discard(self._by_user, conn.user_id, conn)

    def join(self, conn: Socket, room_id: str) -> None:
        conn.rooms.add(room_id)
        self._by_room[room_id].add(conn)

    def leave(self, conn: Socket, room_id: str) -> None:
        conn.rooms.discard(room_id)
        _discard(self._by_room, room_id, conn)

    def has_room(self, room_id: str) -> bool:
        """Whether a socket of this process joined the room (realtime/ordering.py asks)."""
        return room_id in self._by_room

    def room_ids(self) -> list[str]:
        """The rooms some socket of this process joined."""
        return list(self._by_room)

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
        if event.close_user_id is not None:
            self.close_user(event.close_user_id, keep_jti=event.keep_jti)
            return
        room = self._by_room.get(event.room_id) if event.room_id else None
        targets: tuple[Socket, ...] = tuple(room) if room else ()
        if event.user_ids:
            users = (self._by_user.get(user_id, ()) for user_id in event.user_ids)
            targets = tuple({*targets, *(conn for conns in users for conn in conns)})
        payload = encode(event.frame).encode()
        framed = frame_text(payload)
        if event.sender_id is None and event.exclude_user_id is None:
            for conn in targets:
                conn.write_frame(framed, payload)
        else:
            self._deliver_some(event, targets, framed, payload)
        self._unjoin(event)

    def _deliver_some(
        self, event: Event, targets: tuple[Socket, ...], framed: bytes, payload: bytes
    ) -> None:
        """Skip the excluded user; the sender's sockets get `sender_extra` merged in."""
        mine = payload
        if event.sender_extra:
            mine = encode({**event.frame, **event.sender_extra}).encode()
        mine_framed = frame_text(mine) if mine is not payload else framed
        for conn in targets:
            if conn.user_id == event.exclude_user_id:
                continue
            if conn.user_id == event.sender_id:
                conn.write_frame(mine_framed, mine)
            else:
                conn.write_frame(framed, payload)

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
                    conn.close(CLOSE_UNAUTHORIZED, "signed out")

    def close_user(
        self, user_id: str, reason: str = "signed out", keep_jti: str | None = None
    ) -> None:
        """Close every socket of one user in this process with 4401, but those of `keep_jti`."""
        for conn in list(self._by_user.get(user_id, ())):
            if conn.jti != keep_jti:
                conn.close(CLOSE_UNAUTHORIZED, reason)

    async def close_all(self) -> None:
        for conns in list(self._by_user.values()):
            for conn in list(conns):
                conn.close(CLOSE_GOING_AWAY, "server shutting down")


def _discard(index: defaultdict[str, set[Socket]], key: str, conn: Socket) -> None:
    conns = index.get(key)
    if conns is not None:
        conns.discard(conn)
        if not conns:
            del index[key]
