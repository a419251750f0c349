"""The /ws endpoint: handshake (origin, token), then one typed frame at a time."""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from groupchat import events
from groupchat.actions.access import strict_member_room
from groupchat.actions.auth import authenticate
from groupchat.actions.messages import send_message
from groupchat.config import Settings, origin_of
from groupchat.errors import AppError
from groupchat.ratelimit import RateLimit
from groupchat.realtime.bus import Event
from groupchat.realtime.hub import CLOSE_UNAUTHORIZED, Connection
from groupchat.schemas import User
from groupchat.services import Services

log = logging.getLogger(__name__)
CLOSE_TOO_BIG = 1009
CLOSE_TOO_MANY = 4429  # WS_CONNECTIONS_PER_USER (docs/api.md)
FRAMES_PER_SECOND, FRAME_BURST = 5, 30
# The web client sends join_room for every room at once on each (re)connect.
JOINS_PER_SECOND, JOIN_BURST = 20, 200


class FrameBudget:
    """Per-socket rate limits: joins and leaves draw on their own, larger bucket."""

    def __init__(self) -> None:
        self.frames = RateLimit(FRAMES_PER_SECOND, FRAME_BURST)
        self.joins = RateLimit(JOINS_PER_SECOND, JOIN_BURST)

    def allow(self, frame: object) -> bool:
        if isinstance(frame, events.SendMessage):  # posting: the user's own budget (API.md)
            return True
        joining = isinstance(frame, events.JoinRoom | events.LeaveRoom)
        return (self.joins if joining else self.frames).allow()


def origin_allowed(origin: str | None, host: str, settings: Settings) -> bool:
    """No Origin (non-browser clients), our own origin, or one of CORS_ORIGINS. Our own is
    PUBLIC_URL's when it is set: the Host header is the attacker's choice after DNS rebinding."""
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    if settings.public_url:
        own = {origin_of(settings.public_url)}
    else:
        own = {f"http://{host.lower()}", f"https://{host.lower()}"}
    return origin in own or origin in {origin_of(o) for o in settings.cors_origin_list}


def too_many_connections(svc: Services, user_id: str) -> bool:
    """The user already holds WS_CONNECTIONS_PER_USER sockets in this process."""
    limit = svc.settings.ws_connections_per_user
    return limit > 0 and svc.hub.user_connection_count(user_id) >= limit


async def websocket_endpoint(ws: WebSocket) -> None:
    """Authenticate, register with the hub, then serve frames until the socket closes."""
    svc: Services = ws.app.state.services
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host", ""), svc.settings):
        await ws.close(1008)  # before accept: the handshake is refused with 403
        return
    await ws.accept()
    try:
        user, claims = await authenticate(svc, ws.query_params.get("token", ""))
    except AppError:
        await ws.close(CLOSE_UNAUTHORIZED, "invalid or missing token")
        return
    if too_many_connections(svc, user.id):
        await ws.close(CLOSE_TOO_MANY, "too many connections")
        return
    conn = Connection(ws, user.id, claims.jti, svc.settings.ws_send_queue)
    svc.hub.register(conn)
    try:
        await _serve(svc, conn, user)
    except WebSocketDisconnect:
        pass
    finally:
        await svc.hub.unregister(conn)


async def _serve(svc: Services, conn: Connection, user: User) -> None:
    limit = svc.settings.max_ws_frame_bytes
    budget = FrameBudget()
    while not conn.closed:
        message = await conn.ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None and len(text.encode()) > limit:
            await conn.ws.close(CLOSE_TOO_BIG, "frame too large")
            return
        frame, problem = _parse(text)
        if not budget.allow(frame):
            conn.send(_error("rate_limited", "slow down", frame))
        elif frame is None:
            conn.send(_error("bad_request", problem))
        else:
            await _handle(svc, conn, user, frame)


def _parse(text: str | None) -> tuple[Any, str]:
    """(the typed frame, "") or (None, why it is not a valid frame)."""
    if text is None:
        return None, "frames must be JSON text"
    try:
        return events.client_frame.validate_python(json.loads(text)), ""
    except (ValueError, RecursionError, ValidationError) as exc:  # RecursionError: deep nesting
        return None, _describe(exc)


async def _handle(svc: Services, conn: Connection, user: User, frame: Any) -> None:
    try:
        await _dispatch(svc, conn, user, frame)
    except AppError as exc:
        conn.send(_error(exc.code, exc.detail, frame))
    except Exception:
        log.exception("websocket frame %s failed", type(frame).__name__)
        conn.send(_error("bad_request", "the server could not handle that frame", frame))


async def _dispatch(svc: Services, conn: Connection, user: User, frame: Any) -> None:
    if isinstance(frame, events.Ping):
        conn.send(events.encode_frame({"type": "pong"}))
    elif isinstance(frame, events.LeaveRoom):
        svc.hub.leave(conn, frame.room_id)
    elif isinstance(frame, events.SendMessage):
        await send_message(
            svc, user, frame.room_id, frame.content, frame.image_url, frame.client_id, strict=True
        )
    else:
        await _check_member(svc, user, frame.room_id)
        if isinstance(frame, events.JoinRoom):
            svc.hub.join(conn, frame.room_id)
            conn.send(events.encode_frame({"type": "joined", "room_id": frame.room_id}))
        elif isinstance(frame, events.Typing):
            typing = events.user_typing(frame.room_id, user, frame.is_typing)
            await svc.publish(Event(frame=typing, room_id=frame.room_id, exclude_user_id=user.id))
        elif isinstance(frame, events.CancelAi):
            reason = f"Stopped by {user.display_name}."
            if not svc.ai.cancel(frame.room_id, reason):  # it may stream in another process
                control = {"type": "cancel_ai", "room_id": frame.room_id, "reason": reason}
                await svc.publish(Event(frame={}, control=control))


async def _check_member(svc: Services, user: User, room_id: str) -> None:
    async with svc.db.read() as conn:
        await strict_member_room(conn, room_id, user.id)


def _error(code: str, detail: str, frame: Any = None) -> str:
    """An error frame; one about a send_message carries its client_id (docs/api.md)."""
    error = events.error(code, detail)
    client_id = getattr(frame, "client_id", None)
    if client_id is not None:
        error["client_id"] = client_id
    return events.encode_frame(error)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"invalid frame: {where}: {first['msg']}" if where else "invalid frame"
    return "frames must be JSON objects"
