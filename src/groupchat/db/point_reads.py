"""Point reads without SQLAlchemy's connection machinery: the sign-in check of every request
and socket handshake, the membership check of WebSocket frames (join, typing, cancel), and a
post's lookups (the members it may mention, the message it replies to).

Through SQLAlchemy's AsyncConnection a one-statement read costs far more than the statement:
with aiosqlite, eight round trips to the driver's thread (cursors, BEGIN, execute, fetchall,
close, rollback), ~0.7 ms of server CPU on an idle server and ~1.2 ms under load, more than
the rest of a REST post; with asyncpg, a pre-ping, BEGIN, the query and ROLLBACK. Here:
- SQLite: a thread with a plain `sqlite3` connection (query_only). A read is one hop each
  way, and every read waiting is taken at once.
- PostgreSQL: a small asyncpg pool. A read is the query alone.
Neither opens a transaction: each statement reads the newest commit, and its rows are fetched
whole, so no snapshot outlives its read. Statements are SQLAlchemy selects with named
`bindparam`s, compiled once per reader. Rows come back with their columns as attributes, as
SQLAlchemy's do.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Awaitable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.engine import make_url

from groupchat.config import Settings
from groupchat.db.engine import Database, connect_sqlite
from groupchat.db.threads import Ready, start_thread

Rows = list[Any]
PG_POOL_SIZE = 4  # connections; a point read holds one for one round trip
PG_APPLICATION_NAME = "groupchat-point-reads"  # in pg_stat_activity
PG_COMMAND_TIMEOUT = 30  # seconds; a read hanging longer fails (500) instead of holding its request


class PointReader(Protocol):
    @property
    def running(self) -> bool:
        """False before start and once stopping: callers read through SQLAlchemy then."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def fetch(self, statement: sa.Select[Any], params: Mapping[str, Any]) -> Awaitable[Rows]:
        """Every row of one select; `params` by bindparam name. Only while `running`."""


def make_point_reader(settings: Settings, db: Database) -> PointReader | None:
    """The reader for this database; None for an in-memory SQLite database."""
    if not db.is_sqlite:
        return PgReader(db.url)
    path = settings.sqlite_path
    return None if path is None else SqliteReader(str(path), settings.sqlite_synchronous)


async def fetch(
    db: Database, reader: PointReader | None, statement: sa.Select[Any], params: Mapping[str, Any]
) -> Rows:
    """Every row of one select: through the reader while it runs, else through SQLAlchemy."""
    if reader is not None and reader.running:
        return await reader.fetch(statement, params)
    async with db.read() as conn:
        return list(await conn.execute(statement, params))


class _Compiled:
    """Each statement's SQL for one dialect, compiled at its first use."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self._dialect = dialect
        self._sql: dict[int, tuple[sa.Select[Any], str, tuple[str, ...]]] = {}

    def __call__(self, statement: sa.Select[Any]) -> tuple[str, tuple[str, ...]]:
        """(the SQL, the parameter names in order; empty for named parameters)"""
        known = self._sql.get(id(statement))
        if known is None:  # the statement is kept, so its id is never reused meanwhile
            compiled = statement.compile(dialect=self._dialect)
            names = tuple(compiled.positiontup or ())
            known = self._sql[id(statement)] = (statement, compiled.string, names)
        return known[1], known[2]


def _as_row(names: Sequence[str], values: Sequence[Any]) -> SimpleNamespace:
    return SimpleNamespace(**dict(zip(names, values, strict=True)))


# --- SQLite


Read = tuple[str, Mapping[str, Any], "asyncio.Future[Rows]"]


def _sqlite_row(cursor: sqlite3.Cursor, values: Sequence[Any]) -> SimpleNamespace:
    return _as_row([column[0] for column in cursor.description], values)


def _settle(reads: list[Read], outcomes: list[Rows | BaseException]) -> None:
    for (_, _, future), outcome in zip(reads, outcomes, strict=True):
        if future.done():  # the caller gave up (cancelled)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class SqliteReader:
    """One thread answering reads in the order they came."""

    def __init__(self, path: str, synchronous: str) -> None:
        self._path, self._sync = path, synchronous
        self._compiled = _Compiled(sqlite.dialect(paramstyle="named"))
        self._queue: queue.SimpleQueue[Read | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = await start_thread(self._run, "groupchat-sqlite-reads")

    async def stop(self) -> None:
        """Answer what is queued, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(thread.join)

    def fetch(self, statement: sa.Select[Any], params: Mapping[str, Any]) -> asyncio.Future[Rows]:
        assert self._loop is not None and self._thread is not None, "the reader is not running"
        future: asyncio.Future[Rows] = self._loop.create_future()
        self._queue.put((self._compiled(statement)[0], params, future))
        return future

    def _run(self, ready: Ready) -> None:
        try:
            conn = connect_sqlite(self._path, self._sync)
            conn.execute("PRAGMA query_only=1")
            conn.row_factory = _sqlite_row
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            stopping = False
            while not stopping:
                reads, stopping = self._take()
                if reads:
                    outcomes = [_read(conn, sql, params) for sql, params, _ in reads]
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(_settle, reads, outcomes)
        finally:
            conn.close()

    def _take(self) -> tuple[list[Read], bool]:
        """Wait for one read, then take every read waiting; True at the end."""
        reads: list[Read] = []
        item = self._queue.get()
        while item is not None:
            reads.append(item)
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return reads, False
        return reads, True


def _read(conn: sqlite3.Connection, sql: str, params: Mapping[str, Any]) -> Rows | BaseException:
    try:
        return conn.execute(sql, params).fetchall()
    except Exception as exc:  # this read's failure, never its neighbours'
        return exc


# --- PostgreSQL


async def _keep(_connection: Any) -> None:
    """Nothing to reset between reads: a read is one statement outside any transaction and
    changes no session setting (asyncpg's default reset is one more round trip)."""


class PgReader:
    """A small asyncpg pool of its own."""

    def __init__(self, url: str) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._compiled = _Compiled(pg_asyncpg.dialect())
        self._pool: Any = None

    @property
    def running(self) -> bool:
        return self._pool is not None

    async def start(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=PG_POOL_SIZE,
            reset=_keep,
            command_timeout=PG_COMMAND_TIMEOUT,
            server_settings={"application_name": PG_APPLICATION_NAME},
        )

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def fetch(self, statement: sa.Select[Any], params: Mapping[str, Any]) -> Rows:
        import asyncpg

        assert self._pool is not None, "the reader is not running"
        sql, names = self._compiled(statement)
        args = [params[name] for name in names]
        try:
            records = await self._pool.fetch(sql, *args)
        except (
            OSError,
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,  # what asyncpg raises on some connections dropped idle
        ):
            # PostgreSQL dropped a pooled connection (a restart), so likely all of them:
            # each is replaced at its next use, and the read runs once more.
            await self._pool.expire_connections()
            records = await self._pool.fetch(sql, *args)
        return [_as_row(list(record.keys()), list(record.values())) for record in records]
