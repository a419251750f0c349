"""Server administration: /api/admin/users (server admins only; others 403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from groupchat.actions import admin
from groupchat.deps import CurrentAdmin, Svc
from groupchat.openapi import errors
from groupchat.schemas import AdminUser, AdminUserCreate, AdminUserList, AdminUserUpdate

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/users")
async def list_users(
    svc: Svc,
    _: CurrentAdmin,
    query: Annotated[str, Query(max_length=64)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AdminUserList:
    return await admin.list_users(svc, query.strip(), limit, offset)


@router.post("/users", status_code=201, responses=errors(409))
async def create_user(svc: Svc, _: CurrentAdmin, body: AdminUserCreate) -> AdminUser:
    return await admin.create_user(svc, body)


@router.patch("/users/{user_id}", responses=errors(409))
async def update_user(svc: Svc, _: CurrentAdmin, user_id: str, body: AdminUserUpdate) -> AdminUser:
    return await admin.update_user(svc, user_id, body)
