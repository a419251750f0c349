"""Per-process guards on uploads: a token bucket per user, and few image decodes at a time.

Decoding an image costs up to a few hundred MB for a short while; a burst of uploads would
multiply that. Work beyond `workers` concurrent decodes waits in line (holding only its
compressed bytes, at most MAX_IMAGE_BYTES each) instead of decoding at once. When the last
decode of a burst ends, the C allocator is asked to give its free pages back to the operating
system, so the process does not keep its peak size (glibc keeps freed memory of worker
threads' arenas otherwise).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from groupchat.ratelimit import Buckets

T = TypeVar("T")


class UploadLimits:
    """The upload rate buckets and the image-work limiter of one running app."""

    def __init__(self) -> None:
        self._buckets: Buckets | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._active = 0
        self._lock = threading.Lock()

    def allow(self, user_id: str, per_minute: int) -> int | None:
        """None if the user may upload now, else the seconds to wait (0 per_minute: no limit)."""
        if per_minute <= 0:
            return None
        if self._buckets is None:
            self._buckets = Buckets(per_minute / 60, per_minute)
        return self._buckets.retry_after(user_id)

    async def run_image_work(self, workers: int, work: Callable[[], T]) -> T:
        """Run CPU- and memory-heavy image work in a thread, at most `workers` at a time."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(workers)
        return await anyio.to_thread.run_sync(self._tracked, work, limiter=self._limiter)

    def _tracked(self, work: Callable[[], T]) -> T:
        with self._lock:
            self._active += 1
        try:
            return work()
        finally:
            with self._lock:
                self._active -= 1
                last = self._active == 0
            if last:
                release_free_memory()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None elsewhere (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    return trim


def release_free_memory() -> None:
    """Return the allocator's free pages (of every arena) to the operating system."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
