"""AI spending ledger and room budgets (v2)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rooms") as batch:
        batch.add_column(sa.Column("ai_budget_usd", sa.Float(), nullable=True))
    op.create_table(
        "ai_ledger",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("room_id", sa.String(length=26), nullable=False),
        sa.Column("room_name", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.String(length=26), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.String(length=24), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_ledger")),
    )
    with op.batch_alter_table("ai_ledger") as batch:
        batch.create_index(batch.f("ix_ai_ledger_created_at"), ["created_at"], unique=False)
        batch.create_index(
            batch.f("ix_ai_ledger_user_id_created_at"), ["user_id", "created_at"], unique=False
        )
        batch.create_index(
            batch.f("ix_ai_ledger_room_id_created_at"), ["room_id", "created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("ai_ledger")
    with op.batch_alter_table("rooms") as batch:
        batch.drop_column("ai_budget_usd")
