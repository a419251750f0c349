"""GET /metrics: Prometheus text, only for a scraper that holds METRICS_TOKEN."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from groupchat.deps import Svc
from groupchat.errors import NotFound

router = APIRouter(tags=["meta"])


@router.get("/metrics", include_in_schema=False)
async def metrics(svc: Svc, request: Request) -> Response:
    # 404, not 401: without the token the endpoint does not exist (API.md "Metrics").
    token = svc.settings.metrics_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if (
        not token
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(given.strip().encode(), token.encode())
    ):
        raise NotFound("not found")
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)
