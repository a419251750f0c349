"""realtime/ordering.py against a stored chain kept in memory: whatever order, loss or
duplication the bus brings, a room's sockets get its chain entries once each, in chain order,
from where the room's first socket joined on."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from groupchat.ids import new_id
from groupchat.realtime import ordering
from groupchat.realtime.bus import Event
from groupchat.realtime.ordering import Orderer

ROOM = "room"
WAIT = 0.05  # REORDER_WAIT in these tests


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ordering, "REORDER_WAIT", WAIT)
    monkeypatch.setattr(ordering, "RETRY_WAIT", WAIT)


@dataclass
class Stored:
    """The database's chain of one room: (id, hash, prev_hash, kind) in chain order."""

    entries: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    reads: int = 0
    gate: asyncio.Event | None = None  # set: head() answers once it is set
    fail: int = 0  # the next reads that raise

    def add(self, kind: str = "message") -> Event:
        """Store one entry; the frame its process publishes."""
        prev = self.entries[-1][1] if self.entries else None
        entry_id = new_id()
        entry = (entry_id, f"h{len(self.entries)}-{entry_id[-4:]}", prev, kind)
        self.entries.append(entry)
        return frame_of(entry, live=True)

    def clear(self) -> Event:
        self.entries.clear()
        return Event({"type": "room_cleared", "room_id": ROOM}, room_id=ROOM)

    def _check(self) -> None:
        self.reads += 1
        if self.fail:
            self.fail -= 1
            raise ConnectionError("database down")

    async def head(self, room_id: str) -> tuple[str | None, str | None]:
        await asyncio.sleep(0)
        self._check()
        found = (self.entries[-1][1], self.entries[-1][0]) if self.entries else (None, None)
        if self.gate is not None:
            await self.gate.wait()
        return found

    async def after(self, room_id: str, head: str | None) -> list[tuple[Event, str]] | None:
        await asyncio.sleep(0)
        self._check()
        hashes = [entry[1] for entry in self.entries]
        if head is not None and head not in hashes:
            return None
        start = 0 if head is None else hashes.index(head) + 1
        return [(frame_of(entry, live=False), entry[0]) for entry in self.entries[start:]]


def frame_of(entry: tuple[str, str, str | None, str], live: bool) -> Event:
    entry_id, entry_hash, prev, kind = entry
    if kind == "edit":
        frame = {"type": "message_updated", "message": {"id": "m"}, "live": live}
        return Event(frame, room_id=ROOM, chain=(prev, entry_hash))
    message = {"id": entry_id, "hash": entry_hash, "prev_hash": prev}
    if kind == "ai" and live:  # read back from the database, an answer is a new_message
        frame = {"type": "ai_stream_end", "room_id": ROOM, "stream_id": "s", "message": message}
        return Event({**frame, "live": live}, room_id=ROOM)
    return Event({"type": "new_message", "message": message, "live": live}, room_id=ROOM)


class Room:
    """One process's orderer for ROOM, and what its sockets received."""

    def __init__(self, stored: Stored, sockets: bool = True) -> None:
        self.stored = stored
        self.sockets = sockets
        self.events: list[Event] = []
        self.orderer = Orderer(self.events.append, self.has_sockets, stored)

    @property
    def got(self) -> list[dict[str, Any]]:
        return [event.frame for event in self.events]

    def has_sockets(self, room_id: str) -> bool:
        return self.sockets

    async def join(self) -> None:
        await self.orderer.ready(ROOM)

    def send(self, *events: Event) -> None:
        for event in events:
            self.orderer.on_event(event)

    def hashes(self) -> list[str]:
        return [h for f in self.got if (h := _hash(f)) is not None]

    def types(self) -> list[str]:
        return [f.get("type", "") for f in self.got]


def _hash(frame: dict[str, Any]) -> str | None:
    message = frame.get("message")
    return message["hash"] if frame.get("type") == "new_message" else None


async def joined() -> tuple[Stored, Room]:
    """A room with one stored entry, and a process where a socket joined it."""
    stored = Stored()
    stored.add()
    room = Room(stored)
    await room.join()
    return stored, room


async def settle() -> None:
    await asyncio.sleep(WAIT * 4)


def chain_hashes(stored: Stored, start: int = 1) -> list[str]:
    return [entry[1] for entry in stored.entries[start:] if entry[3] == "message"]


async def test_frames_that_cross_go_out_in_chain_order() -> None:
    stored, room = await joined()
    one, two, three = stored.add(), stored.add(), stored.add()
    room.send(three, one, two)
    assert room.hashes() == chain_hashes(stored)
    assert stored.reads == 1  # the join's, only


async def test_a_lost_frame_is_filled_from_the_database_in_its_place() -> None:
    stored, room = await joined()
    one, two, three = stored.add(), stored.add(), stored.add()
    room.send(one, three)
    assert room.hashes() == chain_hashes(stored)[:1]
    await settle()
    assert room.hashes() == chain_hashes(stored)
    assert [f["live"] for f in room.got] == [True, False, True]  # the waiting frame went itself
    room.send(two)  # late: already delivered from the database
    await settle()
    assert room.hashes() == chain_hashes(stored)


async def test_a_join_starts_at_the_stored_head_and_drops_what_is_behind_it() -> None:
    stored = Stored()
    early = [stored.add(), stored.add()]
    room = Room(stored)
    await room.join()
    later = stored.add()
    room.send(later, *early)  # the early ones were stored before the join: its catch-up has them
    await settle()
    assert room.hashes() == chain_hashes(stored, 2)


async def test_a_hole_at_the_end_waits_for_its_frame_not_for_what_follows() -> None:
    """A fill goes as far as the frames that waited, not further: the rest is on its way and
    keeps its own frame (the sender's client_id)."""
    stored, room = await joined()
    one, two, three = stored.add(), stored.add(), stored.add()
    room.send(two)
    await settle()  # one never comes: filled; three is stored but was not waited for
    assert room.hashes() == chain_hashes(stored)[:2]
    room.send(three)
    assert room.got[-1]["live"] is True and room.hashes() == chain_hashes(stored)
    room.send(one)
    await settle()
    assert room.hashes() == chain_hashes(stored)


async def test_other_frames_keep_their_place_behind_a_waiting_one() -> None:
    stored, room = await joined()
    one, two = stored.add(), stored.add()
    typing = Event({"type": "user_typing", "room_id": ROOM}, room_id=ROOM)
    room.send(two, typing, one)
    assert room.types() == ["new_message", "new_message", "user_typing"]


async def test_edits_and_ai_answers_are_chain_entries() -> None:
    stored, room = await joined()
    message, edit, answer, after = (stored.add(), stored.add("edit"), stored.add("ai"),
                                    stored.add())  # fmt: skip
    room.send(after, answer, edit, message)
    assert room.types() == ["new_message", "message_updated", "ai_stream_end", "new_message"]
    assert stored.reads == 1


async def test_a_late_ai_stream_end_still_ends_the_stream_without_moving_the_head() -> None:
    stored, room = await joined()
    answer, after = stored.add("ai"), stored.add()
    room.send(after)
    await settle()  # the answer is filled from the database as a new_message
    assert room.types() == ["new_message", "new_message"]
    room.send(answer)
    nxt = stored.add()
    room.send(nxt)
    assert room.types() == ["new_message", "new_message", "ai_stream_end", "new_message"]


async def test_a_clear_restarts_the_chain_and_a_late_frame_from_before_it_is_dropped() -> None:
    stored, room = await joined()
    room.send(stored.add())
    old_first = Stored()  # the first entry of the chain a clear erased: prev_hash null too
    stale = old_first.add()
    cleared = stored.clear()
    fresh = stored.add()
    room.send(fresh, cleared, stale)  # the new chain's first frame came before the clear
    await settle()
    assert room.types() == ["new_message", "room_cleared", "new_message"]
    assert room.hashes()[-1] == stored.entries[0][1]


async def test_a_clear_never_seen_resets_to_the_stored_head_and_resyncs() -> None:
    stored, room = await joined()
    room.send(stored.add())
    stored.clear()  # its frame is lost
    stored.add()
    second = stored.add()
    room.send(second)
    await settle()
    assert room.types() == ["new_message", "resync"]
    room.send(third := stored.add())
    assert room.hashes()[-1] == third.frame["message"]["hash"]


async def test_the_bus_back_fills_every_room_and_resyncs() -> None:
    stored, room = await joined()
    room.send(stored.add())
    lost = [stored.add(), stored.add()]  # published while Redis was down
    room.orderer.resync([ROOM])
    await settle()
    assert room.types() == ["new_message", "resync", "new_message", "new_message"]
    room.send(*lost)  # nothing comes twice
    assert room.hashes() == chain_hashes(stored)


async def test_a_process_joining_the_bus_fills_every_room() -> None:
    """It may have stored a room's last entry and died before publishing it: no later frame
    waits for that one, so the rooms here are filled when it (or its successor) joins."""
    stored, room = await joined()
    room.send(stored.add())
    last = stored.add()  # never published
    room.send(Event(frame={}, control={"type": "bus_joined"}))
    await settle()
    assert room.hashes() == chain_hashes(stored)
    assert "resync" not in room.types()
    room.send(last)  # came after all: a late copy
    assert room.hashes() == chain_hashes(stored)


async def test_a_failed_read_is_tried_again() -> None:
    stored, room = await joined()
    one, two = stored.add(), stored.add()
    stored.fail = 2
    room.send(two)
    await asyncio.sleep(WAIT * 10)
    assert room.hashes() == chain_hashes(stored)
    room.send(one)
    assert room.hashes() == chain_hashes(stored)


async def test_a_room_without_sockets_here_is_not_ordered() -> None:
    stored = Stored()
    room = Room(stored, sockets=False)
    one, two = stored.add(), stored.add()
    room.send(two, one)
    assert room.hashes() == [two.frame["message"]["hash"], one.frame["message"]["hash"]]
    assert stored.reads == 0


async def test_a_join_while_the_room_streams_here_keeps_the_room_until_it_joined() -> None:
    stored = Stored(gate=asyncio.Event())
    stored.add()
    room = Room(stored, sockets=False)
    joining = asyncio.create_task(room.join())
    for _ in range(5):
        await asyncio.sleep(0)
    assert stored.reads == 1  # the head is read, not answered yet
    during = stored.add()
    room.send(during)  # no socket yet, but the room stays: a join waits for it
    assert stored.gate is not None
    stored.gate.set()
    await joining
    room.sockets = True  # the caller joins right after ready(), with no await between
    room.send(after := stored.add())
    assert room.hashes() == [during.frame["message"]["hash"], after.frame["message"]["hash"]]
    assert stored.reads == 1


async def test_sockets_that_joined_without_a_position_resync_once_it_is_read() -> None:
    stored = Stored()
    stored.add()
    room = Room(stored)  # sockets, but no ready(): the head is read at the first frame
    room.send(stored.add())
    await settle()
    assert room.types() == ["resync"]  # that frame was stored before the read: in the catch-up
    room.send(nxt := stored.add())
    assert room.hashes() == [nxt.frame["message"]["hash"]]


@pytest.mark.parametrize("seed", range(8))
async def test_any_order_loss_and_duplication_delivers_each_entry_once_in_order(
    seed: int,
) -> None:
    """Two publishers whose frames cross, lag, get lost or come twice; a socket that joins
    midway: it gets every entry from its join on, once, in chain order."""
    rng = random.Random(seed)
    stored = Stored()
    room = Room(stored)
    before = [stored.add() for _ in range(5)]
    await room.join()
    start = len(stored.entries)
    frames = before + [stored.add(rng.choice(["message"] * 6 + ["edit", "ai"])) for _ in range(120)]
    arrivals: list[tuple[float, Event]] = []
    for index, frame in enumerate(frames):
        at = index * 0.002 + rng.expovariate(1 / 0.01) * (rng.random() < 0.3)
        if rng.random() < 0.05 and index < len(frames) - 3:
            continue  # lost: its process died, or Redis was down
        arrivals.append((at, frame))
        if rng.random() < 0.05:
            arrivals.append((at + rng.random() * 0.1, frame))  # came twice
    arrivals.sort(key=lambda item: item[0])
    clock = 0.0
    for at, frame in arrivals:
        await asyncio.sleep(max(0.0, at - clock))
        clock = at
        room.send(frame)
    await asyncio.sleep(WAIT * 6)
    delivered = [
        (event.frame["type"], link.hash)
        for event in room.events
        if (link := ordering.link_of(event)) is not None
    ]
    first = [h for i, (_, h) in enumerate(delivered) if h not in {x for _, x in delivered[:i]}]
    assert first == [entry[1] for entry in stored.entries[start:]]
    repeats = [kind for i, (kind, h) in enumerate(delivered) if h in {x for _, x in delivered[:i]}]
    assert set(repeats) <= {"ai_stream_end"}  # a late one still ends its stream
