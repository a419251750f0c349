"""catching up: read markers and full-text search (v2)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

SQLite: an FTS5 index over messages.content kept by triggers (so a post, an edit and a
deletion change it in their own transaction, whichever connection writes). PostgreSQL: a GIN
expression index over the same text without diacritics (see store/search.py, docs/api.md).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Kept in step with store/search.py (a query must use the very same expression).
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, content='messages',"
    " content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.rowid, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN"
    " INSERT INTO messages_fts(messages_fts, rowid, content)"
    " VALUES ('delete', old.rowid, old.content);"
    " INSERT INTO messages_fts(rowid, content) VALUES (new.rowid, new.content); END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)
PG_INDEX = (
    "CREATE INDEX ix_messages_search ON messages USING gin (to_tsvector('simple'::regconfig,"
    " regexp_replace(normalize(content, NFKD), '[\\u0300-\\u036f]', '', 'g')))"
)


def upgrade() -> None:
    with op.batch_alter_table("room_members") as batch:
        batch.add_column(sa.Column("last_read_id", sa.String(length=26), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_FTS:
            op.execute(statement)
    else:
        op.execute(PG_INDEX)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS messages_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_messages_search")
    with op.batch_alter_table("room_members") as batch:
        batch.drop_column("last_read_id")
