"""The database's own threads (the SQLite post writer, the point reader)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable

Ready = concurrent.futures.Future[None]


async def start_thread(run: Callable[[Ready], None], name: str) -> threading.Thread:
    """A daemon thread running `run(ready)`, once `run` has said it is ready (its connection
    opened); what `run` set on `ready` instead is raised here."""
    ready: Ready = concurrent.futures.Future()
    thread = threading.Thread(target=run, args=(ready,), name=name, daemon=True)
    thread.start()
    await asyncio.wrap_future(ready)
    return thread
