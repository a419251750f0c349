"""What AI answers cost: the limits checked before one starts, the ledger row after it ends."""

from __future__ import annotations

import logging
import math

from groupchat import events
from groupchat.actions.budget import Refusal, check_limits
from groupchat.ai.models import ModelInfo
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.realtime.bus import Event
from groupchat.schemas import Room
from groupchat.services import Services
from groupchat.store import ledger

log = logging.getLogger(__name__)


async def find_refusal(svc: Services, room: Room, user_id: str | None) -> Refusal | None:
    """The limit the next answer in `room`, triggered by `user_id`, would break (None: go)."""
    async with svc.db.read() as conn:
        return await check_limits(conn, svc.settings, room, user_id, utc_now())


async def refuse(svc: Services, room_id: str, user_id: str | None, refusal: Refusal) -> None:
    """Tell every socket of the triggering user (joined to the room or not), and count it."""
    svc.metrics.ai_refused(refusal.scope)
    if user_id is None:
        return
    frame = events.ai_refused(room_id, refusal.scope, refusal.detail, refusal.resets_at)
    await svc.publish(Event(frame=frame, user_ids=(user_id,)))


def answer_cost(
    reported: float | None, prompt_tokens: int, completion_tokens: int, info: ModelInfo | None
) -> float:
    """The provider's cost; else tokens × the model's listed prices; 0 without prices."""
    if reported is not None:
        return max(0.0, reported)
    if info is None:
        return 0.0
    pricing = info["pricing"]
    prompt, completion = _price(pricing["prompt"]), _price(pricing["completion"])
    return prompt_tokens * prompt + completion_tokens * completion


def _price(value: str | None) -> float:
    """USD per token from the model list; unknown, negative ("-1": varies) or junk is 0."""
    try:
        price = float(value) if value is not None else 0.0
    except ValueError:
        return 0.0
    return price if math.isfinite(price) and price > 0 else 0.0


async def record(
    svc: Services,
    *,
    room: Room,
    user_id: str | None,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: float,
    outcome: str,
) -> None:
    """Write one ledger row in its own transaction (a failure is logged, never raised)."""
    try:
        async with svc.db.write() as conn:
            await ledger.insert_entry(
                conn,
                id=new_id(),
                room_id=room.id,
                room_name=room.name,
                user_id=user_id,
                model=model,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                cost_usd=cost,
                outcome=outcome,
                created_at=format_ts(utc_now()),
            )
    except Exception:
        log.exception("recording the AI answer's cost in room %s failed", room.id)
    svc.metrics.ai_answer(outcome, model, prompt_tokens, completion_tokens, cost)
