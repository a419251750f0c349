"""Rooms and members: /api/rooms/*."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from groupchat.actions import members, reading, rooms
from groupchat.deps import CurrentUser, Svc
from groupchat.openapi import errors
from groupchat.schemas import (
    Member,
    ReadMarker,
    RoleUpdate,
    Room,
    RoomCreate,
    RoomDetail,
    RoomList,
    RoomUpdate,
)

router = APIRouter(prefix="/api/rooms", tags=["rooms"])


@router.get("")
async def list_rooms(
    svc: Svc, user: CurrentUser, scope: Literal["mine", "public"] = "mine"
) -> RoomList:
    return RoomList(rooms=await rooms.list_rooms(svc, user, scope))


@router.post("", status_code=201)
async def create_room(svc: Svc, user: CurrentUser, body: RoomCreate) -> Room:
    return await rooms.create_room(svc, user, body)


@router.get("/{room_id}")
async def get_room(svc: Svc, user: CurrentUser, room_id: str) -> RoomDetail:
    return await rooms.get_room(svc, user, room_id)


@router.patch("/{room_id}", responses=errors(403))
async def update_room(svc: Svc, user: CurrentUser, room_id: str, body: RoomUpdate) -> Room:
    return await rooms.update_room(svc, user, room_id, body)


@router.delete("/{room_id}", status_code=204, responses=errors(403))
async def delete_room(svc: Svc, user: CurrentUser, room_id: str) -> Response:
    await rooms.delete_room(svc, user, room_id)
    return Response(status_code=204)


@router.post("/{room_id}/join")
async def join_room(svc: Svc, user: CurrentUser, room_id: str) -> Room:
    return await rooms.join_room(svc, user, room_id)


@router.post("/{room_id}/read", status_code=204)
async def mark_read(svc: Svc, user: CurrentUser, room_id: str, body: ReadMarker) -> Response:
    await reading.mark_read(svc, user, room_id, body.message_id)
    return Response(status_code=204)


@router.post("/{room_id}/clear", status_code=204, responses=errors(403))
async def clear_room(svc: Svc, user: CurrentUser, room_id: str) -> Response:
    await rooms.clear_room(svc, user, room_id)
    return Response(status_code=204)


@router.delete("/{room_id}/members/{user_id}", status_code=204, responses=errors(403, 409))
async def remove_member(svc: Svc, user: CurrentUser, room_id: str, user_id: str) -> Response:
    await members.remove_member(svc, user, room_id, user_id)
    return Response(status_code=204)


@router.patch("/{room_id}/members/{user_id}", responses=errors(403, 409))
async def set_role(
    svc: Svc, user: CurrentUser, room_id: str, user_id: str, body: RoleUpdate
) -> Member:
    return await members.set_role(svc, user, room_id, user_id, body.role)
