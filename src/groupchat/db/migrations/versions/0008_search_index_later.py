"""search index later: SQLite indexes new messages in bulk, not in the post's transaction

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

0007's insert trigger added each message to the FTS5 index inside the transaction that stored
it, which cost more than the rest of a post's SQLite work (FTS5 writes and merges segments at
every commit). Now the insert trigger only notes the message's rowid in `search_pending`, and
store/search_index.py indexes what is pending in bulk (the post writer, when idle; a search,
first). Edits and deletions of an indexed message still change the index at once; those of
a pending one need not, as it is indexed with its content at that time. PostgreSQL: nothing
(its GIN index is maintained by PostgreSQL itself).
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Kept in step with store/search_index.py. "Indexed": the old row is not pending.
UPGRADE = (
    "CREATE TABLE search_pending (message_rowid INTEGER PRIMARY KEY)",
    "DROP TRIGGER messages_fts_insert",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_update",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    " INSERT OR IGNORE INTO search_pending (message_rowid) VALUES (new.rowid); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " SELECT 'delete', old.rowid, old.content"
    " WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE message_rowid = old.rowid);"
    " DELETE FROM search_pending WHERE message_rowid = old.rowid; END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages"
    " WHEN NOT EXISTS (SELECT 1 FROM search_pending WHERE message_rowid = old.rowid)"
    " BEGIN INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.rowid, old.content);"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
)
DOWNGRADE = (  # index what is pending, then 0007's triggers again
    "INSERT INTO messages_fts(rowid, content) SELECT m.rowid, m.content FROM search_pending p"
    " JOIN messages m ON m.rowid = p.message_rowid",
    "DROP TRIGGER messages_fts_insert",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_update",
    "DROP TABLE search_pending",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.rowid, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.rowid, old.content);"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in UPGRADE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in DOWNGRADE:
            op.execute(statement)
