"""Annotated dependencies shared by the route handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from groupchat.actions.auth import authenticate
from groupchat.errors import Forbidden, Unauthorized
from groupchat.schemas import User
from groupchat.security import TokenClaims
from groupchat.services import Services

_bearer = HTTPBearer(auto_error=False, description="the token from register or login")


async def get_services(request: Request) -> Services:
    """`async`: FastAPI runs a plain `def` dependency in its thread pool, a hop per request."""
    services: Services = request.app.state.services
    return services


Svc = Annotated[Services, Depends(get_services)]


async def get_session(
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> tuple[User, TokenClaims]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    return await authenticate(svc, credentials.credentials)


Session = Annotated[tuple[User, TokenClaims], Depends(get_session)]


async def get_current_user(session: Session) -> User:
    return session[0]


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_admin(user: CurrentUser) -> User:
    """The signed-in user if a server admin (read from the account on every request), else 403."""
    if not user.is_admin:
        raise Forbidden("server admins only")
    return user


CurrentAdmin = Annotated[User, Depends(get_current_admin)]
