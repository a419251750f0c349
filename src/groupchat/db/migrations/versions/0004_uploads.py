"""uploads: who stored which chat image, for quotas and cleanup (v2)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(length=24), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_uploads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_uploads")),
    )
    op.create_index(
        op.f("ix_uploads_user_id_created_at"), "uploads", ["user_id", "created_at"], unique=False
    )
    # clearing or deleting a room asks which of its images other messages still show
    op.create_index(op.f("ix_messages_image_url"), "messages", ["image_url"], unique=False)
