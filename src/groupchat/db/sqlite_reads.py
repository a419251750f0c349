"""Point reads on SQLite without SQLAlchemy: a thread with a plain `sqlite3` connection.

Every REST request's sign-in check reads here (store/users.py). Through SQLAlchemy's
AsyncConnection and aiosqlite a read is eight round trips to aiosqlite's thread (cursors,
BEGIN, execute, fetchall, close, rollback): ~0.7 ms of server CPU on an idle server and
~1.2 ms under load, more than the rest of a REST post. Here a one-statement read is one hop
each way, and every read waiting is taken at once. The connection never opens a transaction:
each statement reads the newest commit, and its rows are fetched whole, so no snapshot
outlives its read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from groupchat.config import Settings
from groupchat.db.engine import Database, connect_sqlite

Rows = list[Any]
Read = tuple[str, Mapping[str, Any], "asyncio.Future[Rows]"]


def make_sqlite_reader(settings: Settings, db: Database) -> SqliteReader | None:
    """A reader for a SQLite file; None for PostgreSQL or an in-memory database."""
    path = settings.sqlite_path if db.is_sqlite else None
    return None if path is None else SqliteReader(str(path), settings.sqlite_synchronous)


def _row(cursor: sqlite3.Cursor, values: Sequence[Any]) -> SimpleNamespace:
    """Columns as attributes, as in SQLAlchemy's rows."""
    names = (column[0] for column in cursor.description)
    return SimpleNamespace(**dict(zip(names, values, strict=True)))


def _settle(reads: list[Read], outcomes: list[Rows | BaseException]) -> None:
    for (_, _, future), outcome in zip(reads, outcomes, strict=True):
        if future.done():  # the caller gave up (cancelled)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


class SqliteReader:
    """One thread answering `fetch` calls in the order they came."""

    def __init__(self, path: str, synchronous: str) -> None:
        self._path, self._sync = path, synchronous
        self._queue: queue.SimpleQueue[Read | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """False before start and once stopping: callers read through SQLAlchemy then."""
        return self._thread is not None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="groupchat-sqlite-reads", daemon=True
        )
        self._thread.start()
        await asyncio.wrap_future(ready)

    async def stop(self) -> None:
        """Answer what is queued, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(thread.join)

    def fetch(self, sql: str, params: Mapping[str, Any]) -> asyncio.Future[Rows]:
        """Every row of one statement (named parameters); only while `running`."""
        assert self._loop is not None and self._thread is not None, "the reader is not running"
        future: asyncio.Future[Rows] = self._loop.create_future()
        self._queue.put((sql, params, future))
        return future

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            conn = connect_sqlite(self._path, self._sync)
            conn.execute("PRAGMA query_only=1")
            conn.row_factory = _row
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
