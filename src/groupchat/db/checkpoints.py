"""WAL checkpoints off the posting path (SQLite with the group-commit writer).

SQLite checkpoints inside the commit that takes the WAL past 1,000 pages: that commit copies
the pages back into the database file and, with `synchronous=NORMAL`, fsyncs it, which held
one post batch in ten to a hundred for 2-6 ms (the p99 of docs/benchmarks.md, "Fan-out"). The
writer's connection turns that off and this thread checkpoints instead, on a connection of its
own: `PASSIVE`, so neither readers nor the writer ever wait for it.

The writer says when: in a pause between posts (`idle`; store/post_writer.py says which
pauses), or once EVERY_POSTS were committed without one. The commit after a checkpoint starts
the WAL afresh and fsyncs its new header (~1 ms): with a checkpoint every second, that fell on
one post in twenty of a 20/s stream, the slowest of them (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from groupchat.db.engine import connect_sqlite

log = logging.getLogger(__name__)
EVERY_POSTS = 1000  # posts (about 8,000 WAL pages) after which a checkpoint waits for no pause


class WalCheckpointer:
    """A thread that checkpoints the WAL after commits, never inside them."""

    def __init__(self, path: str, synchronous: str) -> None:
        self._path, self._sync = path, synchronous
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._posts = 0  # committed since the last checkpoint
        self.checkpointed_at = time.monotonic()  # when the last checkpoint began
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="groupchat-wal-checkpoints", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """A last checkpoint, then the thread ends (called from a worker thread: it joins)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping = True
            self._wake.set()
            thread.join()

    def committed(self, posts: int) -> None:
        """The writer committed a batch (called from its thread)."""
        with self._lock:
            self._posts += posts
            due = self._posts >= EVERY_POSTS
        if due:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Posts committed since the last checkpoint began."""
        return self._posts

    def idle(self) -> None:
        """The writer has no post to store now: checkpoint what it committed."""
        self._wake.set()

    def _run(self) -> None:
        conn = connect_sqlite(self._path, self._sync)
        try:
            while not self._stopping:
                self._wake.wait()
                self._wake.clear()
                with self._lock:
                    pending, self._posts = self._posts, 0
                    self.checkpointed_at = time.monotonic()
                if pending and not self._stopping:
                    self._checkpoint(conn)
            self._checkpoint(conn)  # the last one, also when stopped before the first wait
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:  # busy or I/O: SQLite's own checkpoints still happen elsewhere
            log.warning("a WAL checkpoint failed", exc_info=True)
