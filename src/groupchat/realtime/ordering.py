"""Live order across processes: each room's frames reach the hub in chain order.

Every process publishes after its own commit, so two posts committed a few milliseconds apart
by two processes can arrive over Redis in the opposite order. A `new_message` names its
predecessor (`prev_hash`): the orderer keeps, per room with sockets here, the hash of the last
message it delivered and holds back a message whose predecessor has not arrived yet, with
every room frame behind it, for at most REORDER_WAIT seconds. If the predecessor never comes
(its process died between commit and publish, or Redis dropped it), what links up is delivered,
the rest is dropped, and the room's sockets are told to `resync`: they fetch it with `after=`,
in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from groupchat.realtime.bus import Event, Handler

log = logging.getLogger(__name__)
REORDER_WAIT = 0.5  # seconds a frame may wait for its predecessor
FIRST_WAIT = 0.1  # the first frame of a room here: gather what races with it
UNLINKED_ENTRIES = ("message_updated", "message_deleted")  # chain entries, when `chain` is unset
DEGRADED_WAIT = 0.2  # seconds: while the bus is down, resyncs of a room are this far apart
START = ""  # the head before a room's first message (and after a clear)


@dataclass
class _Room:
    head: str | None = None  # hash of the last message delivered; None: not known yet
    waiting: list[Event] = field(default_factory=list)  # arrival order
    timer: asyncio.TimerHandle | None = None


def resync_frame(room_id: str) -> dict[str, str]:
    """Tells a client it may have missed events in this room: fetch `after=` the last one."""
    return {"type": "resync", "room_id": room_id}


def _link(event: Event) -> tuple[str, str] | None:
    """(prev_hash, hash) of the chain entry a frame announces; None for other frames."""
    if event.chain is not None:
        return event.chain[0] or START, event.chain[1]
    if event.frame.get("type") != "new_message":
        return None
    message = event.frame.get("message") or {}
    return str(message.get("prev_hash") or START), str(message.get("hash") or "")


class Orderer:
    """Sits between the bus and the hub (only with REDIS_URL: one process publishes in order)."""

    def __init__(
        self,
        deliver: Handler,
        has_sockets: Callable[[str], bool],
        degraded: Callable[[], bool] = lambda: False,
    ) -> None:
        self._deliver = deliver
        self._has_sockets = has_sockets
        self._degraded = degraded  # the bus is down: this process sees only its own events
        self._rooms: dict[str, _Room] = {}
        self._to_resync: set[str] = set()

    def on_event(self, event: Event) -> None:
        room_id = event.room_id
        if room_id is None or event.control is not None:
            self._deliver(event)
            return
        if not self._has_sockets(room_id):  # nobody here to order for: forget the room
            room = self._rooms.pop(room_id, None)
            if room is not None:
                self._flush(room_id, room)
            self._deliver(event)
            return
        room = self._rooms.setdefault(room_id, _Room())
        if self._degraded() and room.head is None and self._chained(event):
            self._resync_soon(room_id)  # nothing to check it against, and a gap would not heal
            return
        room.waiting.append(event)
        self._drain(room_id, room)

    @staticmethod
    def _chained(event: Event) -> bool:
        return _link(event) is not None or event.frame.get("type") in UNLINKED_ENTRIES

    def _resync_soon(self, room_id: str) -> None:
        """While the bus is down and a room's head is unknown (after a gap), its chain frames
        become one `resync` per DEGRADED_WAIT: its sockets fetch them, in order, from the
        database. With the head known, frames that link up are still delivered live."""
        if not self._to_resync:
            asyncio.get_running_loop().call_later(DEGRADED_WAIT, self._resync_now)
        self._to_resync.add(room_id)

    def _resync_now(self) -> None:
        rooms, self._to_resync = sorted(self._to_resync), set()
        self.resync(rooms)

    def resync(self, room_ids: list[str]) -> None:
        """After a bus outage: these rooms' sockets catch up, and their heads are relearnt."""
        for room_id in room_ids:
            room = self._rooms.pop(room_id, None)
            if room is not None:
                self._flush(room_id, room)
            self._deliver(Event(frame=resync_frame(room_id), room_id=room_id))

    def _drain(self, room_id: str, room: _Room) -> None:
        """Deliver what can go now; start the timer when something must wait."""
        while room.waiting:
            index = self._next(room)
            if index is None:
                break
            self._emit(room, room.waiting.pop(index))
        if not room.waiting and room.timer is not None:
            room.timer.cancel()
            room.timer = None
        elif room.waiting and room.timer is None:
            wait = REORDER_WAIT if room.head is not None else FIRST_WAIT
            room.timer = asyncio.get_running_loop().call_later(wait, self._expire, room_id)

    def _next(self, room: _Room) -> int | None:
        """The index of the frame that may go now, or None while the first one must wait."""
        first = _link(room.waiting[0])
        if room.head is None:
            return 0 if first is None else None
        if first is None or first[0] == room.head:
            return 0
        for index, event in enumerate(room.waiting):  # its successor may have come first
            link = _link(event)
            if link is not None and link[0] == room.head:
                return index
        return None

    def _emit(self, room: _Room, event: Event) -> None:
        link = _link(event)
        if link is not None:
            room.head = link[1]
        elif event.frame.get("type") == "room_cleared":
            room.head = START
        elif event.frame.get("type") in UNLINKED_ENTRIES:
            room.head = None  # an entry we cannot place: relearn the head from what follows
        self._deliver(event)

    def _expire(self, room_id: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        room.timer = None
        gap = self._flush(room_id, room)
        if gap:
            log.warning("room %s: a message never arrived over the bus; sockets resync", room_id)
            self._deliver(Event(frame=resync_frame(room_id), room_id=room_id))

    def _flush(self, room_id: str, room: _Room) -> bool:
        """Deliver what waits in chain order up to a missing predecessor; True when one is
        missing: the entries after it are dropped (the sockets resync and fetch them in order,
        rather than see them out of order) and the head is relearnt."""
        if room.timer is not None:
            room.timer.cancel()
            room.timer = None
        waiting, room.waiting = _chain_order(room.waiting), []
        gap = False
        for event in waiting:
            link = _link(event)
            if link is not None and (gap or (room.head is not None and link[0] != room.head)):
                gap = True
                continue
            self._emit(room, event)
        if gap:
            room.head = None
        return gap


def _chain_order(events: list[Event]) -> list[Event]:
    """Chained frames sorted along the chain; other frames keep their place after the chain
    frame that arrived before them."""
    by_prev = {link[0]: e for e in events if (link := _link(e)) is not None}
    hashes = {link[1] for e in events if (link := _link(e)) is not None}
    ordered: list[Event] = []
    placed: set[int] = set()
    for event in events:
        if id(event) in placed:
            continue
        link = _link(event)
        if link is not None and link[0] in hashes:
            continue  # placed when its predecessor is
        while True:
            ordered.append(event)
            placed.add(id(event))
            link = _link(event)
            nxt = by_prev.get(link[1]) if link is not None else None
            if nxt is None or id(nxt) in placed:
                break
            event = nxt
    ordered += [e for e in events if id(e) not in placed]  # a cycle cannot happen; be safe
    return ordered
