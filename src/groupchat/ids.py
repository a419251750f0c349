"""Identifiers that sort as strings in creation order (ULIDs) and UTC timestamps."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_lock = threading.Lock()
_last = (0, 0)


def new_id() -> str:
    """A ULID: 48-bit milliseconds + 80 random bits, monotonic within this process."""
    global _last
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _last
        if now_ms <= last_ms:  # same (or earlier) millisecond: increment, keep order
            now_ms, rand = last_ms, last_rand + 1
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # room to increment
        _last = (now_ms, rand)
    value = (now_ms << 80) | rand
    return "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def utc_now() -> datetime:
    """The current time in UTC, to the millisecond (what we store and show)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_ts(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and `Z`: `2026-11-26T05:02:18.123Z`."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def parse_ts(value: str) -> datetime:
    """Inverse of format_ts."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
