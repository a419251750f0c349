"""Full-text search over messages (the index itself is built by migration 0007).

SQLite: the FTS5 table `messages_fts` (unicode61, diacritics removed), which new messages
join in bulk (store/search_index.py: the search action brings it up to date first).
PostgreSQL: a GIN index over the expression below; a query must repeat it exactly."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.store import read_markers

# SQLite walks the FTS index newest first by rowid and stops at the limit (ordering by id
# would sort every match). Rowids follow insertion, and a room's messages are inserted in id
# order (each new id sorts after the room's chain head), so within a room this is id order;
# across rooms two messages stored within the same millisecond by different processes may
# swap. Paging compares rowids too, so no page skips or repeats a message.
# An id that names no message (a client's own cursor) pages like a real one: older ids only.
_SQLITE_BEFORE = (
    "messages_fts.rowid < coalesce((SELECT rowid FROM messages WHERE id = :before),"
    " (SELECT min(rowid) FROM messages WHERE id > :before),"
    " (SELECT max(rowid) + 1 FROM messages))"
)
_SQLITE_MATCH = (
    "SELECT m.id FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid"
    " WHERE messages_fts MATCH :q AND {where} ORDER BY messages_fts.rowid DESC LIMIT :limit"
)
# PostgreSQL: the matches come from the GIN index (materialized, so the planner cannot walk
# the primary key backwards evaluating the expression on every row until it has `limit`
# matches, which takes seconds for a rare word), then they are sorted. The document is
# migration 0007's index expression, to the letter.
_PG_MATCH = (
    "WITH hits AS MATERIALIZED (SELECT m.id FROM messages m WHERE to_tsvector('simple'::regconfig,"
    " regexp_replace(normalize(m.content, NFKD), '[\\u0300-\\u036f]', '', 'g'))"
    " @@ to_tsquery('simple'::regconfig, :q) AND {where})"
    " SELECT id FROM hits ORDER BY id DESC LIMIT :limit"
)


async def find(
    conn: AsyncConnection,
    query: str,
    *,
    user_id: str,
    room_id: str | None,
    limit: int,
    before: str | None,
) -> list[str]:
    """Ids of matching messages not deleted, newest first: in `room_id`, or in the member's
    rooms. `query` is already in the engine's syntax (search_text.fts5_query / tsquery)."""
    where = ["m.deleted_at IS NULL"]
    params: dict[str, object] = {"q": query, "limit": limit}
    if room_id is not None:
        where.append("m.room_id = :room_id")
        params["room_id"] = room_id
    else:
        where.append("m.room_id IN (SELECT room_id FROM room_members WHERE user_id = :user_id)")
        params["user_id"] = user_id
    pg = conn.dialect.name == "postgresql"
    if before is not None:
        where.append("m.id < :before" if pg else _SQLITE_BEFORE)
        params["before"] = before
    sql = _PG_MATCH if pg else _SQLITE_MATCH
    await read_markers.no_jit(conn)
    rows = await conn.execute(sa.text(sql.replace("{where}", " AND ".join(where))), params)
    return [row[0] for row in rows]
