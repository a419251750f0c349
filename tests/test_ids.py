"""ULIDs and timestamps: the fast encoders spell what the plain definitions spell."""

from __future__ import annotations

import os
import random
import re
from datetime import UTC, datetime

import pytest

from groupchat import hashchain, ids

ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def spelled(value: int) -> str:
    """The definition: 26 Crockford digits, 5 bits each, most significant first."""
    return "".join(ids._ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))


def test_new_ids_spell_their_number_and_sort_in_creation_order() -> None:
    made = [ids.new_id() for _ in range(2000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    for value in made:
        assert ULID.match(value)
        assert spelled(ids.decode_id(value)) == value


def test_an_id_made_after_another_sorts_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_last", ids._last)  # the far future is this test's alone
    rng = random.Random(7)
    for _ in range(200):
        later_ms = (1 << 47) + rng.getrandbits(40)  # far in the future: the floor wins
        floor = spelled((later_ms << 80) | rng.getrandbits(79))
        assert ids.new_id(after=floor) > floor


def test_now_ts_is_format_ts_of_now() -> None:
    before = ids.format_ts(ids.utc_now())
    stamp = ids.now_ts()
    after = ids.format_ts(ids.utc_now())
    assert before <= stamp <= after
    assert ids.format_ts(ids.parse_ts(stamp)) == stamp
    assert ids.parse_ts(stamp).tzinfo is not None
    assert abs(ids.parse_ts(stamp) - datetime.now(UTC)).total_seconds() < 5


def test_now_ts_spells_each_new_second_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """now_ts keeps the text of the current second: the next second must not reuse it."""
    monkeypatch.setattr(ids, "_second", (-1, ""))
    for ms in (1_764_000_000_999, 1_764_000_001_000, 1_764_000_001_001, 1_764_086_400_000):
        monkeypatch.setattr(ids.time, "time_ns", lambda ms=ms: ms * 1_000_000)
        expected = datetime.fromtimestamp(ms / 1000, UTC)
        assert ids.now_ts() == ids.format_ts(expected)


def test_salts_are_random_hex_and_a_forked_child_draws_its_own() -> None:
    salts = {hashchain.new_salt() for _ in range(600)}  # more than one draw from os.urandom
    assert len(salts) == 600 and all(re.fullmatch(r"[0-9a-f]{32}", s) for s in salts)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what it draws next must not be what the parent draws next
        os.write(write, hashchain.new_salt().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert re.fullmatch(r"[0-9a-f]{32}", child) and child != hashchain.new_salt()
