"""The stalled-reader check: readers that stop reading must not hold the room back, and the
server must let go of them (WS_STALL_SECONDS, SO_LINGER 0) instead of keeping their buffers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from measure import MARK, Tally, close_all, open_receivers, post_all, wait_done
from rawws import WsClient
from targets import Target

TINY_RCVBUF = 4096  # the kernel doubles it; loopback then advertises a window of a few KiB
# Big messages, so that few of them fill the kernel's buffers for a stalled socket. A frame
# carries the content twice (content and content_html).
CONTENT_CHARS = 7500
FRAME_BYTES_GUESS = 2 * CONTENT_CHARS + 600


def kernel_send_buffer_max() -> int:
    """The ceiling of TCP send-buffer autotuning: what the server's kernel may hold per socket."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024


def messages_to_overflow() -> int:
    """Enough messages to fill the kernel buffers of a stalled socket, with a 25 % margin."""
    in_flight = (kernel_send_buffer_max() + 256 * 1024) // FRAME_BYTES_GUESS
    return int(1.25 * in_flight) + 50


@dataclass
class StallResult:
    """What the healthy and the stalled receivers saw."""

    healthy: int
    stalled: int
    messages: int
    healthy_delivered: int = 0
    seconds: float = 0.0
    stalled_received: list[int] = field(default_factory=list)
    stalled_outcomes: list[str] = field(default_factory=list)
    server_held: list[str] = field(default_factory=list)  # the server's side, before reading
    healthy_p99_ms: float = 0.0
    gone_after: float | None = None  # s after the last post until the server let go of all

    @property
    def healthy_fraction(self) -> float:
        return self.healthy_delivered / max(1, self.healthy * self.messages)


async def stalled_readers(
    target: Target, healthy: int, stalled: int, messages: int, posters: int
) -> StallResult:
    """`healthy` readers plus `stalled` ones that never read while `messages` are posted; then
    the stalled ones read whatever the server left them, to see how it ended (a 1013 close?)."""
    result = StallResult(healthy, stalled, messages)
    tally = Tally(MARK, messages, healthy, padding=CONTENT_CHARS - 20)
    slow_tally = Tally(MARK, messages, stalled)
    slow_tally.post_times = tally.post_times
    good = await open_receivers(target, range(healthy), tally.sink)
    slow = [await _stalled_socket(target, healthy + i, slow_tally) for i in range(stalled)]
    await target.open_posters(posters)
    try:
        start = time.perf_counter()
        await post_all(target, tally, messages, posters)
        await wait_done(tally, 60)
        result.seconds = time.perf_counter() - start
        result.healthy_delivered = len(tally.latencies)
        ordered = sorted(tally.latencies) or [float("nan")]
        result.healthy_p99_ms = 1000 * ordered[int(0.99 * (len(ordered) - 1))]
        result.gone_after = await _until_gone(target.server.port, slow, time.perf_counter())
        result.server_held = [server_side(target.server.port, ws) for ws in slow]
        await _drain(slow)
    finally:
        target.close_posters()
        close_all(good + slow)
    result.stalled_received = [ws.counted for ws in slow]
    result.stalled_outcomes = [outcome(ws) for ws in slow]
    return result


TCP_STATES = {"01": "ESTABLISHED", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT"}


def server_side(server_port: int, ws: WsClient) -> str:
    """The server's end of a client connection in /proc/net/tcp: TCP state and unsent bytes."""
    client_port = ws.transport.get_extra_info("sockname")[1] if ws.transport else 0
    wanted = (f":{server_port:04X}", f":{client_port:04X}")
    try:
        rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return "unknown"
    for row in rows:
        cols = row.split()
        if cols[1].endswith(wanted[0]) and cols[2].endswith(wanted[1]):
            unsent = int(cols[4].partition(":")[0], 16)
            return f"{TCP_STATES.get(cols[3], cols[3])} with {unsent // 1024:,} KiB unsent"
    return "gone"


async def _until_gone(
    port: int, slow: list[WsClient], since: float, limit: float = 20
) -> float | None:
    """Seconds from `since` until the server's end of every stalled connection is gone (None:
    still there after `limit` s)."""
    while time.perf_counter() - since < limit:
        if all(server_side(port, ws) == "gone" for ws in slow):
            return time.perf_counter() - since
        await asyncio.sleep(0.1)
    return None


def outcome(ws: WsClient) -> str:
    """How a stalled socket ended, as seen once it read again."""
    if ws.close_code is not None:
        return f"closed by the server with {ws.close_code}"
    if ws.closed.done():
        return "dropped without a close frame"
    return "still open"


async def _stalled_socket(target: Target, index: int, tally: Tally) -> WsClient:
    ws = await target.open_receiver(index, tally.sink, rcvbuf=TINY_RCVBUF)
    ws.stall()
    return ws


async def _drain(slow: list[WsClient], quiet: float = 3.0, limit: float = 30.0) -> None:
    """Read again until every stalled socket is closed, or nothing arrives for `quiet` s."""
    for ws in slow:
        ws.unstall()
    seen, still = -1, 0.0
    for _ in range(int(limit / 0.25)):
        if all(ws.closed.done() for ws in slow) or still >= quiet:
            return
        await asyncio.sleep(0.25)
        frames = sum(ws.frames for ws in slow)
        still = still + 0.25 if frames == seen else 0.0
        seen = frames
