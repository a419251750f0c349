"""Invites: /api/invites/*."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from groupchat.actions import invites
from groupchat.deps import CurrentUser, Svc
from groupchat.openapi import errors
from groupchat.schemas import Invite, InviteCreate, InviteList, InvitePreview, Room

router = APIRouter(prefix="/api/invites", tags=["invites"])


@router.post("", status_code=201, responses=errors(403, 404))
async def create_invite(svc: Svc, user: CurrentUser, body: InviteCreate) -> Invite:
    return await invites.create_invite(svc, user, body)


@router.get("", responses=errors(403, 404))
async def list_invites(
    svc: Svc, user: CurrentUser, room_id: Annotated[str, Query(max_length=64)]
) -> InviteList:
    return InviteList(invites=await invites.list_invites(svc, user, room_id))


@router.get("/{token}", responses=errors(410))
async def preview_invite(svc: Svc, token: str) -> InvitePreview:
    return await invites.preview_invite(svc, token)


@router.post("/{token}/accept", responses=errors(410))
async def accept_invite(svc: Svc, user: CurrentUser, token: str) -> Room:
    return await invites.accept_invite(svc, user, token)


@router.delete("/{token}", status_code=204, responses=errors(403))
async def revoke_invite(svc: Svc, user: CurrentUser, token: str) -> Response:
    await invites.revoke_invite(svc, user, token)
    return Response(status_code=204)
