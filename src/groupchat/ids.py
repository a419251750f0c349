"""Identifiers that sort as strings in creation order (ULIDs) and UTC timestamps."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
# Crockford's digits as int()'s base-32 digits: decoding is then one C call, not 26 steps.
_DIGITS = frozenset(_ALPHABET)
_TO_INT_DIGITS = str.maketrans(_ALPHABET, "0123456789abcdefghijklmnopqrstuv")
_lock = threading.Lock()
_last = (0, 0)
_RAND_MASK = (1 << 80) - 1
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]  # 10 bits -> 2 digits: 13 steps, not 26
_last_id = ""  # the newest id made here: an `after` that sorts before it needs no decoding


class RandomPool:
    """Random byte strings of one size, cut from one os.urandom call per `per_draw` of them (for
    ids and salts). A system call per value cost more than the value's own work, and a post
    made after a pause runs on cold caches, where each one costs ~10 µs (docs/benchmarks.md,
    "What limits the ratios"). Safe across threads; a forked child never reuses its parent's."""

    def __init__(self, size: int, per_draw: int = 256) -> None:
        self._size, self._per_draw = size, per_draw
        self._values: list[bytes] = []
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._values.clear)

    def take(self) -> bytes:
        with self._lock:
            if not self._values:
                raw, size = os.urandom(self._size * self._per_draw), self._size
                self._values.extend(raw[i : i + size] for i in range(0, len(raw), size))
            return self._values.pop()


_RANDOM = RandomPool(10)  # an id's 80 random bits


def new_id(after: str | None = None) -> str:
    """A ULID: 48-bit milliseconds + 80 random bits, monotonic within this process.

    `after`: an id (perhaps made by another process) that the new one must sort after.
    """
    global _last, _last_id
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if after and after > _last_id:  # ids of the same length sort as their numbers do
            floor = _floor(after)
            if floor >= _pack(*_last):
                _last = (floor >> 80, floor & _RAND_MASK)
        last_ms, last_rand = _last
        if now_ms <= last_ms:  # same (or earlier) millisecond: increment, keep order
            now_ms, rand = last_ms, last_rand + 1
            if rand > _RAND_MASK:  # spent this millisecond's ids: borrow the next one
                now_ms, rand = now_ms + 1, 0
        else:
            rand = int.from_bytes(_RANDOM.take(), "big") >> 1  # room to increment
        _last = (now_ms, rand)
        value = _pack(now_ms, rand)
        _last_id = "".join([_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])
        return _last_id


def _pack(ms: int, rand: int) -> int:
    return (ms << 80) | rand


def _floor(after: str | None) -> int:
    try:
        return decode_id(after) if after else 0
    except ValueError:  # not one of our ids: nothing to sort after
        return 0


def decode_id(value: str) -> int:
    """The 128-bit number a ULID spells (its sort order)."""
    if not _DIGITS.issuperset(value):  # int() would also take signs, spaces, other scripts
        raise ValueError(f"not a ULID: {value!r}")
    return int(value.translate(_TO_INT_DIGITS), 32) if value else 0


def utc_now() -> datetime:
    """The current time in UTC, to the millisecond (what we store and show)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


_second: tuple[int, str] = (-1, "")  # a second since the epoch, and its text up to the seconds


def now_ts() -> str:
    """format_ts(utc_now()), in a third of the time (once per post); the date and time are
    spelled once a second."""
    global _second
    seconds, millis = divmod(time.time_ns() // 1_000_000, 1000)
    second, text = _second
    if seconds != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = (seconds, text)
    return f"{text}.{millis:03d}Z"


def format_ts(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and `Z`: `2026-11-26T05:02:18.123Z`."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"  # not "+00:00"


def parse_ts(value: str) -> datetime:
    """Inverse of format_ts."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
