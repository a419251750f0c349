"""Messages: /api/rooms/{id}/messages, /api/rooms/{id}/chain and /api/messages/…."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from groupchat.actions import chain, message_edits, messages, reactions
from groupchat.deps import CurrentUser, Svc
from groupchat.openapi import EXCLUSIVE, errors
from groupchat.schemas import (
    ChainPage,
    Message,
    MessageCreate,
    MessageEdit,
    MessageHistory,
    MessagePage,
)

router = APIRouter(tags=["messages"])

Limit = Annotated[int, Query(ge=1, le=200)]
ChainLimit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=64, pattern="^[0-9A-Za-z]+$")]  # a message id
Emoji = Annotated[str, Path(min_length=1, max_length=64)]


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
    return await messages.send_message(
        svc, user, room_id, body.content, body.image_url, reply_to=body.reply_to
    )


@router.get("/api/rooms/{room_id}/chain")
async def room_chain(
    svc: Svc, user: CurrentUser, room_id: str, after: Cursor = None, limit: ChainLimit = 200
) -> ChainPage:
    return await chain.chain_page(svc, user, room_id, after=after, limit=limit)


@router.get("/api/messages/hash/{digest}", responses=errors(410))
async def find_by_hash(
    svc: Svc, user: CurrentUser, digest: Annotated[str, Path(pattern="^[0-9a-fA-F]{64}$")]
) -> Message:
    return await messages.find_message_by_hash(svc, user, digest)


@router.get("/api/messages/{message_id}", responses=errors(410))
async def get_message(svc: Svc, user: CurrentUser, message_id: str) -> Message:
    return await message_edits.get_message(svc, user, message_id)


@router.patch("/api/messages/{message_id}", responses=errors(403, 410, 429))
async def edit_message(svc: Svc, user: CurrentUser, message_id: str, body: MessageEdit) -> Message:
    return await message_edits.edit_message(svc, user, message_id, body.content)


@router.get("/api/messages/{message_id}/history", responses=errors(410))
async def message_history(svc: Svc, user: CurrentUser, message_id: str) -> MessageHistory:
    return await message_edits.history(svc, user, message_id)


@router.delete("/api/messages/{message_id}", status_code=204, responses=errors(403, 410))
async def delete_message(svc: Svc, user: CurrentUser, message_id: str) -> Response:
    await message_edits.delete_message(svc, user, message_id)
    return Response(status_code=204)


@router.put(
    "/api/messages/{message_id}/reactions/{emoji}", status_code=204, responses=errors(403, 410)
)
async def add_reaction(svc: Svc, user: CurrentUser, message_id: str, emoji: Emoji) -> Response:
    await reactions.add_reaction(svc, user, message_id, emoji)
    return Response(status_code=204)


@router.delete(
    "/api/messages/{message_id}/reactions/{emoji}", status_code=204, responses=errors(410)
)
async def remove_reaction(svc: Svc, user: CurrentUser, message_id: str, emoji: Emoji) -> Response:
    await reactions.remove_reaction(svc, user, message_id, emoji)
    return Response(status_code=204)
