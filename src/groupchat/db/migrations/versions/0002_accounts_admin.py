"""accounts: server admin, disabled accounts, setup token (v2)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch rebuild): rebuilding `users` on SQLite would drop a table that
    # rooms and members point at, which foreign keys refuse on a database with data.
    for name in ("is_admin", "disabled"):
        op.add_column(
            "users", sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.add_column("users", sa.Column("last_seen_at", sa.String(length=24), nullable=True))
    op.add_column("users", sa.Column("tokens_valid_after", sa.String(length=24), nullable=True))
    op.add_column("users", sa.Column("kept_jti", sa.String(length=64), nullable=True))
    op.create_table(
        "server_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_server_state")),
    )


def downgrade() -> None:
    op.drop_table("server_state")
    with op.batch_alter_table("users") as batch:
        for name in ("kept_jti", "tokens_valid_after", "last_seen_at", "disabled", "is_admin"):
            batch.drop_column(name)
