"""The /ws rules: who may connect (origin, token, socket limit), then typed frames in order.

realtime/protocol.py owns the socket and calls in here; nothing here touches a transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterator
from functools import partial
from typing import Any, Protocol

from pydantic import ValidationError

from groupchat import events
from groupchat.actions.access import strict_member
from groupchat.actions.auth import authenticate
from groupchat.actions.messages import accepted, needs_lookup, queue_message, send_message
from groupchat.config import Settings, origin_of
from groupchat.errors import AppError
from groupchat.middleware import host_forms
from groupchat.ratelimit import RateLimit
from groupchat.realtime.bus import Event
from groupchat.realtime.hub import CLOSE_UNAUTHORIZED, Socket
from groupchat.schemas import User
from groupchat.security import TokenClaims
from groupchat.services import Services
from groupchat.store.post_batch import Posted

log = logging.getLogger(__name__)
CLOSE_TOO_MANY = 4429  # WS_CONNECTIONS_PER_USER (docs/api.md)
FRAMES_PER_SECOND, FRAME_BURST = 5, 30
# The web client sends join_room for every room at once on each (re)connect.
JOINS_PER_SECOND, JOIN_BURST = 20, 200
PONG = events.encode_frame({"type": "pong"})


class FrameBudget:
    """Per-socket rate limits: joins and leaves draw on their own, larger bucket; posts on the
    user's posting budget instead (API.md "Posting rate", actions/messages.py)."""

    __slots__ = ("frames", "joins")

    def __init__(self) -> None:
        self.frames = RateLimit(FRAMES_PER_SECOND, FRAME_BURST)
        self.joins = RateLimit(JOINS_PER_SECOND, JOIN_BURST)

    def allow(self, frame: object) -> bool:
        if isinstance(frame, events.SendMessage):  # posting: the user's own budget (API.md)
            return True
        joining = isinstance(frame, events.JoinRoom | events.LeaveRoom)
        return (self.joins if joining else self.frames).allow()


class Client(Socket, Protocol):
    """A signed-in socket as the frame handlers see it."""

    user: User
    budget: FrameBudget

    def send_text(self, text: str) -> None:
        """Send one text frame to this socket only."""


class Refused(Exception):
    """The handshake is accepted, then closed with this code and reason (API.md: 4401)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


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


def host_allowed(host: str, settings: Settings) -> bool:
    """With PUBLIC_URL set, the Host must name it or a CORS_ORIGINS host, as for HTTP (the
    HostCheck middleware, which /ws does not pass through)."""
    if not settings.public_url:
        return True
    origins = [settings.public_url, *settings.cors_origin_list]
    return host.strip().lower() in {form for o in origins for form in host_forms(o)}


def too_many_connections(svc: Services, user_id: str) -> bool:
    """The user already holds WS_CONNECTIONS_PER_USER sockets in this process."""
    limit = svc.settings.ws_connections_per_user
    return limit > 0 and svc.hub.user_connection_count(user_id) >= limit


async def admit(svc: Services, token: str) -> tuple[User, TokenClaims]:
    """The user a new socket belongs to, or Refused. The caller registers the socket before it
    awaits anything else, so simultaneous handshakes cannot all pass the socket limit."""
    try:
        user, claims = await authenticate(svc, token)
    except AppError:
        raise Refused(CLOSE_UNAUTHORIZED, "invalid or missing token") from None
    if too_many_connections(svc, user.id):
        raise Refused(CLOSE_TOO_MANY, "too many connections")
    return user, claims


def on_frame(svc: Services, conn: Client, message: str | bytes) -> Coroutine[Any, Any, None] | None:
    """Answer a frame that needs no I/O now; for the others, the coroutine that handles them
    (the caller runs those one at a time, in order)."""
    if isinstance(message, bytes):
        frame, problem = None, "frames must be JSON text"
    else:
        frame, problem = _parse(message)
    if not conn.budget.allow(frame):
        conn.send_text(_error("rate_limited", "slow down", frame))
    elif frame is None:
        conn.send_text(_error("bad_request", problem))
    elif isinstance(frame, events.Ping):
        conn.send_text(PONG)
    elif isinstance(frame, events.LeaveRoom):
        svc.hub.leave(conn, frame.room_id)
    elif isinstance(frame, events.SendMessage) and not needs_lookup(frame.content, frame.reply_to):
        _queue(svc, conn, frame)
    else:
        return _handle(svc, conn, frame)
    return None


def _queue(svc: Services, conn: Client, frame: events.SendMessage) -> None:
    """A post that needs no database read is checked and queued now, and answered when the
    writer has stored it: no task per post. The socket's later frames need not wait for its
    commit; the writer stores posts in the order they came, so they stay in order."""
    with _answering_failure(conn, frame):
        posted = queue_message(
            svc, conn.user, frame.room_id, frame.content, frame.image_url, frame.client_id
        )
        asyncio.ensure_future(posted).add_done_callback(partial(_stored, svc, conn, frame))


def _stored(
    svc: Services, conn: Client, frame: events.SendMessage, done: asyncio.Future[Posted]
) -> None:
    if done.cancelled():  # shutting down
        return
    with _answering_failure(conn, frame):
        accepted(svc, done.result(), strict=True)


@contextlib.contextmanager
def _answering_failure(conn: Client, frame: Any) -> Iterator[None]:
    """A frame's handling that fails is answered with an error frame (its client_id kept: a
    send_message's rate_limited too); an unexpected failure is logged as well."""
    try:
        yield
    except AppError as exc:
        conn.send_text(_error(exc.code, exc.detail, frame))
    except Exception:
        log.exception("websocket frame %s failed", type(frame).__name__)
        conn.send_text(_error("bad_request", "the server could not handle that frame", frame))


def _parse(text: str) -> tuple[Any, str]:
    """(the typed frame, "") or (None, why it is not a valid frame)."""
    try:  # pydantic-core parses and validates in one pass (nesting is capped at 200 levels)
        return events.client_frame.validate_json(text), ""
    except ValidationError as exc:
        return None, _describe(exc)


async def _handle(svc: Services, conn: Client, frame: Any) -> None:
    with _answering_failure(conn, frame):
        await _dispatch(svc, conn, frame)


async def _dispatch(svc: Services, conn: Client, frame: Any) -> None:
    user = conn.user
    if isinstance(frame, events.SendMessage):
        await send_message(
            svc,
            user,
            frame.room_id,
            frame.content,
            frame.image_url,
            frame.client_id,
            strict=True,
            reply_to=frame.reply_to,
        )
        return
    await strict_member(svc.db, svc.reads, frame.room_id, user.id)
    if isinstance(frame, events.JoinRoom):
        await svc.bus.before_join(frame.room_id)  # several processes: where its stream starts
        svc.hub.join(conn, frame.room_id)
        conn.send_text(events.encode_frame({"type": "joined", "room_id": frame.room_id}))
    elif isinstance(frame, events.Typing):
        typing = events.user_typing(frame.room_id, user, frame.is_typing)
        await svc.publish(Event(frame=typing, room_id=frame.room_id, exclude_user_id=user.id))
    elif isinstance(frame, events.CancelAi):
        reason = f"Stopped by {user.display_name}."
        if not svc.ai.cancel(frame.room_id, reason):  # it may stream in another process
            control = {"type": "cancel_ai", "room_id": frame.room_id, "reason": reason}
            await svc.publish(Event(frame={}, control=control))


def _error(code: str, detail: str, frame: Any = None) -> str:
    """An error frame; one about a send_message carries its client_id (docs/api.md)."""
    error = events.error(code, detail)
    client_id = getattr(frame, "client_id", None)
    if client_id is not None:
        error["client_id"] = client_id
    return events.encode_frame(error)


def _describe(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] in ("json_invalid", "dict_type"):
        return "frames must be JSON objects"
    return f"invalid frame: {where}: {first['msg']}" if where else "invalid frame"
