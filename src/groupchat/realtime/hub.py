"""This process's sockets: who joined which room, and fan-out of pre-framed bytes."""

from __future__ import annotations

import asyncio
import struct
from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from groupchat.events import frame_bytes, with_extra
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

    def write_frames(self, frames: list[tuple[bytes, bytes]]) -> None:
        """Send several text frames, in order, with one write where it can."""


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
        self._sends: list[tuple[Iterable[Socket], bytes, bytes]] = []  # (to, framed, payload)

    def send(self, conn: Socket, framed: bytes, payload: bytes) -> None:
        """One frame for one socket, in its place among the hub's frames for that socket."""
        self._queue((conn,), framed, payload)

    def _queue(self, conns: Iterable[Socket], framed: bytes, payload: bytes) -> None:
        if not self._sends:
            asyncio.get_running_loop().call_soon(self.flush)
        self._sends.append((conns, framed, payload))

    def flush(self) -> None:
        """Write what this turn of the event loop gathered (it runs when the turn is over, and
        earlier after a published batch or before a close frame). A socket that got several
        frames (a group-committed batch, AI stream chunks, a burst from the bus) writes them
        with one system call, which costs about what one frame does."""
        sends, self._sends = self._sends, []
        if len(sends) == 1:  # the usual case: every socket gets one frame
            conns, framed, payload = sends[0]
            for conn in conns:
                conn.write_frame(framed, payload)
            return
        gathered: dict[Socket, list[tuple[bytes, bytes]]] = {}
        for conns, framed, payload in sends:
            for conn in conns:
                frames = gathered.get(conn)
                if frames is None:
                    gathered[conn] = [(framed, payload)]
                else:
                    frames.append((framed, payload))
        for conn, frames in gathered.items():
            if len(frames) == 1:
                conn.write_frame(*frames[0])
            else:
                conn.write_frames(frames)

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
        targets: set[Socket] = room if room else set()
        if event.user_ids:
            users = (self._by_user.get(user_id, ()) for user_id in event.user_ids)
            targets = targets.union(*users)
        payload = frame_bytes(event.frame)
        framed = frame_text(payload)
        if event.sender_id is None and event.exclude_user_id is None:
            self._queue(tuple(targets), framed, payload)
        else:
            self._deliver_some(event, targets, framed, payload)
        if event.unjoin_all or event.unjoin_user_ids:
            self._unjoin(event)

    def _deliver_some(
        self, event: Event, targets: set[Socket], framed: bytes, payload: bytes
    ) -> None:
        """Skip the excluded user; the sender's sockets get `sender_extra` merged in. Set
        operations over the few sockets of those two users, not a pass over the room's."""
        excluded = self._by_user.get(event.exclude_user_id or "", ())
        senders = self._by_user.get(event.sender_id or "", ())
        self._queue(targets.difference(excluded, senders), framed, payload)
        if event.sender_id is not None and event.sender_id != event.exclude_user_id:
            mine_senders = [conn for conn in senders if conn in targets]
            if mine_senders:
                mine = with_extra(payload, event.frame, event.sender_extra)
                mine_framed = frame_text(mine) if mine is not payload else framed
                self._queue(mine_senders, mine_framed, mine)

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
