"""Users: accounts, profiles, Nostr keys."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import revoked_tokens, users
from groupchat.schemas import User, UserPublic

PUBLIC_COLUMNS = (
    users.c.id,
    users.c.username,
    users.c.display_name,
    users.c.avatar_url,
    users.c.nostr_pubkey,
)


def to_public(row: Any) -> UserPublic:
    """UserPublic from a row holding PUBLIC_COLUMNS."""
    return UserPublic(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        avatar_url=row.avatar_url,
        nostr_pubkey=row.nostr_pubkey,
    )


def _to_user(row: Any) -> User:
    return User(
        **to_public(row).model_dump(),
        bio=row.bio,
        created_at=row.created_at,
        is_admin=bool(row.is_admin),
    )


async def insert_user(
    conn: AsyncConnection,
    *,
    user_id: str,
    username: str,
    display_name: str,
    password_hash: str | None,
    created_at: str,
    nostr_pubkey: str | None = None,
) -> User | None:
    """Insert a user; None when the username (case-insensitively) or the key is taken."""
    values = {
        "id": user_id,
        "username": username,
        "username_key": username.lower(),
        "display_name": display_name,
        "password_hash": password_hash,
        "nostr_pubkey": nostr_pubkey,
        "created_at": created_at,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(users.insert().values(**values))
    except IntegrityError:
        return None
    return await get_user(conn, user_id)


async def get_user(conn: AsyncConnection, user_id: str) -> User | None:
    row = (await conn.execute(users.select().where(users.c.id == user_id))).first()
    return _to_user(row) if row else None


async def get_signed_in(conn: AsyncConnection, user_id: str, jti: str) -> tuple[User | None, bool]:
    """The token's user, and whether the token was signed out, in one round trip."""
    revoked = sa.exists().where(revoked_tokens.c.jti == jti).label("revoked")
    row = (await conn.execute(sa.select(*users.c, revoked).where(users.c.id == user_id))).first()
    return (_to_user(row), bool(row.revoked)) if row else (None, False)


async def get_login(conn: AsyncConnection, username: str) -> tuple[str, str | None] | None:
    """(user id, password hash) for a username, case-insensitively."""
    query = sa.select(users.c.id, users.c.password_hash).where(
        users.c.username_key == username.lower()
    )
    row = (await conn.execute(query)).first()
    return (row.id, row.password_hash) if row else None


async def find_by_pubkey(conn: AsyncConnection, pubkey: str) -> User | None:
    row = (await conn.execute(users.select().where(users.c.nostr_pubkey == pubkey))).first()
    return _to_user(row) if row else None


async def username_taken(conn: AsyncConnection, username: str) -> bool:
    query = sa.select(users.c.id).where(users.c.username_key == username.lower())
    return (await conn.execute(query)).first() is not None


async def update_user(conn: AsyncConnection, user_id: str, **values: Any) -> User | None:
    """Update profile columns; None if the user is gone or a unique value is taken."""
    if values:
        try:
            async with conn.begin_nested():
                await conn.execute(users.update().where(users.c.id == user_id).values(**values))
        except IntegrityError:
            return None
    return await get_user(conn, user_id)
