"""The baseline: a minimal `websockets` relay that broadcast()s each sender frame to every receiver.

Run as `python bench/baseline_server.py PORT`. Paths: /recv receives, /send sends (each frame is
acknowledged with "ack" once broadcast() has handed it to every receiver), anything else closes.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from websockets.asyncio.server import ServerConnection, broadcast, serve


def make_handler(
    receivers: set[ServerConnection],
) -> Callable[[ServerConnection], Awaitable[None]]:
    """The connection handler, closing over the set of receivers."""

    async def handler(ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else ""
        if path == "/recv":
            receivers.add(ws)
            try:
                await ws.wait_closed()
            finally:
                receivers.discard(ws)
        elif path == "/send":
            async for message in ws:
                broadcast(receivers, message)
                await ws.send("ack")

    return handler


async def main(port: int) -> None:
    """Serve on 127.0.0.1:port until killed."""
    receivers: set[ServerConnection] = set()
    async with serve(make_handler(receivers), "127.0.0.1", port, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


def run(port: int) -> None:
    """Run main() on uvloop when it is installed, as uvicorn does for GroupChat."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(port))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(port))


if __name__ == "__main__":
    run(int(sys.argv[1]))
