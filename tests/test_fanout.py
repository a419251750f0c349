"""Fan-out: a socket that stops reading is closed (1013) and never holds the room back."""

from __future__ import annotations

import asyncio
import json
import math
import socket
from pathlib import Path

import httpx
import pytest
import websockets

from conftest import (
    TEST_DATABASE_URL,
    Actor,
    Register,
    Socket,
    add_member,
    create_room,
    make_settings,
    reset_postgres,
)
from groupchat.config import Settings
from groupchat.realtime.bus import Event
from groupchat.realtime.hub import CLOSE_TOO_SLOW, Connection, Hub

SEND_QUEUE = 8
CONTENT = "\U0001f600" * 7990  # 32 KB of UTF-8, twice that per frame with content_html


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    """The server of this module buffers only SEND_QUEUE frames per socket."""
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    return make_settings(tmp_path, ws_send_queue=SEND_QUEUE)


def kernel_send_buffer_max() -> int:
    """The most the kernel buffers for one TCP socket that does not set SO_SNDBUF (uvicorn
    does not): the ceiling of send-buffer autotuning."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 16 * 1024 * 1024


async def stalled_socket(actor: Actor, room_id: str) -> websockets.ClientConnection:
    """A socket that joins the room and then stops reading: a tiny receive window, one frame
    of client-side buffer, and nobody calling recv()."""
    host, port = actor.server.base_url.removeprefix("http://").split(":")
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (host, int(port)))
    ws = await websockets.connect(
        f"{actor.server.ws_url}?token={actor.token}",
        sock=raw,
        max_queue=1,
        max_size=2**22,
        proxy=None,
        ping_interval=None,
    )
    await ws.send(json.dumps({"type": "join_room", "room_id": room_id}))
    assert json.loads(await ws.recv()) == {"type": "joined", "room_id": room_id}
    return ws


async def read_messages(sock: Socket, count: int) -> list[str]:
    """Ids of the next `count` new_message frames, read as they come."""
    return [(await sock.expect("new_message", timeout=30))["message"]["id"] for _ in range(count)]


async def drain_until_closed(ws: websockets.ClientConnection) -> tuple[list[str], int]:
    """Message ids the stalled socket had been sent, and the close code that followed them."""
    ids = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            ids.append(frame["message"]["id"])
    assert closed.value.rcvd is not None, "the server never sent a close frame"
    return ids, closed.value.rcvd.code


async def test_a_stalled_socket_is_closed_and_the_room_gets_everything(
    http: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor, register: Register
) -> None:
    room = await create_room(http, alice)
    dave = await register("dave")
    for who in (bob, carol, dave):
        await add_member(http, room, alice, who)
    stalled = await stalled_socket(bob, room["id"])
    healthy = [await who.socket(join=(room["id"],)) for who in (alice, carol, dave)]
    frame_bytes = 2 * len(CONTENT.encode())
    # Enough to fill every buffer between the server and bob (his receive window, the
    # server's kernel send buffer, the transport's buffer) and then his outbox.
    count = math.ceil((kernel_send_buffer_max() + 2**20) / frame_bytes) + SEND_QUEUE + 2
    readers = [asyncio.create_task(read_messages(sock, count)) for sock in healthy]

    posted = []
    for i in range(count):
        resp = await http.post(
            f"/api/rooms/{room['id']}/messages",
            json={"content": f"{i} {CONTENT}"},
            headers=alice.headers,
        )
        assert resp.status_code == 201, resp.text
        posted.append(resp.json()["id"])

    for got in await asyncio.gather(*readers):
        assert got == posted
    bob_got, code = await drain_until_closed(stalled)
    assert code == CLOSE_TOO_SLOW == 1013
    # What bob got is the start of the room, without gaps; the rest was never sent to him.
    assert bob_got and bob_got == posted[: len(bob_got)] and len(bob_got) < count

    # Bob reconnects and catches up from the last message he saw.
    again = await bob.socket(join=(room["id"],))
    assert bob_got + await missed_since(http, bob, room["id"], bob_got[-1]) == posted
    await healthy[0].send({"type": "send_message", "room_id": room["id"], "content": "still here?"})
    assert (await again.expect("new_message"))["message"]["content"] == "still here?"


async def missed_since(
    http: httpx.AsyncClient, actor: Actor, room_id: str, last_seen: str
) -> list[str]:
    """Ids of the messages after the last one seen, paging forward as a reconnecting client."""
    missed: list[str] = []
    more, cursor = True, last_seen
    while more:
        resp = await http.get(
            f"/api/rooms/{room_id}/messages",
            params={"after": cursor, "limit": 200},
            headers=actor.headers,
        )
        assert resp.status_code == 200, resp.text
        missed += [m["id"] for m in resp.json()["messages"]]
        more, cursor = resp.json()["has_more"], missed[-1]
    return missed


class Recorder:
    """The part of a Starlette WebSocket a Connection writes to; `stall` blocks every send."""

    def __init__(self, *, stall: bool = False) -> None:
        self.texts: list[str] = []
        self.closed_with: int | None = None
        self._changed = asyncio.Condition()
        self._gate = asyncio.Event()
        if not stall:
            self._gate.set()

    async def send_text(self, text: str) -> None:
        await self._gate.wait()
        async with self._changed:
            self.texts.append(text)
            self._changed.notify_all()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        async with self._changed:
            self.closed_with = code
            self._changed.notify_all()

    async def wait_for(self, texts: int = 0, *, closed: bool = False) -> None:
        """Until `texts` frames were written (and the socket closed, if asked)."""

        def ready() -> bool:
            return len(self.texts) >= texts and (self.closed_with is not None or not closed)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), 5)


def connect(hub: Hub, user_id: str, recorder: Recorder, queue_size: int = 8) -> Connection:
    """A registered hub connection writing to `recorder`."""
    conn = Connection(recorder, user_id, f"jti-{user_id}", queue_size)  # type: ignore[arg-type]
    hub.register(conn)
    return conn


async def test_the_hub_encodes_an_event_once_for_all_its_sockets() -> None:
    hub = Hub()
    bob, carol, dave, alice, outsider = recorders = [Recorder() for _ in range(5)]
    conns = [connect(hub, user, rec) for user, rec in zip("BCDAE", recorders, strict=True)]
    for conn in conns[:4]:
        hub.join(conn, "room")
    frame = {"type": "new_message", "message": {"id": "1", "content": "héllo"}}

    hub.deliver(Event(frame=frame, room_id="room", sender_id="A", sender_extra={"client_id": "c"}))
    for rec in (bob, carol, dave, alice):
        await rec.wait_for(1)

    assert [len(rec.texts) for rec in (bob, carol, dave, alice, outsider)] == [1, 1, 1, 1, 0]
    assert bob.texts[0] is carol.texts[0] is dave.texts[0]  # one encoding shared by every socket
    assert json.loads(bob.texts[0]) == frame
    assert json.loads(alice.texts[0]) == {**frame, "client_id": "c"}
    for conn in conns:
        await hub.unregister(conn)


async def test_a_full_outbox_closes_that_socket_only() -> None:
    hub = Hub()
    stuck, fine = Recorder(stall=True), Recorder()
    conns = [connect(hub, "B", stuck, queue_size=3), connect(hub, "C", fine, queue_size=3)]
    for conn in conns:
        hub.join(conn, "room")

    for i in range(12):  # in rounds of 3 (the outbox size) that the fine socket drains
        hub.deliver(Event(frame={"type": "n", "i": i}, room_id="room"))
        if i % 3 == 2:
            await fine.wait_for(i + 1)
    await stuck.wait_for(closed=True)

    assert [json.loads(t)["i"] for t in fine.texts] == list(range(12))
    assert stuck.closed_with == CLOSE_TOO_SLOW and stuck.texts == []
    assert fine.closed_with is None and conns[0].closed and not conns[1].closed
    for conn in conns:
        await hub.unregister(conn)


async def test_a_socket_that_catches_up_gets_every_frame_in_order() -> None:
    """Frames are written straight through; while one write waits, the rest queue behind it."""
    hub = Hub()
    slow = Recorder(stall=True)
    conn = connect(hub, "B", slow, queue_size=8)
    hub.join(conn, "room")
    for i in range(3):  # the first write waits on the socket, the next two queue
        hub.deliver(Event(frame={"type": "n", "i": i}, room_id="room"))
    slow._gate.set()  # the reader catches up
    await slow.wait_for(3)
    hub.deliver(Event(frame={"type": "n", "i": 3}, room_id="room"))  # straight through again
    await slow.wait_for(4)
    assert [json.loads(t)["i"] for t in slow.texts] == [0, 1, 2, 3]
    assert not conn.closed
    await hub.unregister(conn)
