"""Messages: /api/rooms/{id}/messages and /api/messages/hash/{hash}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from groupchat.actions import messages
from groupchat.deps import CurrentUser, Svc
from groupchat.openapi import EXCLUSIVE, errors
from groupchat.schemas import Message, MessageCreate, MessagePage

router = APIRouter(tags=["messages"])

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=64, pattern="^[0-9A-Za-z]+$")]  # a message id


@router.get("/api/rooms/{room_id}/messages", openapi_extra={EXCLUSIVE: [["before", "after"]]})
async def list_messages(
    svc: Svc,
    user: CurrentUser,
    room_id: str,
    limit: Limit = 50,
    before: Cursor = None,
    after: Cursor = None,
) -> MessagePage:
    return await messages.list_messages(svc, user, room_id, limit=limit, before=before, after=after)


@router.post("/api/rooms/{room_id}/messages", status_code=201, responses=errors(403, 429))
async def send_message(svc: Svc, user: CurrentUser, room_id: str, body: MessageCreate) -> Message:
    return await messages.send_message(svc, user, room_id, body.content, body.image_url)


@router.get("/api/messages/hash/{digest}")
async def find_by_hash(
    svc: Svc, user: CurrentUser, digest: Annotated[str, Path(pattern="^[0-9a-fA-F]{64}$")]
) -> Message:
    return await messages.find_message_by_hash(svc, user, digest)
