"""AI usage: /api/usage, /api/rooms/{room_id}/usage, /api/admin/usage."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from groupchat.actions import usage
from groupchat.deps import CurrentAdmin, CurrentUser, Svc
from groupchat.openapi import errors
from groupchat.schemas import UsagePeriod, UsageReport

router = APIRouter(tags=["usage"])
Days = Annotated[int, Query(ge=1, le=366)]


@router.get("/api/usage")
async def my_usage(svc: Svc, user: CurrentUser) -> UsagePeriod:
    return await usage.my_usage(svc, user)


@router.get("/api/rooms/{room_id}/usage", response_model_exclude_unset=True, responses=errors(403))
async def room_usage(svc: Svc, user: CurrentUser, room_id: str, days: Days = 30) -> UsageReport:
    return await usage.room_usage(svc, user, room_id, days)


@router.get("/api/admin/usage", response_model_exclude_unset=True)
async def server_usage(svc: Svc, admin: CurrentAdmin, days: Days = 30) -> UsageReport:
    return await usage.server_usage(svc, days)
