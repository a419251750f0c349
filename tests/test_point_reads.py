"""The point readers (db/point_reads.py): the sign-in check of every request, the membership
check of WebSocket frames, and a post's reply and mentions read there.

The same cases run against SQLite's reader thread and, with TEST_DATABASE_URL, against
PostgreSQL's pool: each read gets its own rows, a failing read fails alone, each read sees the
newest commit, and the running server checks tokens through the reader."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from conftest import TEST_DATABASE_URL, Actor, Server, add_member, create_room, post_message
from groupchat.db.engine import connect_sqlite
from groupchat.db.point_reads import PG_APPLICATION_NAME, PgReader, PointReader, SqliteReader
from groupchat.services import Services

t = sa.table("point_reads_t", sa.column("k"), sa.column("v"))
ONE = sa.select(t.c.k, t.c.v).where(t.c.k == sa.bindparam("k"))
COUNT = sa.select(sa.func.count().label("n")).select_from(t)
MISSING = sa.select(sa.column("nope")).select_from(t)
SETUP = (
    "DROP TABLE IF EXISTS point_reads_t",
    "CREATE TABLE point_reads_t (k INTEGER PRIMARY KEY, v TEXT)",
    "INSERT INTO point_reads_t SELECT k, 'v' || k FROM ({}) AS s(k)",
)

Writer = tuple[Callable[[str], Awaitable[object]], Callable[[], Awaitable[object]]]


async def _sqlite(tmp_path: Path) -> tuple[PointReader, Writer]:
    """The reader, and another connection's (write, close)."""
    path = str(tmp_path / "r.db")
    conn = connect_sqlite(path, "normal")
    numbers = "WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k < 99)"
    conn.execute(SETUP[1])
    conn.execute(f"{numbers} INSERT INTO point_reads_t SELECT k, 'v' || k FROM s")

    async def write(sql: str) -> object:
        return conn.execute(sql)

    async def close() -> None:
        conn.close()

    return SqliteReader(path, "normal"), (write, close)


async def _postgres() -> tuple[PointReader, Writer]:
    assert TEST_DATABASE_URL is not None
    dsn = make_url(TEST_DATABASE_URL).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    await conn.execute(SETUP[0])
    await conn.execute(SETUP[1])
    await conn.execute(SETUP[2].format("SELECT generate_series(0, 99)"))
    return PgReader(TEST_DATABASE_URL), (conn.execute, conn.close)


@pytest.fixture
async def table(tmp_path: Path) -> AsyncIterator[tuple[PointReader, Callable]]:
    reader, (write, close) = await (_postgres() if TEST_DATABASE_URL else _sqlite(tmp_path))
    await reader.start()
    try:
        yield reader, write
    finally:
        await reader.stop()
        await close()


async def test_concurrent_reads_each_get_their_own_rows(table) -> None:
    reader, _ = table
    rows = await asyncio.gather(*(reader.fetch(ONE, {"k": k}) for k in range(100)))
    assert [(r[0].k, r[0].v) for r in rows] == [(k, f"v{k}") for k in range(100)]


async def test_a_failing_read_fails_alone(table) -> None:
    reader, _ = table
    good = reader.fetch(ONE, {"k": 1})
    bad = reader.fetch(MISSING, {})
    after = reader.fetch(COUNT, {})
    assert (await good)[0].v == "v1"
    with pytest.raises((sqlite3.OperationalError, asyncpg.PostgresError)):
        await bad
    assert (await after)[0].n == 100


async def test_each_read_sees_the_newest_commit(table) -> None:
    """No snapshot outlives a read: what another connection commits is read at once."""
    reader, write = table
    assert (await reader.fetch(ONE, {"k": 7}))[0].v == "v7"
    await write("UPDATE point_reads_t SET v = 'changed' WHERE k = 7")
    assert (await reader.fetch(ONE, {"k": 7}))[0].v == "changed"
    await write("DELETE FROM point_reads_t WHERE k = 7")
    assert await reader.fetch(ONE, {"k": 7}) == []


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="PostgreSQL's pool")
async def test_reads_go_on_when_postgresql_drops_the_pools_connections(table) -> None:
    """As after a restart of PostgreSQL: the next read is answered, not refused."""
    reader, write = table
    await asyncio.gather(*(reader.fetch(ONE, {"k": k}) for k in range(20)))  # several open
    await write(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE application_name = '{PG_APPLICATION_NAME}'"
    )
    rows = await asyncio.gather(*(reader.fetch(ONE, {"k": k}) for k in range(4)))
    assert [r[0].v for r in rows] == ["v0", "v1", "v2", "v3"]


@pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite's reader thread")
async def test_stopping_the_sqlite_reader_answers_what_was_queued(tmp_path: Path) -> None:
    reader, (_, close) = await _sqlite(tmp_path)
    await reader.start()
    queued = [reader.fetch(COUNT, {}) for _ in range(5)]
    await reader.stop()
    assert not reader.running
    assert [(await q)[0].n for q in queued] == [100] * 5
    await close()


async def test_a_disabled_account_is_refused_at_its_next_request(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    """The running server checks each request's token through the reader, and what an admin
    changed a moment ago already counts."""
    services = server.app.state.services
    assert services.reads is not None and services.reads.running
    assert (await http.get("/api/auth/me", headers=bob.headers)).status_code == 200
    async with services.db.write() as conn:
        await conn.execute(
            sa.text("UPDATE users SET disabled = true WHERE id = :id"), {"id": bob.id}
        )
    assert (await http.get("/api/auth/me", headers=bob.headers)).status_code == 401
    assert (await http.get("/api/auth/me", headers=alice.headers)).status_code == 200


async def test_once_the_reader_stopped_the_check_reads_through_sqlalchemy(
    http, server: Server, alice: Actor, bob: Actor
) -> None:
    """The same statement, the same answers (a server shutting down, an in-memory database)."""
    services = server.app.state.services
    await services.reads.stop()
    assert not services.reads.running
    assert (await http.get("/api/auth/me", headers=bob.headers)).status_code == 200
    async with services.db.write() as conn:
        disable = sa.text("UPDATE users SET disabled = true WHERE id = :id")
        await conn.execute(disable, {"id": bob.id})
    assert (await http.get("/api/auth/me", headers=bob.headers)).status_code == 401
    resp = await http.get("/api/auth/me", headers=alice.headers)
    assert resp.status_code == 200 and resp.json()["id"] == alice.id


@pytest.fixture(params=["running", "stopped"])
async def services(request: pytest.FixtureRequest, server: Server) -> Services:
    """The live server's services, their point reader running or stopped (reads then go
    through SQLAlchemy): the same answers are expected either way."""
    reads = server.services.reads
    assert reads is not None
    if request.param == "stopped":
        await reads.stop()
    assert reads.running == (request.param == "running")
    return server.services


async def test_a_frames_membership_check_sees_the_newest_commit(
    http, services: Services, alice: Actor, bob: Actor
) -> None:
    """join_room, typing and cancel_ai check membership with one point read (SQLAlchemy once
    the reader stopped): who was let in a moment ago may join, and whose membership row was
    deleted a moment ago is refused at the next frame."""
    room = await create_room(http, alice, name="team")
    sock = await bob.socket()
    join = {"type": "join_room", "room_id": room["id"]}
    typing = {"type": "typing", "room_id": room["id"], "is_typing": True}
    await sock.send(join)
    assert (await sock.recv())["code"] == "not_found"

    await add_member(http, room, alice, bob)
    assert (await sock.recv())["type"] == "member_joined"  # his own sockets hear of it
    await sock.send(join)
    assert await sock.recv() == {"type": "joined", "room_id": room["id"]}
    await sock.send(typing)
    await sock.silent()

    async with services.db.write() as conn:
        delete = sa.text("DELETE FROM room_members WHERE room_id = :r AND user_id = :u")
        await conn.execute(delete, {"r": room["id"], "u": bob.id})
    for frame in (typing, {"type": "cancel_ai", "room_id": room["id"]}):
        await sock.send(frame)
        error = await sock.recv()
        assert error["type"] == "error" and error["code"] == "not_found", error


async def test_a_posts_reply_and_mentions_are_read_outside_its_transaction(
    http, services: Services, alice: Actor, bob: Actor
) -> None:
    """The replied message and the members a post may mention: one point read each (SQLAlchemy
    once the reader stopped), the same answers either way."""
    room = await create_room(http, alice, name="team")
    await add_member(http, room, alice, bob)
    first = await post_message(http, bob, room["id"], "hello")
    name = bob.user["username"]
    content = f"@{name} @{name}by @{name[:3]}x hi"
    answer = await post_message(http, alice, room["id"], content, reply_to=first["id"])
    assert answer["mentions"] == [bob.id]
    reply = answer["reply_to"]
    assert (reply["id"], reply["excerpt"], reply["author"]["id"]) == (first["id"], "hello", bob.id)

    assert (await http.delete(f"/api/messages/{first['id']}", headers=bob.headers)).is_success
    again = {"content": "re", "reply_to": first["id"]}
    path = f"/api/rooms/{room['id']}/messages"
    assert (await http.post(path, json=again, headers=alice.headers)).status_code == 422
