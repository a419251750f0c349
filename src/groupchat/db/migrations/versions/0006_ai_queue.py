"""durable AI trigger queue with leases (v2)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_triggers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.String(length=26), nullable=False),
        sa.Column("message_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=True),
        sa.Column("message_at", sa.String(length=24), nullable=False),
        sa.Column("claimed_by", sa.String(length=26), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_ai_triggers_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_ai_triggers_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_triggers")),
        sa.UniqueConstraint("message_id", name=op.f("uq_ai_triggers_message_id")),
    )
    with op.batch_alter_table("ai_triggers") as batch:
        batch.create_index(
            batch.f("ix_ai_triggers_room_id_message_at_id"),
            ["room_id", "message_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("ai_triggers")
