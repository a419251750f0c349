"""Fan-out: one encoding per event; a reader that stops reading is aborted, a slow one is not,
one that falls too far behind is closed with 1013, and none of them holds the room back."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import websockets

from conftest import (
    TEST_DATABASE_URL,
    Actor,
    Server,
    Socket,
    add_member,
    create_room,
    make_settings,
    reset_postgres,
)
from groupchat.config import Settings
from groupchat.realtime.bus import Event
from groupchat.realtime.hub import CLOSE_TOO_SLOW, Hub, frame_text
from groupchat.realtime.ws import FRAME_BURST

KERNEL_BUFFER = 16 * 1024  # the kernel doubles it: ~32 KiB in flight per socket
SEND_BUFFER = 256 * 1024  # user-space backlog before a socket is closed with 1013
STALL_SECONDS = 1.5
BIG = "\U0001f600" * 7990  # 32 KB of UTF-8, twice that per frame with content_html


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    """Small buffers and a short stall window, so the tests need little data and time."""
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    return make_settings(
        tmp_path,
        ws_kernel_send_buffer=KERNEL_BUFFER,
        ws_send_buffer_bytes=SEND_BUFFER,
        ws_stall_seconds=STALL_SECONDS,
        ws_messages_per_second=0,  # alice posts in bursts here
    )


async def throttled_socket(actor: Actor, room_id: str) -> websockets.ClientConnection:
    """A socket in the room whose client reads only when asked: a tiny receive window and one
    frame of client-side buffer, so the server's data waits in its own buffers meanwhile."""
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


async def post_all(
    http: httpx.AsyncClient, actor: Actor, room_id: str, contents: list[str], pace: Socket
) -> list[str]:
    """Post each content over REST, the next once `pace` (a healthy reader) got the last one:
    the stored ids in order. Healthy sockets never have more than a frame or two waiting."""
    ids = []
    for content in contents:
        resp = await http.post(
            f"/api/rooms/{room_id}/messages", json={"content": content}, headers=actor.headers
        )
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
        assert (await pace.expect("new_message", timeout=30))["message"]["id"] == ids[-1]
    return ids


async def read_messages(sock: Socket, count: int) -> list[str]:
    """Ids of the next `count` new_message frames, read as they come."""
    return [(await sock.expect("new_message", timeout=30))["message"]["id"] for _ in range(count)]


OPEN, CUT = "open", "cut"


async def read_slowly(
    ws: websockets.ClientConnection, pause: float, count: int = 10**6
) -> tuple[list[str], int | str]:
    """Read a frame, then wait `pause`, until `count` messages or the end of the socket: the
    message ids, and OPEN, the close code the server sent, or CUT (no close frame)."""
    ids: list[str] = []
    try:
        while len(ids) < count:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            ids.append(frame["message"]["id"])
            await asyncio.sleep(pause)
    except websockets.ConnectionClosed as closed:
        return ids, closed.rcvd.code if closed.rcvd else CUT
    return ids, OPEN


def server_side_exists(server: Server, ws: websockets.ClientConnection) -> bool:
    """Whether the kernel still holds the server's end of this client's TCP connection."""
    server_port = int(server.base_url.rsplit(":", 1)[1])
    client_port = ws.transport.get_extra_info("sockname")[1]
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote = row.split()[1:3]
        if local.endswith(f":{server_port:04X}") and remote.endswith(f":{client_port:04X}"):
            return True
    return False


async def until(condition: Callable[[], bool], what: str, limit: float = 10) -> None:
    """Wait until condition() holds; fail naming `what` after `limit` seconds."""
    try:
        async with asyncio.timeout(limit):
            while not condition():
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def test_a_stalled_reader_is_aborted_and_the_room_gets_everything(
    http: httpx.AsyncClient, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    for who in (bob, carol):
        await add_member(http, room, alice, who)
    stalled = await throttled_socket(bob, room["id"])
    healthy = [await who.socket(join=(room["id"],)) for who in (alice, carol)]
    # More than every buffer between the server and bob holds, less than SEND_BUFFER: the
    # stall rule, not the backlog cap, has to free this socket.
    count = 4
    reader = asyncio.create_task(read_messages(healthy[0], count))

    contents = [f"{i} {BIG}" for i in range(count)]
    posted = await post_all(http, alice, room["id"], contents, pace=healthy[1])

    assert await reader == posted
    hub = server.services.hub
    await until(lambda: hub.user_connection_count(bob.id) == 0, "bob's socket dropped")
    # SO_LINGER 0: the kernel dropped the server's end too (no FIN-WAIT-1 holding its buffer).
    await until(lambda: not server_side_exists(server, stalled), "the kernel freed it", 2)
    bob_got, code = await read_slowly(stalled, 0)
    assert code == CUT  # not closed: a close frame could never have reached him
    assert bob_got == posted[: len(bob_got)] and len(bob_got) < count  # a prefix, no gaps

    again = await bob.socket(join=(room["id"],))  # bob reconnects and catches up
    await healthy[0].send({"type": "send_message", "room_id": room["id"], "content": "back?"})
    assert (await again.expect("new_message"))["message"]["content"] == "back?"


async def test_a_slow_reader_that_keeps_reading_is_not_cut(
    http: httpx.AsyncClient, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    slow = await throttled_socket(bob, room["id"])
    alice_sock = await alice.socket(join=(room["id"],))
    # ~200 KB: several times what the kernel buffers hold, so data waits in the server for
    # longer than STALL_SECONDS while bob reads a frame every 50 ms; less than SEND_BUFFER.
    count = 40
    contents = [f"{i} " + "s" * 2400 for i in range(count)]
    reader = asyncio.create_task(read_slowly(slow, 0.05, count))

    posted = await post_all(http, alice, room["id"], contents, pace=alice_sock)

    assert await reader == (posted, OPEN)  # everything, in order, and still connected
    await slow.send(json.dumps({"type": "ping"}))
    assert json.loads(await slow.recv()) == {"type": "pong"}


async def test_a_reader_too_far_behind_gets_1013_after_a_gapless_prefix(
    http: httpx.AsyncClient, server: Server, alice: Actor, bob: Actor, carol: Actor
) -> None:
    room = await create_room(http, alice)
    for who in (bob, carol):
        await add_member(http, room, alice, who)
    behind = await throttled_socket(bob, room["id"])
    carol_sock = await carol.socket(join=(room["id"],))
    count = 16  # ~1 MiB, four times SEND_BUFFER, posted faster than bob reads
    bob_reader = asyncio.create_task(read_slowly(behind, 0.3))  # slow, never stalled

    contents = [f"{i} {BIG}" for i in range(count)]
    posted = await post_all(http, alice, room["id"], contents, pace=carol_sock)

    bob_got, code = await bob_reader
    assert code == CLOSE_TOO_SLOW == 1013
    assert bob_got == posted[: len(bob_got)] and len(bob_got) < count


def segments_sent(server: Server, user_id: str) -> int:
    """TCP segments the server sent on this user's one socket so far (Linux `tcp_info`'s
    tcpi_segs_out, a 32-bit count at byte 136 since Linux 4.2)."""
    (conn,) = server.services.hub._by_user[user_id]
    sock = conn.transport.get_extra_info("socket")  # type: ignore[attr-defined]
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 160)
    return int.from_bytes(info[136:140], "little")


async def test_frames_of_one_loop_turn_leave_in_one_write(
    http: httpx.AsyncClient, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice, name="burst")
    await add_member(http, room, alice, bob)
    sock = await bob.socket(join=(room["id"],))
    await asyncio.sleep(0.3)  # the handshake's and the join's segments are all out
    before = segments_sent(server, bob.id)
    frames = [{"type": "n", "i": i} for i in range(3)]
    for frame in frames:  # one turn of the loop: nothing awaits in between
        server.services.hub.deliver(Event(frame=frame, room_id=room["id"]))
    assert [await sock.recv() for _ in frames] == frames
    assert segments_sent(server, bob.id) - before == 1

    server.services.hub.deliver(Event(frame=frames[0], room_id=room["id"]))
    await asyncio.sleep(0.05)  # another turn: its own write
    server.services.hub.deliver(Event(frame=frames[1], room_id=room["id"]))
    assert [await sock.recv() for _ in range(2)] == frames[:2]
    assert segments_sent(server, bob.id) - before == 3


class Recorder:
    """A hub.Socket that records what the hub writes to it."""

    def __init__(self, user_id: str) -> None:
        self.user_id, self.jti, self.rooms = user_id, f"jti-{user_id}", set[str]()
        self.framed: list[bytes] = []
        self.closed_with: tuple[int, str] | None = None

    def write_frame(self, framed: bytes, payload: bytes) -> None:
        assert framed == frame_text(payload)
        self.framed.append(framed)

    def write_frames(self, frames: list[tuple[bytes, bytes]]) -> None:
        for framed, payload in frames:
            self.write_frame(framed, payload)

    def close(self, code: int, reason: str = "") -> None:
        self.closed_with = (code, reason)

    def frames(self) -> list[dict[str, object]]:
        return [json.loads(frame[2:] if frame[1] < 126 else frame[4:]) for frame in self.framed]


async def test_the_hub_encodes_and_frames_an_event_once_for_all_its_sockets() -> None:
    hub = Hub()
    bob, carol, dave, alice, alice_tab, outsider = (Recorder(u) for u in "BCDAAE")
    for conn in (bob, carol, dave, alice, alice_tab, outsider):
        hub.register(conn)
    for conn in (bob, carol, dave, alice, alice_tab):
        hub.join(conn, "room")
    frame = {"type": "new_message", "message": {"id": "1", "content": "héllo " * 30}}

    hub.deliver(Event(frame=frame, room_id="room", sender_id="A", sender_extra={"client_id": "c"}))
    assert not bob.framed  # written once this turn of the loop is over
    await asyncio.sleep(0)

    assert [len(c.framed) for c in (bob, carol, dave, alice, alice_tab, outsider)] == [1] * 5 + [0]
    assert bob.framed[0] is carol.framed[0] is dave.framed[0]  # one buffer for every socket
    assert alice.framed[0] is alice_tab.framed[0]
    assert bob.frames() == [frame] and alice.frames() == [{**frame, "client_id": "c"}]
    assert frame_text(b"x" * 70_000)[:10] == bytes((0x81, 127)) + (70_000).to_bytes(8, "big")


async def test_the_hub_reaches_users_closes_tokens_and_users() -> None:
    hub = Hub()
    bob_joined, bob_other, carol = Recorder("B"), Recorder("B"), Recorder("C")
    for conn in (bob_joined, bob_other, carol):
        hub.register(conn)
    hub.join(bob_joined, "room")
    hub.join(carol, "room")

    deleted = {"type": "room_deleted", "room_id": "room"}
    hub.deliver(Event(frame=deleted, room_id="room", user_ids=("B",), unjoin_all=True))
    hub.flush()
    assert [c.frames() for c in (bob_joined, bob_other, carol)] == [[deleted]] * 3
    hub.deliver(Event(frame={"type": "n"}, room_id="room"))
    hub.flush()
    assert len(carol.framed) == 1  # nobody is in the room any more

    hub.deliver(Event(frame={}, close_jti="jti-C"))
    assert carol.closed_with == (4401, "signed out") and bob_joined.closed_with is None
    hub.close_user("B", "account disabled")
    assert bob_joined.closed_with == bob_other.closed_with == (4401, "account disabled")
    assert hub.connection_count() == 3  # closing is not leaving: the socket unregisters itself
    for conn in (bob_joined, bob_other, carol):
        hub.unregister(conn)
    assert hub.connection_count() == 0 and hub.user_connection_count("B") == 0


async def test_a_socket_posts_as_fast_as_the_posting_budget_allows(
    http: httpx.AsyncClient, server: Server, alice: Actor, bob: Actor
) -> None:
    """send_message is charged to the user's posting budget (off in this module), not to the
    socket's frame budget, which still answers a burst of pings with rate_limited."""
    room = await create_room(http, alice)
    await add_member(http, room, alice, bob)
    alice_sock = await alice.socket(join=(room["id"],))
    bob_sock = await bob.socket(join=(room["id"],))
    count = 2 * FRAME_BURST
    for i in range(count):
        await alice_sock.send({"type": "send_message", "room_id": room["id"], "content": f"m{i}"})
    got = [(await bob_sock.expect("new_message"))["message"]["content"] for _ in range(count)]
    assert got == [f"m{i}" for i in range(count)]

    for _ in range(count):
        await alice_sock.send({"type": "ping"})
    answers = [(await alice_sock.recv())["type"] for _ in range(count + count)]
    assert answers.count("error") > 0 and answers.count("new_message") == count
