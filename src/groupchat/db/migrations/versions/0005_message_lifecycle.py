"""message lifecycle: chain v2 entries, edits, deletions, replies, reactions (v2)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(length=26)
TS = sa.String(length=24)


def upgrade() -> None:
    # v1 messages stay as they are: chain_v 1, their v1 hashes untouched (never rewritten)
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("chain_v", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("salt", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("first_content", sa.Text(), nullable=True))
        batch.add_column(sa.Column("first_salt", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("reply_to", ID, nullable=True))
        batch.add_column(sa.Column("mentions", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("edited_at", TS, nullable=True))
        batch.add_column(sa.Column("deleted_at", TS, nullable=True))
    op.create_table(
        "chain_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("room_id", ID, nullable=False),
        sa.Column("v", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("author_type", sa.String(length=8), nullable=False),
        sa.Column("author_id", ID, nullable=True),
        sa.Column("target_id", ID, nullable=True),
        sa.Column("reply_to", ID, nullable=True),
        sa.Column("image_url", sa.String(length=255), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("salt", sa.String(length=32), nullable=True),
        sa.Column("content_sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_chain_entries_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_entries")),
        sa.UniqueConstraint("hash", name=op.f("uq_chain_entries_hash")),
    )
    op.create_index(op.f("ix_chain_entries_room_id_id"), "chain_entries", ["room_id", "id"])
    op.create_index(op.f("ix_chain_entries_target_id"), "chain_entries", ["target_id"])
    op.create_table(
        "message_reactions",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("emoji", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_reactions_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_message_reactions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_reactions")),
        sa.UniqueConstraint(
            "message_id",
            "emoji",
            "user_id",
            name=op.f("uq_message_reactions_message_id_emoji_user_id"),
        ),
    )
