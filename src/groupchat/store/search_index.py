"""SQLite's full-text index catches up with new messages in bulk (migration 0008).

A stored message's rowid waits in `search_pending` until `catch_up` adds the pending messages
to `messages_fts` with their content at that time, a chunk per transaction. Indexing a
thousand messages at once costs about what indexing ten one at a time did. The post writer
calls it when idle (store/post_writer.py); a search calls it first, so it finds every message
stored before it began. PostgreSQL needs none of this.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

CHUNK = 1000  # messages per transaction: one chunk holds the database's write lock ~10 ms
_LAST_OF_CHUNK = (
    "SELECT max(message_rowid) FROM"
    " (SELECT message_rowid FROM search_pending ORDER BY message_rowid LIMIT :chunk)"
)
_INDEX = (
    "INSERT INTO messages_fts(rowid, content) SELECT m.rowid, m.content FROM search_pending p"
    " JOIN messages m ON m.rowid = p.message_rowid WHERE p.message_rowid <= :last"
)
_DONE = "DELETE FROM search_pending WHERE message_rowid <= :last"


def catch_up_sqlite(conn: sqlite3.Connection) -> int:
    """Index every pending message (the post writer's own connection); how many."""
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            last = conn.execute(_LAST_OF_CHUNK, {"chunk": CHUNK}).fetchone()[0]
            if last is not None:
                done += conn.execute(_INDEX, {"last": last}).rowcount
                conn.execute(_DONE, {"last": last})
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if last is None:
            return done


async def catch_up(conn: AsyncConnection) -> None:
    """Index every pending message in the caller's (SQLAlchemy, SQLite) transaction."""
    while True:
        last = (await conn.execute(sa.text(_LAST_OF_CHUNK), {"chunk": CHUNK})).scalar()
        if last is None:
            return
        await conn.execute(sa.text(_INDEX), {"last": last})
        await conn.execute(sa.text(_DONE), {"last": last})
