"""Health checks."""

from __future__ import annotations

from fastapi import APIRouter

from groupchat.deps import Svc
from groupchat.errors import ServiceUnavailable
from groupchat.openapi import errors
from groupchat.schemas import Status

router = APIRouter(tags=["meta"])


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
