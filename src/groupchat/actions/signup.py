"""Who may create an account (REGISTRATION_MODE), the first account (the server admin), and the
setup token that creates it."""

from __future__ import annotations

import importlib.metadata
import logging
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from groupchat.config import Settings
from groupchat.errors import Forbidden
from groupchat.services import Services
from groupchat.store import invites as invite_store
from groupchat.store import server_state
from groupchat.store import users as user_store

log = logging.getLogger(__name__)

INVITE_NEEDED = "an invite is needed to sign up"
SIGNUP_CLOSED = "sign-up is closed"
BAD_INVITE = "this invite is not valid: it has expired, been used up or revoked"
FIRST_ACCOUNT = "first_account"  # server_state key: when the first account was created
SETUP_NEEDED = "the first account needs the setup token the server printed at startup"
BAD_SETUP = "this setup token is not valid or was already used"


@dataclass(frozen=True)
class Admission:
    """What a new account gets: admin rights (the first account), a room (its invite)."""

    is_admin: bool = False
    room_id: str | None = None


async def admit(
    conn: AsyncConnection,
    settings: Settings,
    now: str,
    *,
    invite_token: str | None = None,
    setup_token: str | None = None,
    nostr_invited: bool = False,
) -> Admission:
    """May a new account be created now? Uses up the token that allows it; 403 if refused.

    Call it in the transaction that creates the account: a later failure gives the use back.
    """
    mode = settings.registration_mode
    # The claim makes a concurrent first sign-up wait, then find an account (one admin, not two).
    if not await user_store.any_user(conn) and await server_state.claim(conn, FIRST_ACCOUNT, now):
        return await _admit_first(conn, mode, setup_token)
    if setup_token is not None:
        raise Forbidden(BAD_SETUP)
    if mode == "closed":
        raise Forbidden(SIGNUP_CLOSED)
    if invite_token is not None:
        return Admission(room_id=await _use_invite(conn, invite_token, now))
    if mode == "open":
        return Admission()
    if nostr_invited:
        return Admission()  # a pending Nostr invite for the key: the caller joins its rooms
    raise Forbidden(INVITE_NEEDED)


async def _admit_first(conn: AsyncConnection, mode: str, setup_token: str | None) -> Admission:
    if mode == "open":
        return Admission(is_admin=True)
    if setup_token is None:
        raise Forbidden(SETUP_NEEDED)
    if not await server_state.take_setup_token(conn, setup_token):
        raise Forbidden(BAD_SETUP)
    return Admission(is_admin=True)


async def _use_invite(conn: AsyncConnection, token: str, now: str) -> str:
    """The invite's room, one use counted; 403 for any token that cannot be used."""
    invite = await invite_store.get_invite(conn, token)
    if invite is None or not await invite_store.use_invite(conn, token, now):
        raise Forbidden(BAD_INVITE)
    return invite.room_id


async def needs_setup(svc: Services) -> bool:
    """No account exists yet and the mode is not open (GET /api/server)."""
    if svc.settings.registration_mode == "open":
        return False
    async with svc.db.read() as conn:
        return not await user_store.any_user(conn)


async def announce_setup(svc: Services) -> str | None:
    """When the server needs setup: the setup URL, printed to stdout and logged at WARNING."""
    if not await needs_setup(svc):
        return None
    async with svc.db.write() as conn:
        token = await server_state.get_or_create_setup_token(conn, secrets.token_urlsafe(32))
    url = f"{setup_base_url(svc.settings)}/setup/{token}"
    message = f"Open {url} to create the admin account"
    print(message, flush=True)
    log.warning(message)
    return url


def setup_base_url(settings: Settings) -> str:
    """PUBLIC_URL, else http://BIND_ADDR with a wildcard address shown as loopback."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host, port = settings.bind_host_port
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def server_version() -> str:
    """The installed package's version (GET /api/server)."""
    try:
        return importlib.metadata.version("groupchat")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"
