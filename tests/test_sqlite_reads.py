"""SQLite's point reader (db/sqlite_reads.py): the sign-in check of every request reads there."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import TEST_DATABASE_URL, Actor, Server
from groupchat.db.engine import connect_sqlite
from groupchat.db.sqlite_reads import SqliteReader

pytestmark = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's reader")


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[tuple[sqlite3.Connection, SqliteReader]]:
    path = str(tmp_path / "r.db")
    writer = connect_sqlite(path, "normal")
    writer.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    writer.executemany("INSERT INTO t VALUES (?, ?)", [(k, f"v{k}") for k in range(100)])
    reader = SqliteReader(path, "normal")
    await reader.start()
    try:
        yield writer, reader
    finally:
        await reader.stop()
        writer.close()


async def test_concurrent_reads_each_get_their_own_rows(table) -> None:
    _, reader = table
    sql = "SELECT k, v FROM t WHERE k = :k"
    rows = await asyncio.gather(*(reader.fetch(sql, {"k": k}) for k in range(100)))
    assert [(r[0].k, r[0].v) for r in rows] == [(k, f"v{k}") for k in range(100)]


async def test_a_failing_read_fails_alone(table) -> None:
    _, reader = table
    good = reader.fetch("SELECT v FROM t WHERE k = :k", {"k": 1})
    bad = reader.fetch("SELECT nope FROM t", {})
    write = reader.fetch("DELETE FROM t", {})  # the reader's connection is query_only
    after = reader.fetch("SELECT count(*) AS n FROM t", {})
    assert (await good)[0].v == "v1"
    with pytest.raises(sqlite3.OperationalError):
        await bad
    with pytest.raises(sqlite3.OperationalError):
        await write
    assert (await after)[0].n == 100


async def test_each_read_sees_the_newest_commit(table) -> None:
    """No snapshot outlives a read: what another connection commits is read at once."""
    writer, reader = table
    sql = "SELECT v FROM t WHERE k = :k"
    assert (await reader.fetch(sql, {"k": 7}))[0].v == "v7"
    writer.execute("UPDATE t SET v = 'changed' WHERE k = 7")
    assert (await reader.fetch(sql, {"k": 7}))[0].v == "changed"
    writer.execute("DELETE FROM t WHERE k = 7")
    assert await reader.fetch(sql, {"k": 7}) == []


async def test_stop_answers_what_was_queued(tmp_path: Path) -> None:
    path = str(tmp_path / "r.db")
    connect_sqlite(path, "normal").execute("CREATE TABLE t (k INTEGER)").connection.close()
    reader = SqliteReader(path, "normal")
    await reader.start()
    queued = [reader.fetch("SELECT count(*) AS n FROM t", {}) for _ in range(5)]
    await reader.stop()
    assert not reader.running
    assert [(await q)[0].n for q in queued] == [0] * 5


async def test_a_disabled_account_is_refused_at_its_next_request(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    """The running server checks each request's token through the reader, and what an admin
    changed a moment ago already counts."""
    assert server.app.state.services.reads.running
    assert (await http.get("/api/auth/me", headers=bob.headers)).status_code == 200
    db = server.settings.sqlite_path
    conn = sqlite3.connect(db)
    conn.execute("UPDATE users SET disabled = 1 WHERE id = ?", (bob.id,))
    conn.commit()
    conn.close()
    assert (await http.get("/api/auth/me", headers=bob.headers)).status_code == 401
    assert (await http.get("/api/auth/me", headers=alice.headers)).status_code == 200
