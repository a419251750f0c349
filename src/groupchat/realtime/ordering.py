"""Live order across processes: a room's chain frames reach this process's sockets in chain
order, none twice and none skipped, through late frames, lost frames and restarts.

Every process publishes after its own commit, so frames of two posts committed a few
milliseconds apart by two processes can cross on the bus, and a frame is lost when its process
dies between commit and publish or Redis is down. Per room with sockets here the orderer keeps
its position: the hash of the last chain entry it delivered (`head`), read from the database
before the room's first socket joins (`ready`), never guessed from frames. Then:

- a frame whose `prev_hash` is the head goes out and becomes the head;
- a frame at or behind the head (its id is not above the head's, or its hash went out lately)
  is a late copy: dropped (an `ai_stream_end` still goes out, without moving the head: it ends
  the stream on screen, and its message is one the sockets have);
- any other chain frame waits, with every room frame behind it, at most REORDER_WAIT seconds;
  then the hole is filled from the database: the entries stored after the head, in chain order
  (ids sort in chain order), up to the last one a waiting frame announces, go out (as the
  waiting frame where there is one, else a frame built from the stored entry). A frame that
  arrived before that read was stored before it, so if it is not among those entries it is
  behind the head: dropped. The head therefore only moves along the stored chain, one entry at
  a time, whatever arrives late.

A chain that restarts (after a clear, or the room's first entry) is confirmed from the
database before it goes out, since a first entry's `prev_hash` (null) links to either epoch.
What cannot be filled (the head is no longer stored: a clear this process has not seen; more
than MAX_ENTRIES behind) resets the position to the stored head and tells the room's sockets to
`resync`: they catch up with `after=`, which reads at least as far. When the bus comes back
after an outage every room here is filled from the database and its sockets get `resync` (for
what is not in the chain: reactions, room settings, members). When another process (re)joins
the bus (`bus_joined`: it restarted after a crash, or was cut off from Redis) every room here
is filled too: what it stored and never published may have been a room's last entry, which no
later frame would wait for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from groupchat import events
from groupchat.db.engine import Database
from groupchat.realtime.bus import Event, Handler
from groupchat.store import chain_tail

log = logging.getLogger(__name__)
REORDER_WAIT = 0.5  # seconds a frame may wait for its predecessor before the database fills in
RETRY_WAIT = 0.5  # seconds before a failed database read is tried again
JOIN_TIMEOUT = 10.0  # seconds a join may wait for its room's position here
RECENT = 512  # per room: hashes delivered lately, so a late copy of an edit is known
START = ""  # the head before a room's first entry (and after a clear)


def resync_frame(room_id: str) -> dict[str, str]:
    """Tells a client it may have missed events in this room: fetch `after=` the last one."""
    return {"type": "resync", "room_id": room_id}


@dataclass(frozen=True, slots=True)
class Link:
    """The chain entry a frame announces."""

    prev: str  # START for a chain's first entry
    hash: str
    id: str | None  # the entry's id, when the frame tells it (an edit's frame does not)


def link_of(event: Event) -> Link | None:
    """The chain entry of a `new_message`, an `ai_stream_end` that stored a message, or an
    edit or deletion (`Event.chain`); None for other frames."""
    if event.chain is not None:
        return Link(event.chain[0] or START, event.chain[1], None)
    if event.frame.get("type") not in ("new_message", "ai_stream_end"):
        return None
    message = event.frame.get("message")
    if not message:
        return None
    return Link(str(message.get("prev_hash") or START), str(message["hash"]), message.get("id"))


class Chain(Protocol):
    """The stored chain, as the orderer reads it."""

    async def head(self, room_id: str) -> tuple[str | None, str | None]:
        """(hash, id) of the room's last entry; Nones when it has none."""

    async def after(self, room_id: str, head: str | None) -> list[tuple[Event, str]] | None:
        """(frame, entry id) of each entry after `head` (None: from the start), in chain
        order; None when `head` is not stored any more or too many follow it."""


class StoredChain:
    """Chain reads from the database, as frames like the live ones."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def head(self, room_id: str) -> tuple[str | None, str | None]:
        async with self._db.read() as conn:
            return await chain_tail.head(conn, room_id)

    async def after(self, room_id: str, head: str | None) -> list[tuple[Event, str]] | None:
        async with self._db.read() as conn:
            entries = await chain_tail.entries_after(conn, room_id, head)
        if entries is None:
            return None
        return [(_stored_frame(room_id, entry), entry.id) for entry in entries]


def _stored_frame(room_id: str, entry: chain_tail.TailEntry) -> Event:
    """A message (an AI answer too: its `ai_stream_end` never came) as `new_message`; an edit as
    `message_updated` and a deletion as `message_deleted`, with the message as it reads now."""
    if entry.kind == "message":
        return Event(events.new_message(entry.message), room_id=room_id)
    if entry.kind == "edit":
        frame = events.message_updated(entry.message)
    else:
        frame = events.message_deleted(room_id, entry.message.id)
    return Event(frame, room_id=room_id, chain=(entry.prev_hash, entry.hash))


@dataclass
class _Room:
    head: str | None = None  # hash of the last entry delivered (START: none); None: reading it
    head_id: str | None = None  # its id, or a lower bound (an edit's frame carries none)
    recent: dict[str, None] = field(default_factory=dict)  # hashes delivered lately, in order
    waiting: list[tuple[int, Event]] = field(default_factory=list)  # (arrival number, frame)
    timer: asyncio.TimerHandle | None = None
    busy: bool = False  # a database read runs: every frame of the room waits behind it
    refill: bool = False  # fill with everything stored once the read ends (the bus is back)
    known: asyncio.Event = field(default_factory=asyncio.Event)  # the head is known
    pins: int = 0  # joins waiting for `known`: the room is kept though it has no socket yet


class Orderer:
    """Sits between the bus and the hub (only with REDIS_URL)."""

    def __init__(self, deliver: Handler, has_sockets: Callable[[str], bool], chain: Chain) -> None:
        self._deliver = deliver
        self._has_sockets = has_sockets
        self._chain = chain
        self._rooms: dict[str, _Room] = {}
        self._arrivals = 0  # frames numbered as they arrive
        self._tasks: set[asyncio.Task[None]] = set()

    async def ready(self, room_id: str) -> None:
        """Before a socket of this process joins a room (the caller joins it right after, with
        no await between): the room's head here is known, so the socket's live stream starts at
        an entry stored before its catch-up read (`joined`, then `after=`) and runs on without
        a hole."""
        async with asyncio.timeout(JOIN_TIMEOUT):
            while True:
                room = self._rooms.get(room_id)
                if room is None:
                    room = self._rooms[room_id] = _Room()
                    self._load(room_id, room, resync=False)
                if room.head is not None:
                    return
                room.pins += 1
                try:
                    await room.known.wait()
                finally:
                    room.pins -= 1

    def on_event(self, event: Event) -> None:
        room_id = event.room_id
        if room_id is None or event.control is not None:
            if (event.control or {}).get("type") == "bus_joined":
                self.fill_all()
            self._deliver(event)
            return
        room = self._rooms.get(room_id)
        sockets = self._has_sockets(room_id)
        if room is None and sockets:  # joined without `ready`: find the head, then resync
            room = self._rooms[room_id] = _Room()
            self._load(room_id, room, resync=True)
        elif room is not None and not sockets and not room.pins and not room.busy:
            self._forget(room_id, room)  # nobody here to order for
            room = None
        if room is None:
            self._deliver(event)
            return
        self._arrivals += 1
        room.waiting.append((self._arrivals, event))
        self._drain(room_id, room)

    def resync(self, room_ids: list[str]) -> None:
        """The bus is back after an outage: fill these rooms from the database (frames were
        lost meanwhile) and tell their sockets to resync (events outside the chain were too)."""
        for room_id in room_ids:
            room = self._rooms.get(room_id)
            if room is None:
                room = self._rooms[room_id] = _Room()
                self._load(room_id, room, resync=True)
                continue
            self._deliver(Event(frame=resync_frame(room_id), room_id=room_id))
            self._fill_soon(room_id, room)

    def fill_all(self) -> None:
        """Fill every room here with all that is stored after its head."""
        for room_id, room in list(self._rooms.items()):
            self._fill_soon(room_id, room)

    def _fill_soon(self, room_id: str, room: _Room) -> None:
        if room.busy:
            room.refill = True
        elif room.head is not None:
            self._fill(room_id, room, everything=True)

    def _forget(self, room_id: str, room: _Room) -> None:
        del self._rooms[room_id]
        if room.timer is not None:
            room.timer.cancel()
        for _, event in room.waiting:  # for users' other sockets (room_deleted, membership)
            self._deliver(event)

    def _drain(self, room_id: str, room: _Room) -> None:
        """Deliver what can go now; then wait, or confirm a restarting chain at once."""
        if room.busy:
            return
        while (index := self._next(room)) is not None:
            self._emit(room, room.waiting.pop(index)[1])
        if not room.waiting:
            if room.timer is not None:
                room.timer.cancel()
                room.timer = None
        elif room.head == START:
            self._fill(room_id, room)
        elif room.timer is None:
            loop = asyncio.get_running_loop()
            room.timer = loop.call_later(REORDER_WAIT, self._expire, room_id, room)

    def _next(self, room: _Room) -> int | None:
        """The frame that goes now: the first unless it is a chain frame that must wait; else
        one that links to the head (its successor came first), a late copy (dropped), or a
        clear (nothing before it matters after it)."""
        for index, (_, event) in enumerate(room.waiting):
            link = link_of(event)
            if link is None:
                if index == 0 or event.frame.get("type") == "room_cleared":
                    return index
            elif (room.head != START and link.prev == room.head) or self._late(room, link):
                return index
        return None

    @staticmethod
    def _late(room: _Room, link: Link) -> bool:
        """At or behind the head: delivered already, or before this room's position here."""
        behind = link.id is not None and room.head_id is not None and link.id <= room.head_id
        return behind or link.hash in room.recent

    def _emit(self, room: _Room, event: Event, entry_id: str | None = None) -> None:
        link = link_of(event)
        if link is not None and self._late(room, link):
            self._drop_late(event)
            return
        if link is not None:
            room.head = link.hash
            room.head_id = entry_id or link.id or room.head_id
            room.recent[link.hash] = None
            if len(room.recent) > RECENT:
                del room.recent[next(iter(room.recent))]
        elif event.frame.get("type") == "room_cleared":
            room.head, room.head_id = START, None
            room.recent.clear()
        self._deliver(event)

    def _drop_late(self, event: Event) -> None:
        if event.frame.get("type") == "ai_stream_end":
            self._deliver(event)  # ends the stream on screen; the head stays

    def _expire(self, room_id: str, room: _Room) -> None:
        room.timer = None
        if self._rooms.get(room_id) is room and room.waiting and not room.busy:
            self._fill(room_id, room)

    def _fill(self, room_id: str, room: _Room, everything: bool = False) -> None:
        """Read the entries stored after the head; see _filled."""
        self._start_read(room)
        self._spawn(self._filled(room_id, room, self._arrivals, everything))

    async def _filled(self, room_id: str, room: _Room, since: int, everything: bool) -> None:
        """Deliver the stored entries after the head, in chain order, up to the last one a frame
        that arrived before the read announces (all of them when `everything`): the frames
        after it are most likely on their way. Frames from before the read that are not among
        those entries are behind the head: dropped."""
        head = room.head
        try:
            entries = await self._chain.after(room_id, None if head == START else head)
        except Exception:
            log.exception("room %s: reading the chain failed; trying again", room_id)
            await asyncio.sleep(RETRY_WAIT)
            room.busy = False
            if self._rooms.get(room_id) is room:
                self._fill(room_id, room, everything)
            return
        room.busy = False
        if self._rooms.get(room_id) is not room:
            return
        if entries is None:  # the head is not stored any more (a clear), or too far behind
            log.warning("room %s: cannot fill the live stream from the database; resync", room_id)
            self._load(room_id, room, resync=True)
            return
        before = {link.hash: (seq, e) for seq, e in room.waiting if (link := link_of(e))}
        end = len(entries) if everything else 0
        for index, (event, _) in enumerate(entries):
            found = before.get(link_of(event).hash)  # type: ignore[union-attr]
            if found is not None and found[0] <= since:
                end = index + 1
        for event, entry_id in entries[:end]:
            link = link_of(event)
            assert link is not None
            if link.prev != room.head:  # cannot happen while chain order is id order
                log.warning("room %s: the stored chain does not link; resync", room_id)
                self._load(room_id, room, resync=True)
                return
            found = before.get(link.hash)
            if found is not None:  # the frame that came over the bus (it has the client_id)
                room.waiting = [item for item in room.waiting if item[1] is not found[1]]
                event = found[1]
            self._emit(room, event, entry_id)
        self._drop_stale(room, since)
        self._done_reading(room_id, room)

    def _load(self, room_id: str, room: _Room, resync: bool) -> None:
        """Set the head to the stored one; see _loaded."""
        room.head = None
        room.known.clear()
        self._start_read(room)
        self._spawn(self._loaded(room_id, room, self._arrivals, resync))

    async def _loaded(self, room_id: str, room: _Room, since: int, resync: bool) -> None:
        """The head is the stored one; frames from before the read are at or behind it. With
        `resync`, the sockets already there catch up from that read on."""
        while True:
            try:
                head, head_id = await self._chain.head(room_id)
                break
            except Exception:
                log.exception("room %s: reading the chain head failed; trying again", room_id)
                await asyncio.sleep(RETRY_WAIT)
        room.busy = False
        room.head, room.head_id = head or START, head_id
        room.recent.clear()
        room.known.set()
        self._drop_stale(room, since)
        if resync:
            self._deliver(Event(frame=resync_frame(room_id), room_id=room_id))
        if self._rooms.get(room_id) is room:
            self._done_reading(room_id, room)

    def _start_read(self, room: _Room) -> None:
        if room.timer is not None:
            room.timer.cancel()
            room.timer = None
        room.busy = True

    def _drop_stale(self, room: _Room, since: int) -> None:
        """Chain frames that arrived before a read and are still waiting are behind the head:
        stored before the read, yet not among the entries after the head it found."""
        kept = []
        for seq, event in room.waiting:
            if seq <= since and link_of(event) is not None:
                self._drop_late(event)
            else:
                kept.append((seq, event))
        room.waiting = kept

    def _done_reading(self, room_id: str, room: _Room) -> None:
        if room.refill:
            room.refill = False
            self._fill(room_id, room, everything=True)
        else:
            self._drain(room_id, room)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
