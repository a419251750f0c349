"""Accounts: register, sign in and out, profile, avatar."""

from __future__ import annotations

import anyio

from groupchat.errors import Conflict, Unauthorized
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.realtime.bus import Event
from groupchat.schemas import AuthOut, ProfileUpdate, RegisterIn, User
from groupchat.security import TokenClaims
from groupchat.services import Services
from groupchat.store import tokens as token_store
from groupchat.store import users as user_store

INVALID_LOGIN = "invalid username or password"


async def register(svc: Services, body: RegisterIn) -> AuthOut:
    """Create a password account and sign it in."""
    password_hash = await anyio.to_thread.run_sync(svc.passwords.hash, body.password)
    async with svc.db.write() as conn:
        user = await user_store.insert_user(
            conn,
            user_id=new_id(),
            username=body.username,
            display_name=body.display_name or body.username,
            password_hash=password_hash,
            created_at=format_ts(utc_now()),
        )
    if user is None:
        raise Conflict("that username is taken")
    return AuthOut(token=svc.tokens.issue(user.id), user=user)


async def login(svc: Services, username: str, password: str) -> AuthOut:
    """Check a password; the same 401 (and the same work) for unknown users and bad passwords."""
    async with svc.db.read() as conn:
        found = await user_store.get_login(conn, username)
    user_id, password_hash = found if found else (None, None)
    ok = await anyio.to_thread.run_sync(svc.passwords.verify, password_hash, password)
    if not ok or user_id is None:
        raise Unauthorized(INVALID_LOGIN)
    async with svc.db.read() as conn:
        user = await user_store.get_user(conn, user_id)
    if user is None:
        raise Unauthorized(INVALID_LOGIN)
    return AuthOut(token=svc.tokens.issue(user.id), user=user)


async def authenticate(svc: Services, token: str) -> tuple[User, TokenClaims]:
    """The user behind a bearer token; 401 if it is invalid, expired, revoked or orphaned."""
    claims = svc.tokens.verify(token)
    async with svc.db.read() as conn:
        user, revoked = await user_store.get_signed_in(conn, claims.user_id, claims.jti)
    if revoked:
        raise Unauthorized("this token was signed out")
    if user is None:
        raise Unauthorized("invalid or expired token")
    return user, claims


async def logout(svc: Services, claims: TokenClaims) -> None:
    """Refuse this token from now on and close its sockets (4401)."""
    async with svc.db.write() as conn:
        await token_store.revoke(
            conn, claims.jti, format_ts(claims.expires_at), format_ts(utc_now())
        )
    await svc.publish(Event(frame={}, close_jti=claims.jti))


async def update_profile(svc: Services, user: User, body: ProfileUpdate) -> User:
    """Change username, display name and/or bio (fields left out stay as they are)."""
    values = body.model_dump(include=body.model_fields_set)
    if "username" in values:
        values["username_key"] = values["username"].lower()
    async with svc.db.write() as conn:
        updated = await user_store.update_user(conn, user.id, **values)
    if updated is None:
        if "username" in values:
            raise Conflict("that username is taken")
        raise Unauthorized("account no longer exists")
    return updated


async def set_avatar(svc: Services, user: User, avatar_url: str) -> User:
    async with svc.db.write() as conn:
        updated = await user_store.update_user(conn, user.id, avatar_url=avatar_url)
    if updated is None:
        raise Unauthorized("account no longer exists")
    return updated
