"""SQLite's search index catches up in bulk (migration 0008, store/search_index.py): stored
messages wait in search_pending; edits, deletions and room clears of pending or indexed
messages keep the FTS5 index exactly in step with the messages table; the post writer
indexes on its own when idle and at startup; a search sees every message stored before it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from conftest import TEST_DATABASE_URL, Actor, Server, create_room, make_settings, start_server
from conftest import post_message as post
from groupchat.config import Settings
from groupchat.store import search_index

pytestmark = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's FTS5 index only")
TS = "2026-12-05T00:00:00.000Z"


@pytest.fixture
async def db_file(settings: Settings) -> Path:
    """A migrated database (the settings fixture's) with one user and one room, no server."""
    path = settings.sqlite_path
    assert path is not None
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO users (id, username, username_key, display_name, created_at)"
            " VALUES ('u1', 'alice', 'alice', 'Alice', ?)",
            (TS,),
        )
        conn.execute(
            "INSERT INTO rooms (id, name, created_by, created_at) VALUES ('r1', 'room', 'u1', ?)",
            (TS,),
        )
    return path


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)  # autocommit: catch_up opens its own


def insert(conn: sqlite3.Connection, message_id: str, content: str) -> None:
    conn.execute(
        "INSERT INTO messages (id, room_id, author_type, author_id, content, content_html,"
        " hash, created_at) VALUES (?, 'r1', 'user', 'u1', ?, '', ?, ?)",
        (message_id, content, "h" + message_id, TS),
    )


def matches(conn: sqlite3.Connection, word: str) -> list[str]:
    rows = conn.execute(
        "SELECT m.id FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid"
        " WHERE messages_fts MATCH ? ORDER BY m.id",
        (word,),
    )
    return [row[0] for row in rows]


def pending(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM search_pending").fetchone()[0])


async def until_indexed(conn: sqlite3.Connection, seconds: float = 10) -> None:
    """Wait until the post writer has indexed every pending message."""
    deadline = time.monotonic() + seconds
    while pending(conn) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert pending(conn) == 0, "the post writer did not index what was pending"


def assert_index_matches_messages(conn: sqlite3.Connection) -> None:
    """FTS5 compares the index with the content table (rank 1); raises if they differ. Only
    with nothing pending: a pending message is in the table, not yet in the index."""
    assert pending(conn) == 0
    conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")


def assert_index_sound(conn: sqlite3.Connection) -> None:
    """The index's own structure (rank 0), while some messages are pending."""
    conn.execute("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 0)")


def test_new_messages_wait_then_are_indexed_in_bulk(db_file: Path) -> None:
    conn = connect(db_file)
    for n in range(5):
        insert(conn, f"m{n}", f"apple number{n}")
    assert pending(conn) == 5
    assert matches(conn, "apple") == []  # not in the post's transaction any more
    assert search_index.catch_up_sqlite(conn) == 5
    assert pending(conn) == 0
    assert matches(conn, "apple") == [f"m{n}" for n in range(5)]
    assert search_index.catch_up_sqlite(conn) == 0
    assert_index_matches_messages(conn)


def test_edits_and_deletions_of_pending_and_indexed_messages_keep_the_index_exact(
    db_file: Path,
) -> None:
    conn = connect(db_file)
    insert(conn, "old1", "banana split")
    insert(conn, "old2", "banana bread")
    search_index.catch_up_sqlite(conn)
    insert(conn, "new1", "cherry pie")
    insert(conn, "new2", "cherry jam")
    # indexed: the index changes at once; pending: it is indexed with its text at that time
    conn.execute("UPDATE messages SET content = 'mango split' WHERE id = 'old1'")
    conn.execute("UPDATE messages SET content = 'mango pie' WHERE id = 'new1'")
    conn.execute("DELETE FROM messages WHERE id IN ('old2', 'new2')")
    assert pending(conn) == 1  # new2's rowid left with it
    assert matches(conn, "banana") == [] and matches(conn, "mango") == ["old1"]
    assert_index_sound(conn)
    search_index.catch_up_sqlite(conn)
    assert matches(conn, "mango") == ["new1", "old1"]
    assert matches(conn, "cherry") == [] and matches(conn, "banana") == []
    assert_index_matches_messages(conn)


def test_a_reused_rowid_is_indexed_again(db_file: Path) -> None:
    """SQLite gives a deleted last row's rowid to the next insert: that row is new, pending."""
    conn = connect(db_file)
    insert(conn, "a", "first words")
    insert(conn, "b", "second words")
    search_index.catch_up_sqlite(conn)
    rowid = conn.execute("SELECT rowid FROM messages WHERE id = 'b'").fetchone()[0]
    conn.execute("DELETE FROM messages WHERE id = 'b'")
    insert(conn, "c", "third words")
    assert conn.execute("SELECT rowid FROM messages WHERE id = 'c'").fetchone()[0] == rowid
    assert pending(conn) == 1
    conn.execute("UPDATE messages SET content = 'third words again' WHERE id = 'c'")
    search_index.catch_up_sqlite(conn)
    assert matches(conn, "again") == ["c"] and matches(conn, "second") == []
    assert_index_matches_messages(conn)


def test_clearing_a_room_leaves_nothing_behind(db_file: Path) -> None:
    conn = connect(db_file)
    for n in range(3):
        insert(conn, f"i{n}", "indexed kiwi")
    search_index.catch_up_sqlite(conn)
    for n in range(3):
        insert(conn, f"p{n}", "pending kiwi")
    conn.execute("DELETE FROM messages WHERE room_id = 'r1'")
    assert pending(conn) == 0
    assert matches(conn, "kiwi") == []
    assert_index_matches_messages(conn)


def test_catching_up_goes_a_chunk_per_transaction(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_index, "CHUNK", 4)
    conn = connect(db_file)
    for n in range(10):
        insert(conn, f"m{n:02}", "lime")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert search_index.catch_up_sqlite(conn) == 10
    assert statements.count("BEGIN IMMEDIATE") == 4  # 4 + 4 + 2, then one that finds none
    assert len(matches(conn, "lime")) == 10
    assert_index_matches_messages(conn)


async def test_the_post_writer_indexes_on_its_own_when_idle(
    server: Server, http: httpx.AsyncClient, alice: Actor
) -> None:
    rid = (await create_room(http, alice))["id"]
    for n in range(3):
        await post(http, alice, rid, f"quiet message {n}")
    path = server.settings.sqlite_path
    assert path is not None
    conn = connect(path)
    try:
        await until_indexed(conn)  # no search asks for it
        assert len(matches(conn, "quiet")) == 3
    finally:
        conn.close()


async def test_startup_indexes_what_an_earlier_run_left_pending(
    db_file: Path, tmp_path: Path
) -> None:
    conn = connect(db_file)
    insert(conn, "left", "leftover words")
    assert pending(conn) == 1
    srv = await start_server(make_settings(tmp_path))
    try:
        await until_indexed(conn)
        assert matches(conn, "leftover") == ["left"]
    finally:
        await srv.stop()
        conn.close()


async def test_a_search_finds_a_message_stored_a_moment_before(
    server: Server, http: httpx.AsyncClient, alice: Actor
) -> None:
    rid = (await create_room(http, alice))["id"]
    for n in range(20):
        await post(http, alice, rid, f"fresh{n} words")
        resp = await http.get(
            "/api/search", params={"q": f"fresh{n}", "room_id": rid}, headers=alice.headers
        )
        assert resp.status_code == 200
        assert [r["message"]["content"] for r in resp.json()["results"]] == [f"fresh{n} words"]
