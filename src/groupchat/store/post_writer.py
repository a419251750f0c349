"""One writer per process for posts: it takes every post waiting and commits them together.

SQLite: a thread with its own `sqlite3` connection. PostgreSQL: a task with its own asyncpg
connection. Each batch is one transaction (store/post_batch.py); after it commits, each post's
`announce` runs and its future is resolved, in commit order, on the event loop. A post that
cannot be stored fails alone, never its batch. GROUP_COMMIT=false (or an in-memory SQLite
database) stores each post in its own SQLAlchemy transaction instead.

SQLite's full-text index is brought up to date by the writer between batches
(store/search_index.py): after 0.25 s without posts, in the first 20 ms gap between posts
once a second has passed, once 1,000 wait, and whenever a search asks (`search_ready`). The
WAL checkpoint thread is woken after 0.25 s without posts, in a 20 ms gap once 10 s passed
without one, or by 1,000 posts (db/checkpoints.py): not in every short gap, because the commit
after a checkpoint starts the WAL afresh and waits for an fsync of its header (~1 ms).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from groupchat.config import Settings
from groupchat.db.checkpoints import WalCheckpointer
from groupchat.db.engine import Database, connect_sqlite
from groupchat.db.threads import Ready, start_thread
from groupchat.errors import ServiceUnavailable
from groupchat.store import post_batch, search_index
from groupchat.store import rooms as room_store
from groupchat.store.post_batch import HeadMoved, NewPost, Posted, TargetGone

log = logging.getLogger(__name__)
MAX_BATCH = 256
RETRIES = 5  # a batch relinked after another process moved a head (or a PostgreSQL deadlock)
COMMAND_TIMEOUT = 30  # seconds: a PostgreSQL batch that hangs longer fails (503), then reconnects
YIELD_SECONDS = 0.2  # at most this long the SQLite writer lets SQLAlchemy writers go first
# After IDLE_SECONDS without posts, the search index catches up and the WAL is checkpointed.
# The index also catches up once it is INDEX_EVERY_SECONDS behind, in the first gap of
# INDEX_GAP_SECONDS between posts (a pause that long usually goes on: no post waits for it),
# and once INDEX_BACKLOG posts wait; the WAL, in such a gap once CHECKPOINT_EVERY_SECONDS passed.
IDLE_SECONDS = 0.25
INDEX_EVERY_SECONDS = 1.0
INDEX_GAP_SECONDS = 0.02
INDEX_BACKLOG = 1000
CHECKPOINT_EVERY_SECONDS = 10.0
KNOWN_HEADS = 100_000  # rooms whose head the PostgreSQL writer remembers (then it forgets all)
Outcome = Posted | BaseException
Pending = tuple[NewPost, "asyncio.Future[Posted]"]


class PostWriter(Protocol):
    """Stores posts; `submit` resolves once the post is committed (or refused)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def submit(self, post: NewPost) -> Awaitable[Posted]: ...

    async def search_ready(self) -> None:
        """Return once every message stored so far can be found by a search."""


def make_post_writer(settings: Settings, db: Database) -> PostWriter:
    """The group-commit writer for this database, or one transaction per post."""
    if not settings.group_commit:
        return SinglePostWriter(db)
    if db.is_sqlite:
        path = settings.sqlite_path
        return SinglePostWriter(db) if path is None else SqliteWriter(db, str(path), settings)
    return PgWriter(db.url)


def _settle(batch: Sequence[Pending], outcomes: Sequence[Outcome]) -> None:
    """On the event loop, in commit order: announce each stored post, then resolve its future."""
    for (post, future), outcome in zip(batch, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not future.done():
                future.set_exception(outcome)
            continue
        if post.announce is not None and outcome.message is not None:
            try:
                post.announce(outcome)
            except Exception:
                log.exception("announcing message %s failed", outcome.message.id)
        if not future.done():
            future.set_result(outcome)


@dataclass(frozen=True, slots=True)
class _Sync:
    """A search waiting for the index to catch up (on the SQLite writer's queue)."""

    future: asyncio.Future[None]

    def done(self) -> None:
        if not self.future.done():
            self.future.set_result(None)


def _unavailable(count: int) -> list[Outcome]:
    return [ServiceUnavailable("the message could not be stored; try again") for _ in range(count)]


class SqliteWriter:
    """The SQLite writer thread (WAL, BEGIN IMMEDIATE, SQLITE_SYNCHRONOUS); its WAL checkpoints
    run on a thread of their own (db/checkpoints.py)."""

    def __init__(self, db: Database, path: str, settings: Settings) -> None:
        self._db, self._path, self._sync = db, path, settings.sqlite_synchronous
        self._queue: queue.SimpleQueue[Pending | _Sync | None] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unindexed, self._indexed_at = 0, time.monotonic()
        self._known = post_batch.KnownRooms()  # the writer thread's own
        self._thread: threading.Thread | None = None
        self._checkpoints = WalCheckpointer(path, settings.sqlite_synchronous)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = await start_thread(self._run, "groupchat-post-writer")
        self._checkpoints.start()

    def submit(self, post: NewPost) -> asyncio.Future[Posted]:
        if self._loop is None or self._thread is None:
            raise ServiceUnavailable("the server is shutting down")
        future: asyncio.Future[Posted] = self._loop.create_future()
        self._queue.put((post, future))
        return future

    async def search_ready(self) -> None:
        if self._loop is None or self._thread is None:
            return  # stopped: nothing is being stored
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put(_Sync(future))
        await future

    async def stop(self) -> None:
        """Store what is queued, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(thread.join)
        await asyncio.to_thread(self._checkpoints.stop)

    def _run(self, ready: Ready) -> None:
        try:
            conn = connect_sqlite(self._path, self._sync)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread's job
        except BaseException as exc:
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            self._index(conn, [])  # what an earlier run left pending
            stopping = False
            while not stopping:
                wait = self._pause_wait()
                batch, syncs, stopping = self._take(wait)
                paused = not (batch or syncs or stopping)  # no post came within `wait`
                if batch:
                    try:
                        outcomes = self._write(conn, [post for post, _ in batch])
                    except BaseException:  # never leave posts waiting forever
                        log.exception("the post writer failed")
                        outcomes = _unavailable(len(batch))
                    assert self._loop is not None
                    self._loop.call_soon_threadsafe(_settle, batch, outcomes)
                    self._checkpoints.committed(len(batch))
                    self._unindexed += len(batch)
                if syncs or self._index_due(idle=paused):
                    self._index(conn, syncs)
                if paused and self._checkpoints.pending and self._checkpoint_due(wait):
                    self._checkpoints.idle()
        finally:
            conn.close()

    def _take(self, wait: float | None) -> tuple[list[Pending], list[_Sync], bool]:
        """Wait for one post (at most `wait` seconds), then take every post waiting (up to
        MAX_BATCH); True at the end."""
        batch: list[Pending] = []
        syncs: list[_Sync] = []
        try:
            item = self._queue.get(timeout=wait)
        except queue.Empty:
            return batch, syncs, False
        while True:
            if item is None:
                return batch, syncs, True
            if isinstance(item, _Sync):
                syncs.append(item)
            else:
                batch.append(item)
            if len(batch) >= MAX_BATCH:
                return batch, syncs, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, syncs, False

    def _pause_wait(self) -> float | None:
        """How long to wait for a post before indexing or checkpointing what waits (None: no
        limit): the first short gap once the index is a second behind, else a pause."""
        if self._unindexed and time.monotonic() - self._indexed_at >= INDEX_EVERY_SECONDS:
            return INDEX_GAP_SECONDS
        return IDLE_SECONDS if self._unindexed or self._checkpoints.pending else None

    def _checkpoint_due(self, wait: float | None) -> bool:
        """After a pause, or in a short gap once the last checkpoint is long ago."""
        since = time.monotonic() - self._checkpoints.checkpointed_at
        overdue = since >= CHECKPOINT_EVERY_SECONDS
        return wait == IDLE_SECONDS or overdue

    def _index_due(self, *, idle: bool) -> bool:
        return bool(self._unindexed) and (idle or self._unindexed >= INDEX_BACKLOG)

    def _index(self, conn: sqlite3.Connection, syncs: list[_Sync]) -> None:
        """Bring the search index up to date; then the searches waiting for it may run (and
        do even when that failed: they find less rather than nothing)."""
        self._let_others_write()
        try:
            search_index.catch_up_sqlite(conn)
        except sqlite3.Error:
            log.exception("indexing new messages for search failed")
        self._unindexed, self._indexed_at = 0, time.monotonic()
        assert self._loop is not None
        for sync in syncs:
            self._loop.call_soon_threadsafe(sync.done)

    def _write(self, conn: sqlite3.Connection, posts: list[NewPost]) -> list[Outcome]:
        for _ in range(RETRIES):
            self._let_others_write()
            try:
                return list(post_batch.write_sqlite(conn, posts, self._known))
            except HeadMoved:
                continue
            except sqlite3.OperationalError:  # locked too long, disk full, I/O: no post's fault
                log.exception("storing %d messages failed", len(posts))
                return _unavailable(len(posts))
            except Exception as exc:  # a constraint or a value: find the post, store the others
                if len(posts) > 1:
                    return [outcome for post in posts for outcome in self._write(conn, [post])]
                log.warning("a message could not be stored: %r", exc)
                return [exc]
        return _unavailable(len(posts))

    def _let_others_write(self) -> None:
        """SQLAlchemy writers (joins, clears, the AI) wait in SQLite's busy handler, which
        polls: under a steady stream of batches they would rarely find the lock free."""
        deadline = time.monotonic() + YIELD_SECONDS
        while self._db.writers_waiting and time.monotonic() < deadline:
            time.sleep(0.0005)


class PgWriter:
    """The PostgreSQL writer task, on a connection of its own."""

    def __init__(self, url: str) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._heads: dict[str, tuple[str, str]] = {}  # room -> (hash, id) this writer committed

    async def start(self) -> None:
        self._conn = await self._connect()
        self._task = asyncio.create_task(self._run(), name="groupchat-post-writer")

    def submit(self, post: NewPost) -> asyncio.Future[Posted]:
        if self._task is None:
            raise ServiceUnavailable("the server is shutting down")
        future: asyncio.Future[Posted] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((post, future))
        return future

    async def search_ready(self) -> None:
        return None  # PostgreSQL keeps its index in each transaction

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._queue.put_nowait(None)
            await task
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _connect(self) -> Any:
        import asyncpg

        # A plan per execution: a generic plan made while a table was small (a new database)
        # keeps scanning it whole as it grows, until autovacuum's next ANALYZE (a minute or
        # more); the batch's head lookup then took longer with every post.
        custom = {"plan_cache_mode": "force_custom_plan"}
        return await asyncpg.connect(
            self._dsn, command_timeout=COMMAND_TIMEOUT, server_settings=custom
        )

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = await self._take()
            if batch:
                try:
                    outcomes = await self._write([post for post, _ in batch])
                except Exception:  # never leave posts waiting forever
                    log.exception("the post writer failed")
                    outcomes = _unavailable(len(batch))
                _settle(batch, outcomes)

    async def _take(self) -> tuple[list[Pending], bool]:
        first = await self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < MAX_BATCH and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    async def _write(self, posts: list[NewPost]) -> list[Outcome]:
        import asyncpg

        for _ in range(RETRIES):
            try:
                if self._conn is None or self._conn.is_closed():
                    self._conn = await self._connect()
                if len(self._heads) > KNOWN_HEADS:
                    self._heads.clear()
                return list(await post_batch.write_pg(self._conn, posts, self._heads))
            except (HeadMoved, asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                continue
            except (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
                # the connection is gone: whether it committed is unknown, so no retry
                log.exception("storing %d messages failed", len(posts))
                await self._drop_connection()
                return _unavailable(len(posts))
            except Exception as exc:  # a constraint or a value: find the post, store the others
                if len(posts) > 1:
                    return [outcome for post in posts for outcome in await self._write([post])]
                log.warning("a message could not be stored: %r", exc)
                return [exc]
        return _unavailable(len(posts))

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()


class SinglePostWriter:
    """One SQLAlchemy transaction per post (GROUP_COMMIT=false; the v1 path, for comparison)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def search_ready(self) -> None:
        if self._db.is_sqlite:
            async with self._db.write() as conn:
                await search_index.catch_up(conn)

    async def submit(self, post: NewPost) -> Posted:
        async with self._db.write() as conn:
            room = await room_store.get_room(conn, post.room_id, post.member_id)
            if room is None or (post.member_id is not None and room.my_role is None):
                return Posted(None, room)
            try:
                message, entry = await post_batch.append_entry(conn, post)
            except TargetGone:  # an edit or delete of a message deleted meanwhile
                return Posted(None, room)
            except HeadMoved:
                raise ServiceUnavailable("the room is too busy; try again") from None
        chain = None if post.kind == "message" else (entry.prev_hash, entry.hash)
        posted = Posted(message, room, chain)
        if post.announce is not None:
            post.announce(posted)
        return posted
