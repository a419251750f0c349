"""A room's hash chain, entry by entry (docs/hash-chain.md)."""

from __future__ import annotations

from groupchat.actions.access import visible_room
from groupchat.schemas import ChainPage, User
from groupchat.services import Services
from groupchat.store import chain as chain_store


async def chain_page(
    svc: Services, user: User, room_id: str, *, after: str | None, limit: int
) -> ChainPage:
    """Entries of a room the caller can read, oldest first (or the first after `after`)."""
    async with svc.db.read() as conn:
        await visible_room(conn, room_id, user.id)
        entries, has_more = await chain_store.page(conn, room_id, after=after, limit=limit)
    return ChainPage(entries=entries, has_more=has_more)
