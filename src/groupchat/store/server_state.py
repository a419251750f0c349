"""Server-wide values every process shares (the one-time setup token)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import server_state

SETUP_TOKEN_KEY = "setup_token"  # noqa: S105 - the key of its row, not a secret


async def get_or_create_setup_token(conn: AsyncConnection, fresh: str) -> str:
    """The stored setup token; `fresh` is stored when there is none (the first process wins)."""
    query = sa.select(server_state.c.value).where(server_state.c.key == SETUP_TOKEN_KEY)
    found = (await conn.execute(query)).scalar_one_or_none()
    if found is not None:
        return str(found)
    try:
        async with conn.begin_nested():
            await conn.execute(server_state.insert().values(key=SETUP_TOKEN_KEY, value=fresh))
    except IntegrityError:  # another process stored its token first
        return str((await conn.execute(query)).scalar_one())
    return fresh


async def take_setup_token(conn: AsyncConnection, token: str) -> bool:
    """Use the setup token up; True only if `token` is the stored one (atomic)."""
    result = await conn.execute(
        server_state.delete().where(
            server_state.c.key == SETUP_TOKEN_KEY, server_state.c.value == token
        )
    )
    return result.rowcount == 1


async def drop_setup_token(conn: AsyncConnection) -> None:
    await conn.execute(server_state.delete().where(server_state.c.key == SETUP_TOKEN_KEY))


async def claim(conn: AsyncConnection, key: str, value: str) -> bool:
    """Store `key` once; False if it exists (a concurrent transaction waits for the first)."""
    try:
        async with conn.begin_nested():
            await conn.execute(server_state.insert().values(key=key, value=value))
    except IntegrityError:
        return False
    return True
