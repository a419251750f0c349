"""Alembic environment: always runs on the connection handed over by groupchat.db.migrate."""

from alembic import context

from groupchat.db.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `groupchat migrate`, not the alembic CLI")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
