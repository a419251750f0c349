"""Search: the messages of the caller's rooms (or of one room they may read) that match."""

from __future__ import annotations

from groupchat import search_text
from groupchat.actions.access import visible_room
from groupchat.schemas import SearchResult, SearchResults, User
from groupchat.services import Services
from groupchat.store import messages as message_store
from groupchat.store import search as search_store


async def search(
    svc: Services, user: User, q: str, *, room_id: str | None, limit: int, before: str | None
) -> SearchResults:
    """Newest first; a room the caller may not read is 404, like an unknown one."""
    terms = search_text.parse(q)
    await svc.posts.search_ready()  # SQLite indexes new messages in bulk, a little later
    async with svc.db.read() as conn:
        if room_id is not None:
            await visible_room(conn, room_id, user.id)
        pg = conn.dialect.name == "postgresql"
        query = search_text.tsquery(terms) if pg else search_text.fts5_query(terms)
        ids = await search_store.find(
            conn, query, user_id=user.id, room_id=room_id, limit=limit + 1, before=before
        )
        found = await message_store.by_ids(conn, ids[:limit])
    results = [
        SearchResult(message=m, snippet_html=search_text.snippet_html(m.content, terms))
        for m in (found[i] for i in ids[:limit] if i in found)
    ]
    return SearchResults(results=results, has_more=len(ids) > limit)
