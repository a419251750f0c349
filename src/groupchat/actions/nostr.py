"""Nostr sign-in: challenges, login, linking a key to an account, and key-bound invites."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat import nostr
from groupchat.actions import signup
from groupchat.actions.access import visible_room
from groupchat.actions.auth import ACCOUNT_DISABLED
from groupchat.actions.invites import _may_invite
from groupchat.actions.rooms import publish_member_joined
from groupchat.errors import Conflict, Forbidden, Invalid, Unauthorized
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.schemas import AuthOut, NostrChallenge, NostrInvite, NostrInviteCreate, User
from groupchat.services import Services
from groupchat.store import invites as invite_store
from groupchat.store import rooms as room_store
from groupchat.store import tokens as token_store
from groupchat.store import users as user_store

CHALLENGE_TTL = timedelta(minutes=5)
BAD_CHALLENGE = "unknown, expired or already used challenge"
KEY_TAKEN = "this Nostr key belongs to another account"
# nostr.new_challenge() gives 64 lowercase hex; anything else was never issued, and
# must not reach the database (a lone surrogate cannot even be encoded for it).
_CHALLENGE_SHAPE = re.compile("[0-9a-f]{64}")
_USERNAME_ATTEMPTS = 20


async def issue_challenge(svc: Services) -> NostrChallenge:
    """A fresh single-use challenge, stored in the database so every process accepts it."""
    now = utc_now()
    out = NostrChallenge(challenge=nostr.new_challenge(), expires_at=format_ts(now + CHALLENGE_TTL))
    async with svc.db.write() as conn:
        await token_store.add_challenge(conn, out.challenge, out.expires_at, format_ts(now))
    return out


async def verify_event(svc: Services, event: object) -> nostr.AuthEvent:
    """Consume the event's challenge, then judge the event: 401 or 422 when refused."""
    challenge = nostr.extract_challenge(event)
    fresh = False
    if challenge is not None and _CHALLENGE_SHAPE.fullmatch(challenge):
        # Its own committed transaction: a refused event still uses the challenge up.
        async with svc.db.write() as conn:
            fresh = await token_store.consume_challenge(conn, challenge, format_ts(utc_now()))
    try:
        auth = nostr.check_auth_event(event, now=int(utc_now().timestamp()))
    except nostr.NostrError as exc:
        if exc.status == 422:
            raise Invalid(exc.reason) from None
        raise Unauthorized(exc.reason) from None
    if not fresh or auth.challenge != challenge:
        raise Unauthorized(BAD_CHALLENGE)
    return auth


async def login_with_nostr(
    svc: Services, event: object, invite_token: str | None = None
) -> AuthOut:
    """Sign in with a signed event; the key's first login creates its account if
    REGISTRATION_MODE allows it (an invite token, or a pending Nostr invite for the key)."""
    auth = await verify_event(svc, event)
    now = format_ts(utc_now())
    async with svc.db.write() as conn:
        user = await user_store.find_by_pubkey(conn, auth.pubkey)
        if user is not None and await user_store.is_disabled(conn, user.id):
            raise Forbidden(ACCOUNT_DISABLED)
        pending = await invite_store.take_nostr_invites(conn, auth.pubkey)
        if user is None:
            admission = await signup.admit(
                conn, svc.settings, now, invite_token=invite_token, nostr_invited=bool(pending)
            )
            user = await _create_nostr_user(conn, auth.pubkey, now, admission.is_admin)
            pending += [admission.room_id] if admission.room_id else []
        joined = await _join_rooms(conn, user, pending, now)
        await user_store.touch_last_seen(conn, user.id, now, stale=now)
    await _announce_joins(svc, user, joined)
    return AuthOut(token=svc.tokens.issue(user.id), user=user)


async def link_nostr_key(svc: Services, user: User, event: object) -> User:
    """Attach the signing key to the caller's account (replacing any key it had)."""
    auth = await verify_event(svc, event)
    now = format_ts(utc_now())
    async with svc.db.write() as conn:
        holder = await user_store.find_by_pubkey(conn, auth.pubkey)
        if holder is not None and holder.id != user.id:
            raise Conflict(KEY_TAKEN)
        linked = await user_store.update_user(conn, user.id, nostr_pubkey=auth.pubkey)
        if linked is None:
            # The unique column refused it: a concurrent link or login took the key first.
            raise Conflict(KEY_TAKEN)
        pending = await invite_store.take_nostr_invites(conn, auth.pubkey)
        joined = await _join_rooms(conn, linked, pending, now)
    await _announce_joins(svc, linked, joined)
    return linked


async def invite_nostr_key(svc: Services, user: User, body: NostrInviteCreate) -> NostrInvite:
    """Invite a key: its account joins now, or the key joins at its first Nostr login."""
    try:
        pubkey = nostr.parse_pubkey(body.pubkey)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    now = format_ts(utc_now())
    joined = False
    async with svc.db.write() as conn:
        room = await visible_room(conn, body.room_id, user.id)
        if not _may_invite(room):
            raise Forbidden("only the room's owner or admins may create invites")
        invitee = await user_store.find_by_pubkey(conn, pubkey)
        if invitee is None:
            await invite_store.add_nostr_invite(
                conn, room_id=room.id, pubkey=pubkey, created_by=user.id, created_at=now
            )
        else:
            joined = await room_store.add_member(conn, room.id, invitee.id, "member", now)
    if invitee is not None and joined:
        await publish_member_joined(svc, room.id, invitee)
    return NostrInvite(room_id=room.id, pubkey=pubkey)


def short_npub(npub: str) -> str:
    """A display name for a key: the npub's head and tail (`npub1abcdefg…wxyz`)."""
    return f"{npub[:12]}…{npub[-4:]}"


def _usernames(npub: str) -> Iterator[str]:
    """`npub1` + 10 characters, then numbered, then random suffixes (names can be squatted)."""
    base = npub[:15]
    yield base
    for number in range(2, 10):
        yield f"{base}-{number}"
    for _ in range(_USERNAME_ATTEMPTS - 9):
        yield f"{base}-{secrets.token_hex(3)}"


async def _create_nostr_user(
    conn: AsyncConnection, pubkey: str, now: str, is_admin: bool = False
) -> User:
    npub = nostr.npub_encode(pubkey)
    for username in _usernames(npub):
        if await user_store.username_taken(conn, username):
            continue
        user = await user_store.insert_user(
            conn,
            user_id=new_id(),
            username=username,
            display_name=short_npub(npub),
            password_hash=None,
            created_at=now,
            nostr_pubkey=pubkey,
            is_admin=is_admin,
        )
        if user is not None:
            return user
        # Refused by a unique column: a concurrent first login may have created this key's user.
        existing = await user_store.find_by_pubkey(conn, pubkey)
        if existing is not None:
            return existing
    raise Conflict("could not find a free username for this key; try again")


async def _join_rooms(
    conn: AsyncConnection, user: User, room_ids: list[str], now: str
) -> list[str]:
    """Join the rooms invited to; the ids of the rooms the user newly joined."""
    joined = []
    for room_id in room_ids:
        if await room_store.add_member(conn, room_id, user.id, "member", now):
            joined.append(room_id)
    return joined


async def _announce_joins(svc: Services, user: User, room_ids: list[str]) -> None:
    for room_id in room_ids:
        await publish_member_joined(svc, room_id, user)
