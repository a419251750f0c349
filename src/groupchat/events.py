"""WebSocket frames: client frames as models with a Literal type; server frames as builders."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import to_json

from groupchat.schemas import Id, Message, Room, Text, UserPublic, public


class ClientFrame(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class JoinRoom(ClientFrame):
    type: Literal["join_room"]
    room_id: Id


class LeaveRoom(ClientFrame):
    type: Literal["leave_room"]
    room_id: Id


class Typing(ClientFrame):
    type: Literal["typing"]
    room_id: Id
    is_typing: bool


class SendMessage(ClientFrame):
    type: Literal["send_message"]
    room_id: Id
    content: Text
    image_url: Annotated[str, Field(max_length=255)] | None = None
    client_id: Annotated[str, Field(max_length=100)] | None = None
    reply_to: Id | None = None  # v2: a message of the same room, not deleted


class CancelAi(ClientFrame):
    type: Literal["cancel_ai"]
    room_id: Id


class Ping(ClientFrame):
    type: Literal["ping"]


AnyClientFrame = Annotated[
    JoinRoom | LeaveRoom | Typing | SendMessage | CancelAi | Ping, Field(discriminator="type")
]
client_frame = TypeAdapter(AnyClientFrame)

Frame = dict[str, Any]


def new_message(message: Message) -> Frame:
    return {"type": "new_message", "message": message.model_dump(mode="json")}


def message_updated(message: Message) -> Frame:
    return {"type": "message_updated", "message": message.model_dump(mode="json")}


def message_deleted(room_id: str, message_id: str) -> Frame:
    return {"type": "message_deleted", "room_id": room_id, "message_id": message_id}


def reaction(kind: str, room_id: str, message_id: str, emoji: str, user_id: str) -> Frame:
    """`reaction_added` or `reaction_removed`."""
    return {
        "type": f"reaction_{kind}",
        "room_id": room_id,
        "message_id": message_id,
        "emoji": emoji,
        "user_id": user_id,
    }


def user_typing(room_id: str, user: UserPublic, is_typing: bool) -> Frame:
    return {
        "type": "user_typing",
        "room_id": room_id,
        "user": public(user).model_dump(mode="json"),
        "is_typing": is_typing,
    }


def room_updated(room: Room) -> Frame:
    return {"type": "room_updated", "room": room.model_copy(update=_SHARED).model_dump()}


# A room as everyone may see it: without one member's role, marker and counts.
_SHARED = {
    "my_role": None,
    "unread_count": None,
    "mention_count": None,
    "last_read_id": None,
    "last_message": None,
}


def read_updated(room_id: str, last_read_id: str) -> Frame:
    return {"type": "read_updated", "room_id": room_id, "last_read_id": last_read_id}


def room_cleared(room_id: str) -> Frame:
    return {"type": "room_cleared", "room_id": room_id}


def room_deleted(room_id: str) -> Frame:
    return {"type": "room_deleted", "room_id": room_id}


def member_joined(room_id: str, user: UserPublic) -> Frame:
    return {
        "type": "member_joined",
        "room_id": room_id,
        "user": public(user).model_dump(mode="json"),
    }


def member_left(room_id: str, user_id: str) -> Frame:
    return {"type": "member_left", "room_id": room_id, "user_id": user_id}


def ai_refused(room_id: str, scope: str, detail: str, resets_at: str) -> Frame:
    """To the triggering user's sockets: an AI limit stopped the answer before it started."""
    return {
        "type": "ai_refused",
        "room_id": room_id,
        "scope": scope,
        "detail": detail,
        "resets_at": resets_at,
    }


def error(code: str, detail: str) -> Frame:
    return {"type": "error", "code": code, "detail": detail}


def frame_bytes(frame: Frame) -> bytes:
    """A frame's compact JSON as UTF-8 (the same text `json.dumps` with compact separators and
    ensure_ascii=False makes, in a fifth of the time: pydantic-core's serializer)."""
    return to_json(frame)


def with_extra(payload: bytes, frame: Frame, extra: Frame) -> bytes:
    """`frame_bytes({**frame, **extra})` from the frame's bytes without encoding it again,
    while `extra` adds keys only (a sender's `client_id`)."""
    if not extra:
        return payload
    if not frame or extra.keys() & frame.keys():
        return frame_bytes({**frame, **extra})
    return payload[:-1] + b"," + to_json(extra)[1:]


def encode_frame(frame: Frame) -> str:
    """Compact JSON text of a frame."""
    return frame_bytes(frame).decode()
