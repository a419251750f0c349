"""realtime/ordering.py's reads of the stored chain (store/chain_tail.py): the entries after a
head in chain order, as the frames the live stream carries; nothing once a clear erased it."""

from __future__ import annotations

import httpx

from conftest import Actor, Server, create_room
from groupchat.realtime.ordering import StoredChain, link_of


async def test_the_entries_after_a_head_come_as_live_frames_in_chain_order(
    server: Server, http: httpx.AsyncClient, alice: Actor
) -> None:
    room = await create_room(http, alice)
    url = f"/api/rooms/{room['id']}/messages"
    posted = []
    for text in ("one", "two", "three"):
        resp = await http.post(url, json={"content": text}, headers=alice.headers)
        posted.append(resp.json())
    two = posted[1]["id"]
    assert (
        await http.patch(f"/api/messages/{two}", json={"content": "2"}, headers=alice.headers)
    ).is_success
    assert (await http.delete(f"/api/messages/{posted[2]['id']}", headers=alice.headers)).is_success
    four = (await http.post(url, json={"content": "four"}, headers=alice.headers)).json()
    chain = (await http.get(f"/api/rooms/{room['id']}/chain", headers=alice.headers)).json()
    stored = StoredChain(server.services.db)

    entries = await stored.after(room["id"], posted[0]["hash"])
    assert entries is not None
    frames = [event.frame for event, _ in entries]
    assert [f["type"] for f in frames] == [
        "new_message", "new_message", "message_updated", "message_deleted", "new_message",
    ]  # fmt: skip
    assert frames[2]["message"]["content"] == "2"  # as it reads now
    assert frames[3] == {
        "type": "message_deleted",
        "room_id": room["id"],
        "message_id": posted[2]["id"],
    }
    hashes = [entry["hash"] for entry in chain["entries"]]
    links = [link_of(event) for event, _ in entries]
    assert [link.hash for link in links if link] == hashes[1:]
    assert [link.prev for link in links if link] == hashes[:-1]
    assert [entry_id for _, entry_id in entries] == [e["id"] for e in chain["entries"][1:]]
    assert await stored.head(room["id"]) == (four["hash"], four["id"])
    everything = await stored.after(room["id"], None)
    assert everything is not None and len(everything) == len(hashes)

    assert (await http.post(f"/api/rooms/{room['id']}/clear", headers=alice.headers)).is_success
    assert await stored.after(room["id"], four["hash"]) is None  # erased: the sockets resync
    assert await stored.after(room["id"], None) == []
    assert await stored.head(room["id"]) == (None, None)
