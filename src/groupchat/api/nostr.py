"""Nostr sign-in (/api/auth/nostr/*) and key-bound invites (/api/invites/nostr)."""

from __future__ import annotations

from fastapi import APIRouter

from groupchat.actions import nostr
from groupchat.deps import CurrentUser, Svc
from groupchat.openapi import errors
from groupchat.schemas import (
    AuthOut,
    NostrChallenge,
    NostrEventIn,
    NostrInvite,
    NostrInviteCreate,
    NostrVerifyIn,
    User,
)

router = APIRouter(tags=["nostr"])


@router.post("/api/auth/nostr/challenge")
async def issue_challenge(svc: Svc) -> NostrChallenge:
    return await nostr.issue_challenge(svc)


@router.post("/api/auth/nostr/verify", responses=errors(401, 403))
async def verify(svc: Svc, body: NostrVerifyIn) -> AuthOut:
    return await nostr.login_with_nostr(svc, body.event, body.invite_token)


@router.post("/api/auth/nostr/link", responses=errors(409))
async def link_key(svc: Svc, user: CurrentUser, body: NostrEventIn) -> User:
    return await nostr.link_nostr_key(svc, user, body.event)


@router.post("/api/invites/nostr", status_code=201, responses=errors(403, 404))
async def invite_key(svc: Svc, user: CurrentUser, body: NostrInviteCreate) -> NostrInvite:
    return await nostr.invite_nostr_key(svc, user, body)
