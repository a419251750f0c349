"""WAL checkpoints run on their own thread, never inside a post's commit (db/checkpoints.py).

In WAL mode the database file itself changes only when a checkpoint copies pages back into it,
so these tests watch that file: posts are stored in the WAL at once, and the file catches up
in the post writer's next pause (0.25 s without posts) without any of the posts' commits doing
it.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import pytest

from conftest import TEST_DATABASE_URL, Actor, create_room
from groupchat.db import checkpoints
from groupchat.db.checkpoints import WalCheckpointer
from groupchat.db.engine import connect_sqlite
from groupchat.store import post_writer
from groupchat.store.post_writer import IDLE_SECONDS

PAUSE = IDLE_SECONDS + 0.5  # the writer's pause, then time for the checkpoint itself

pytestmark = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's WAL")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def changes(path: Path, before: str, seconds: float) -> bool:
    for _ in range(int(seconds / 0.05)):
        if digest(path) != before:
            return True
        await asyncio.sleep(0.05)
    return False


def wal_table(path: Path) -> sqlite3.Connection:
    conn = connect_sqlite(str(path), "normal")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # as the post writer's connection
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return conn


async def test_posts_reach_the_database_file_through_the_checkpoint_thread(
    http, server, alice: Actor
) -> None:
    db_file = server.settings.sqlite_path
    room = await create_room(http, alice, name="wal")
    await asyncio.sleep(PAUSE)  # what the setup wrote is checkpointed
    before = digest(db_file)
    for i in range(5):
        resp = await http.post(
            f"/api/rooms/{room['id']}/messages", json={"content": f"m{i}"}, headers=alice.headers
        )
        assert resp.status_code == 201
    assert digest(db_file) == before, "a post's commit checkpointed the WAL itself"
    assert await changes(db_file, before, PAUSE + 2)
    stored = sqlite3.connect(db_file).execute("SELECT count(*) FROM messages").fetchone()[0]
    assert stored == 5


async def test_a_stream_without_pauses_is_checkpointed_in_a_gap_once_overdue(
    http, server, alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Posts that never pause for 0.25 s: the WAL is checkpointed in a short gap between them
    once CHECKPOINT_EVERY_SECONDS passed, and not in every gap."""
    db_file = server.settings.sqlite_path
    room = await create_room(http, alice, name="stream")
    await asyncio.sleep(PAUSE)  # what the setup wrote is checkpointed
    monkeypatch.setattr(post_writer, "IDLE_SECONDS", 60.0)  # no pause is ever long enough
    monkeypatch.setattr(post_writer, "INDEX_EVERY_SECONDS", 0.0)  # every gap is taken
    url = f"/api/rooms/{room['id']}/messages"
    before = digest(db_file)
    resp = await http.post(url, json={"content": "one"}, headers=alice.headers)
    assert resp.status_code == 201
    assert not await changes(db_file, before, 1.0), "checkpointed in a gap before it was due"
    monkeypatch.setattr(post_writer, "CHECKPOINT_EVERY_SECONDS", 0.0)
    resp = await http.post(url, json={"content": "two"}, headers=alice.headers)
    assert resp.status_code == 201
    assert await changes(db_file, before, 3)


async def test_the_checkpoint_waits_for_a_pause_or_many_posts(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    conn = wal_table(path)
    checkpointer = WalCheckpointer(str(path), "normal")
    checkpointer.start()
    try:
        before = digest(path)
        conn.execute("INSERT INTO t VALUES ('a')")
        checkpointer.committed(1)
        assert not await changes(path, before, 0.5), "checkpointed before it was due"
        checkpointer.committed(checkpoints.EVERY_POSTS)
        assert await changes(path, before, 3)
        before = digest(path)
        conn.execute("INSERT INTO t VALUES ('b')")
        checkpointer.committed(1)
        assert not await changes(path, before, 0.5), "checkpointed before it was due"
        checkpointer.idle()  # the post writer's pause
        assert await changes(path, before, 3)
    finally:
        await asyncio.to_thread(checkpointer.stop)
        conn.close()


async def test_stopping_checkpoints_what_is_left(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    conn = wal_table(path)
    checkpointer = WalCheckpointer(str(path), "normal")
    checkpointer.start()
    before = digest(path)
    conn.execute("INSERT INTO t VALUES ('a')")
    await asyncio.to_thread(checkpointer.stop)
    assert digest(path) != before
    conn.close()
