"""Accounts: /api/auth/*."""

from __future__ import annotations

from fastapi import APIRouter, Response, UploadFile

from groupchat.actions import auth
from groupchat.actions.uploads import upload_avatar as store_avatar
from groupchat.api.uploads import read_upload
from groupchat.deps import CurrentUser, Session, Svc
from groupchat.openapi import errors
from groupchat.schemas import (
    AuthOut,
    LoginIn,
    PasswordChange,
    ProfileUpdate,
    RegisterIn,
    User,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/register", status_code=201, responses=errors(403, 409))
async def register(svc: Svc, body: RegisterIn) -> AuthOut:
    return await auth.register(svc, body)


@router.post("/login", responses=errors(401, 403))
async def login(svc: Svc, body: LoginIn) -> AuthOut:
    return await auth.login(svc, body.username, body.password)


@router.get("/me")
async def me(user: CurrentUser) -> User:
    return user


@router.patch("/profile", responses=errors(409))
async def update_profile(svc: Svc, user: CurrentUser, body: ProfileUpdate) -> User:
    return await auth.update_profile(svc, user, body)


@router.post("/avatar", responses=errors(429))
async def upload_avatar(svc: Svc, user: CurrentUser, file: UploadFile) -> User:
    data = await read_upload(file, svc.settings.max_avatar_bytes)
    return await store_avatar(svc, user, data)


@router.post("/logout", status_code=204)
async def logout(svc: Svc, session: Session) -> Response:
    await auth.logout(svc, session[1])
    return Response(status_code=204)


@router.post("/password", status_code=204, responses=errors(403))
async def change_password(svc: Svc, session: Session, body: PasswordChange) -> Response:
    await auth.change_password(svc, session[0], session[1], body)
    return Response(status_code=204)


@router.post("/logout-all", status_code=204)
async def logout_all(svc: Svc, user: CurrentUser) -> Response:
    await auth.logout_everywhere(svc, user.id)
    return Response(status_code=204)
