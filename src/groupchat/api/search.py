"""Search: /api/search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from groupchat.actions import search as search_action
from groupchat.deps import CurrentUser, Svc
from groupchat.schemas import SearchResults
from groupchat.search_text import MAX_QUERY

router = APIRouter(tags=["search"])

Cursor = Annotated[str | None, Query(max_length=64, pattern="^[0-9A-Za-z]+$")]  # a message id


@router.get("/api/search")
async def search(
    svc: Svc,
    user: CurrentUser,
    q: Annotated[str, Query(max_length=MAX_QUERY)],
    room_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Cursor = None,
) -> SearchResults:
    return await search_action.search(svc, user, q, room_id=room_id, limit=limit, before=before)
