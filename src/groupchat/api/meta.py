"""Health checks."""

from __future__ import annotations

from fastapi import APIRouter

from groupchat.actions import signup
from groupchat.deps import Svc
from groupchat.errors import ServiceUnavailable
from groupchat.openapi import errors
from groupchat.schemas import ServerInfo, Status

router = APIRouter(tags=["meta"])


@router.get("/api/server")
async def server_info(svc: Svc) -> ServerInfo:
    """What a sign-in page needs to know; no sign-in."""
    settings = svc.settings
    return ServerInfo(
        registration=settings.registration_mode,
        needs_setup=await signup.needs_setup(svc),
        ai_enabled=settings.ai_enabled,
        ai_name=settings.ai_name,
        version=signup.server_version(),
    )


@router.get("/healthz")
async def healthz() -> Status:
    return Status(status="ok")


@router.get("/readyz", responses=errors(503))
async def readyz(svc: Svc) -> Status:
    try:
        await svc.db.ping()
    except Exception:
        raise ServiceUnavailable("database unavailable") from None
    ping = getattr(svc.bus, "ping", None)
    if ping is not None:
        try:
            await ping()
        except Exception:
            raise ServiceUnavailable("redis unavailable") from None
    return Status(status="ok")
