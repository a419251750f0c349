"""Users: accounts, profiles, Nostr keys."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db import point_reads
from groupchat.db.engine import Database
from groupchat.db.point_reads import PointReader
from groupchat.db.tables import revoked_tokens, users
from groupchat.schemas import AdminUser, User, UserPublic

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
    is_admin: bool = False,
    last_seen_at: str | None = None,
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
        "is_admin": is_admin,
        "last_seen_at": last_seen_at,
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


SignedIn = tuple[User | None, bool, str | None]


_SIGNED_IN = sa.select(
    *users.c,
    sa.exists().where(revoked_tokens.c.jti == sa.bindparam("jti")).label("listed"),
).where(users.c.id == sa.bindparam("user_id"))


async def get_signed_in(
    db: Database, reader: PointReader | None, user_id: str, jti: str, issued_at: str
) -> SignedIn:
    """The token's user, whether the token was revoked, and the user's last_seen_at: one query,
    through the point reader while it runs (db/point_reads.py), else SQLAlchemy.

    A token is revoked when signed out (its jti listed), when its account is disabled, or when
    it was issued at or before the account's tokens_valid_after (unless it is the kept one).
    """
    rows = await point_reads.fetch(db, reader, _SIGNED_IN, {"user_id": user_id, "jti": jti})
    if not rows:
        return None, False, None
    row = rows[0]
    cut = row.tokens_valid_after is not None and issued_at <= row.tokens_valid_after
    revoked = bool(row.listed) or bool(row.disabled) or (cut and jti != row.kept_jti)
    return _to_user(row), revoked, row.last_seen_at


async def get_login(conn: AsyncConnection, username: str) -> tuple[str, str | None, bool] | None:
    """(user id, password hash, disabled) for a username, case-insensitively."""
    query = sa.select(users.c.id, users.c.password_hash, users.c.disabled).where(
        users.c.username_key == username.lower()
    )
    row = (await conn.execute(query)).first()
    return (row.id, row.password_hash, bool(row.disabled)) if row else None


async def get_password_hash(conn: AsyncConnection, user_id: str) -> str | None:
    query = sa.select(users.c.password_hash).where(users.c.id == user_id)
    return (await conn.execute(query)).scalar_one_or_none()


async def is_disabled(conn: AsyncConnection, user_id: str) -> bool:
    query = sa.select(users.c.disabled).where(users.c.id == user_id)
    return bool((await conn.execute(query)).scalar_one_or_none())


async def any_user(conn: AsyncConnection) -> bool:
    """Whether at least one account exists (the server is set up)."""
    return (await conn.execute(sa.select(users.c.id).limit(1))).first() is not None


async def revoke_tokens(
    conn: AsyncConnection, user_id: str, now: str, keep_jti: str | None = None
) -> None:
    """Refuse every token of the account issued until now, except `keep_jti`."""
    await conn.execute(
        users.update()
        .where(users.c.id == user_id)
        .values(tokens_valid_after=now, kept_jti=keep_jti)
    )


async def touch_last_seen(conn: AsyncConnection, user_id: str, now: str, stale: str) -> None:
    """Set last_seen_at to now unless another request already did since `stale`."""
    fresh = sa.and_(users.c.last_seen_at.is_not(None), users.c.last_seen_at > stale)
    await conn.execute(
        users.update().where(users.c.id == user_id, sa.not_(fresh)).values(last_seen_at=now)
    )


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


# ---------------------------------------------------------------- server admin views


def _to_admin_user(row: Any, ai_cost: float = 0.0) -> AdminUser:
    return AdminUser(
        **_to_user(row).model_dump(),
        disabled=bool(row.disabled),
        last_seen_at=row.last_seen_at,
        ai_cost_period=ai_cost,
    )


async def get_admin_user(conn: AsyncConnection, user_id: str) -> AdminUser | None:
    row = (await conn.execute(users.select().where(users.c.id == user_id))).first()
    return _to_admin_user(row) if row else None


async def list_admin_users(
    conn: AsyncConnection, query: str, limit: int, offset: int
) -> tuple[list[AdminUser], int]:
    """A page of accounts, newest first, matching `query` in username or display name."""
    where: sa.ColumnElement[bool] = sa.true()
    if query:
        needle = query.lower()
        where = sa.or_(
            users.c.username_key.contains(needle, autoescape=True),
            sa.func.lower(users.c.display_name).contains(needle, autoescape=True),
        )
    count = sa.select(sa.func.count()).select_from(users).where(where)
    total = (await conn.execute(count)).scalar_one()
    page = (
        users.select()
        .where(where)
        .order_by(users.c.created_at.desc(), users.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    rows = (await conn.execute(page)).all()
    return [_to_admin_user(row) for row in rows], int(total)


async def lock_enabled_admins(conn: AsyncConnection) -> list[str]:
    """Ids of the enabled admins, their rows locked until the transaction ends (PostgreSQL)."""
    query = (
        sa.select(users.c.id)
        .where(users.c.is_admin.is_(True), users.c.disabled.is_(False))
        .with_for_update()
    )
    return list((await conn.execute(query)).scalars())
