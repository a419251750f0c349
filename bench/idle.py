"""Many idle joined sockets in one GroupChat process: memory per socket at scale, and that
every one of them still receives the room's messages."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from measure import Tally, close_all, ignore, post_all, wait_done
from rawws import WsClient
from targets import Target

SCALE = b"scale-"
CONCURRENCY = 100


@dataclass
class IdleResult:
    """What opening `sockets` idle joined sockets cost the server."""

    sockets: int
    opened: int = 0
    seconds: float = 0.0
    kib_per_socket: float = 0.0
    delivered: int = 0


async def idle_at_scale(target: Target, count: int) -> IdleResult:
    """Open and join `count` sockets, then post one message that each of them must get."""
    result = IdleResult(count)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> WsClient | None:
        async with gate:
            try:
                return await target.open_receiver(index, ignore)
            except (OSError, TimeoutError):
                return None

    await target.open_posters(1)
    before, start = target.server.rss_kib(), time.perf_counter()
    opened = [ws for ws in await asyncio.gather(*(one(i) for i in range(count))) if ws]
    result.seconds = time.perf_counter() - start
    await asyncio.sleep(1.0)
    result.opened = len(opened)
    result.kib_per_socket = (target.server.rss_kib() - before) / max(1, len(opened))
    try:
        tally = Tally(SCALE, 1, len(opened))
        for ws in opened:
            ws.sink = tally.sink
        await post_all(target, tally, 1, 1)
        await wait_done(tally, 60)
        result.delivered = len(tally.latencies)
    finally:
        target.close_posters()
        close_all(opened)
    return result
