"""Revoked tokens and Nostr login challenges, kept in the database for every process."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.db.tables import nostr_challenges, revoked_tokens


async def revoke(conn: AsyncConnection, jti: str, expires_at: str, now: str) -> None:
    """Refuse this token id from now on; forget revocations whose tokens expired anyway."""
    await conn.execute(revoked_tokens.delete().where(revoked_tokens.c.expires_at < now))
    exists = sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti)
    if (await conn.execute(exists)).first() is None:
        await conn.execute(revoked_tokens.insert().values(jti=jti, expires_at=expires_at))


async def add_challenge(conn: AsyncConnection, challenge: str, expires_at: str, now: str) -> None:
    await conn.execute(nostr_challenges.delete().where(nostr_challenges.c.expires_at < now))
    await conn.execute(nostr_challenges.insert().values(challenge=challenge, expires_at=expires_at))


async def consume_challenge(conn: AsyncConnection, challenge: str, now: str) -> bool:
    """Delete the challenge; True only if it existed and had not expired."""
    result = await conn.execute(
        nostr_challenges.delete()
        .where(nostr_challenges.c.challenge == challenge)
        .returning(nostr_challenges.c.expires_at)
    )
    expires_at = result.scalar_one_or_none()
    return expires_at is not None and expires_at > now
