"""Accounts: register, sign in and out, password, profile, avatar."""

from __future__ import annotations

from datetime import timedelta

import anyio
from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.actions import signup
from groupchat.actions.rooms import publish_member_joined
from groupchat.errors import Conflict, Forbidden, Unauthorized
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.realtime.bus import Event
from groupchat.schemas import AuthOut, PasswordChange, ProfileUpdate, RegisterIn, User
from groupchat.security import TokenClaims
from groupchat.services import Services
from groupchat.store import rooms as room_store
from groupchat.store import tokens as token_store
from groupchat.store import users as user_store

INVALID_LOGIN = "invalid username or password"
ACCOUNT_DISABLED = "account disabled"
USERNAME_TAKEN = "that username is taken"
# last_seen_at is written at most this often per account (a write per request would not scale)
LAST_SEEN_EVERY = timedelta(minutes=1)


async def register(svc: Services, body: RegisterIn) -> AuthOut:
    """Create a password account if REGISTRATION_MODE allows it, and sign it in."""
    password_hash = await anyio.to_thread.run_sync(svc.passwords.hash, body.password)
    now = format_ts(utc_now())
    async with svc.db.write() as conn:
        admission = await signup.admit(
            conn,
            svc.settings,
            now,
            invite_token=body.invite_token,
            setup_token=body.setup_token,
        )
        user = await insert_password_user(
            conn,
            username=body.username,
            display_name=body.display_name,
            password_hash=password_hash,
            is_admin=admission.is_admin,
            now=now,
        )
        if admission.room_id is not None:  # same transaction: no account without the join
            await room_store.add_member(conn, admission.room_id, user.id, "member", now)
    if admission.room_id is not None:
        await publish_member_joined(svc, admission.room_id, user)
    return AuthOut(token=svc.tokens.issue(user.id), user=user)


async def insert_password_user(
    conn: AsyncConnection,
    *,
    username: str,
    display_name: str | None,
    password_hash: str,
    is_admin: bool,
    now: str,
    signed_in: bool = True,
) -> User:
    """Store a password account (seen now if it signs in now); 409 if the username is taken."""
    user = await user_store.insert_user(
        conn,
        user_id=new_id(),
        username=username,
        display_name=display_name or username,
        password_hash=password_hash,
        created_at=now,
        is_admin=is_admin,
        last_seen_at=now if signed_in else None,
    )
    if user is None:
        raise Conflict(USERNAME_TAKEN)
    return user


async def login(svc: Services, username: str, password: str) -> AuthOut:
    """Check a password; the same 401 (and the same work) for unknown users and bad passwords."""
    async with svc.db.read() as conn:
        found = await user_store.get_login(conn, username)
    user_id, password_hash, disabled = found if found else (None, None, False)
    ok = await anyio.to_thread.run_sync(svc.passwords.verify, password_hash, password)
    if not ok or user_id is None:
        raise Unauthorized(INVALID_LOGIN)
    if disabled:  # told only to whoever knows the password
        raise Forbidden(ACCOUNT_DISABLED)
    now = format_ts(utc_now())
    async with svc.db.write() as conn:
        await user_store.touch_last_seen(conn, user_id, now, stale=now)
        user = await user_store.get_user(conn, user_id)
    if user is None:
        raise Unauthorized(INVALID_LOGIN)
    return AuthOut(token=svc.tokens.issue(user.id), user=user)


async def authenticate(svc: Services, token: str) -> tuple[User, TokenClaims]:
    """The user behind a bearer token; 401 if it is invalid, expired, revoked or orphaned."""
    claims = svc.tokens.verify(token)
    user, revoked, last_seen = await user_store.get_signed_in(
        svc.db, svc.reads, claims.user_id, claims.jti, format_ts(claims.issued_at)
    )
    if revoked:
        raise Unauthorized("this token was signed out")
    if user is None:
        raise Unauthorized("invalid or expired token")
    await _note_activity(svc, user.id, last_seen)
    return user, claims


async def _note_activity(svc: Services, user_id: str, last_seen: str | None) -> None:
    """Move last_seen_at forward, at most once per LAST_SEEN_EVERY per account."""
    now = utc_now()
    stale = format_ts(now - LAST_SEEN_EVERY)
    if last_seen is not None and last_seen > stale:
        return
    async with svc.db.write() as conn:
        await user_store.touch_last_seen(conn, user_id, format_ts(now), stale)


async def logout(svc: Services, claims: TokenClaims) -> None:
    """Refuse this token from now on and close its sockets (4401)."""
    async with svc.db.write() as conn:
        await token_store.revoke(
            conn, claims.jti, format_ts(claims.expires_at), format_ts(utc_now())
        )
    await svc.publish(Event(frame={}, close_jti=claims.jti))


async def logout_everywhere(svc: Services, user_id: str, keep_jti: str | None = None) -> None:
    """Refuse every token of the account issued until now (but `keep_jti`); close sockets."""
    async with svc.db.write() as conn:
        await user_store.revoke_tokens(conn, user_id, format_ts(utc_now()), keep_jti)
    await close_sockets(svc, user_id, keep_jti)


async def close_sockets(svc: Services, user_id: str, keep_jti: str | None = None) -> None:
    """Close the account's WebSockets (4401) on every process, but those of `keep_jti`."""
    await svc.publish(Event(frame={}, close_user_id=user_id, keep_jti=keep_jti))


async def change_password(
    svc: Services, user: User, claims: TokenClaims, body: PasswordChange
) -> None:
    """Set a new password; every other token of the account is revoked, the caller's kept."""
    async with svc.db.read() as conn:
        current = await user_store.get_password_hash(conn, user.id)
    ok = await anyio.to_thread.run_sync(svc.passwords.verify, current, body.current_password)
    if not ok:
        raise Forbidden("the current password is wrong")
    new_hash = await anyio.to_thread.run_sync(svc.passwords.hash, body.new_password)
    async with svc.db.write() as conn:
        await user_store.update_user(conn, user.id, password_hash=new_hash)
    await logout_everywhere(svc, user.id, keep_jti=claims.jti)


async def update_profile(svc: Services, user: User, body: ProfileUpdate) -> User:
    """Change username, display name and/or bio (fields left out stay as they are)."""
    values = body.model_dump(include=body.model_fields_set)
    if "username" in values:
        values["username_key"] = values["username"].lower()
    async with svc.db.write() as conn:
        updated = await user_store.update_user(conn, user.id, **values)
    if updated is None:
        if "username" in values:
            raise Conflict(USERNAME_TAKEN)
        raise Unauthorized("account no longer exists")
    return updated


async def set_avatar(svc: Services, user: User, avatar_url: str) -> User:
    async with svc.db.write() as conn:
        updated = await user_store.update_user(conn, user.id, avatar_url=avatar_url)
    if updated is None:
        raise Unauthorized("account no longer exists")
    return updated
