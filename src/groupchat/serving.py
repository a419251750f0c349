"""How uvicorn is configured for GroupChat: one place, used by `groupchat serve` and the tests."""

from __future__ import annotations

import gc
import socket
from typing import Any

import uvicorn

from groupchat.config import Settings
from groupchat.http_protocol import http_protocol
from groupchat.realtime.protocol import ChatProtocol


def uvicorn_config(
    app: Any, settings: Settings, host: str, port: int, **extra: Any
) -> uvicorn.Config:
    """The server settings DESIGN.md measured best for fan-out, plus the caller's extras."""
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": http_protocol(settings),  # head timeout, per-address connection cap
        "ws": ChatProtocol,  # /ws by callbacks on uvicorn's sans-I/O protocol
        "ws_max_size": settings.max_ws_frame_bytes,
        "ws_per_message_deflate": False,
        "server_header": False,
    }
    options.update(extra)
    return uvicorn.Config(app, **options)


YOUNG_OBJECTS = 5000  # allocations between young collections (CPython's default: 700)


class Server(uvicorn.Server):
    """uvicorn's server; once started, what exists lives as long as the process (the app, its
    services, every module): gc.freeze() takes it out of the garbage collector's full passes.
    Those walked ~150,000 objects for 60-90 ms, a pause every few seconds while sockets open
    (docs/benchmarks.md, "Fan-out"). And a young generation of 5,000 objects, not 700: a
    fan-out's frames in flight during a young collection were promoted, the old generation
    grew by a quarter every few seconds, and each time a full pass walked every socket's
    objects (23-88 ms with 1,000 sockets, in the middle of a 20 messages/s stream)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        gc.freeze()
        gc.set_threshold(YOUNG_OBJECTS, *gc.get_threshold()[1:])
