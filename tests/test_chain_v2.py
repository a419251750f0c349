"""The chain, version 2: messages, edits and deletions are entries of one chain per room,
recomputed here from the canonical form docs/hash-chain.md documents (not from our code),
and checked by the standalone verifier (scripts/verify_chain.py) run against the server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from conftest import Actor, Server, add_member, create_room
from conftest import post_message as post
from groupchat.db import tables

VERIFIER = Path(__file__).resolve().parent.parent / "scripts" / "verify_chain.py"
ENTRY_KEYS = {
    "hash", "prev_hash", "v", "id", "room_id", "kind", "author_type", "author_id", "target_id",
    "reply_to", "image_url", "content_sha256", "created_at", "content", "salt",
}  # fmt: skip


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recompute(entry: dict[str, Any]) -> str:
    """The documented v2 canonical JSON of an entry, hashed."""
    fields = {
        key: entry[key]
        for key in ("v", "id", "room_id", "kind", "author_type", "author_id", "target_id",
                    "reply_to", "image_url", "content_sha256", "created_at", "prev_hash")
    }  # fmt: skip
    return sha(json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def verify(entries: list[dict[str, Any]]) -> None:
    prev = None
    for entry in entries:
        assert set(entry) == ENTRY_KEYS
        assert entry["prev_hash"] == prev, entry
        assert recompute(entry) == entry["hash"], entry
        if entry["content"] is not None:
            assert sha(entry["salt"] + entry["content"]) == entry["content_sha256"]
        prev = entry["hash"]


async def chain(http: httpx.AsyncClient, actor: Actor, room_id: str, **params: Any) -> Any:
    resp = await http.get(f"/api/rooms/{room_id}/chain", params=params, headers=actor.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def run_verifier(server: Server, token: str, room_id: str) -> tuple[int, str]:
    """Run scripts/verify_chain.py against the server: (exit status, output)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(VERIFIER), "--url", server.base_url, "--token", token,
        "--room", room_id, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_messages_edits_deletions_and_a_clear_form_one_verifiable_chain(
    http: httpx.AsyncClient, server: Server, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    rid = room["id"]
    await add_member(http, room, alice, bob)
    first = await post(http, alice, rid, "hello «bob»")
    assert (first["chain_v"], len(first["salt"]), first["prev_hash"]) == (2, 32, None)
    reply = await post(http, bob, rid, "hi alice", reply_to=first["id"])
    resp = await http.patch(
        f"/api/messages/{first['id']}", json={"content": "hello bob"}, headers=alice.headers
    )
    assert resp.status_code == 200, resp.text
    edited = resp.json()
    # an edit never changes the message's own hash and link
    assert (edited["hash"], edited["prev_hash"]) == (first["hash"], first["prev_hash"])
    resp = await http.delete(f"/api/messages/{reply['id']}", headers=alice.headers)
    assert resp.status_code == 204
    last = await post(http, bob, rid, "after")

    body = await chain(http, bob, rid)
    entries = body["entries"]
    assert body["has_more"] is False
    assert [(e["kind"], e["target_id"]) for e in entries] == [
        ("message", None),
        ("message", None),
        ("edit", first["id"]),
        ("delete", reply["id"]),
        ("message", None),
    ]
    verify(entries)
    message_entry, reply_entry, edit_entry, delete_entry, last_entry = entries
    assert (message_entry["id"], message_entry["hash"]) == (first["id"], first["hash"])
    assert message_entry["content"] == "hello «bob»"  # the original stays in the chain
    assert (edit_entry["content"], edit_entry["salt"]) == ("hello bob", edited["salt"])
    assert (edit_entry["author_id"], edited["edited_at"]) == (alice.id, edit_entry["created_at"])
    # the deleted reply: entry kept, text and salt erased; the delete entry names who deleted
    assert (reply_entry["reply_to"], reply_entry["content"], reply_entry["salt"]) == (
        first["id"],
        None,
        None,
    )
    assert reply_entry["content_sha256"] is not None
    assert (delete_entry["author_id"], delete_entry["content_sha256"]) == (alice.id, None)
    assert last_entry["prev_hash"] == delete_entry["hash"] == last["prev_hash"]

    # paging: after an entry, with a limit
    page = await chain(http, alice, rid, after=entries[1]["id"], limit=2)
    assert [e["id"] for e in page["entries"]] == [e["id"] for e in entries[2:4]]
    assert page["has_more"] is True

    code, out = await run_verifier(server, bob.token, rid)
    assert code == 0, out
    assert "5 entries, the chain verifies" in out

    resp = await http.post(f"/api/rooms/{rid}/clear", headers=alice.headers)
    assert resp.status_code == 204
    assert (await chain(http, alice, rid))["entries"] == []
    again = await post(http, alice, rid, "fresh start")
    entries = (await chain(http, alice, rid))["entries"]
    assert [e["id"] for e in entries] == [again["id"]] and again["prev_hash"] is None
    verify(entries)
    async with server.services.db.read() as conn:
        left = await conn.execute(
            sa.select(sa.func.count())
            .select_from(tables.chain_entries)
            .where(tables.chain_entries.c.room_id == rid)
        )
        assert left.scalar_one() == 0  # a clear leaves no edit or delete entry


async def test_the_verifier_reports_a_tampered_entry(
    http: httpx.AsyncClient, server: Server, alice: Actor
) -> None:
    room = await create_room(http, alice)
    posted = [await post(http, alice, room["id"], f"line {i}") for i in range(3)]
    async with server.services.db.write() as conn:
        await conn.execute(
            tables.messages.update()
            .where(tables.messages.c.id == posted[1]["id"])
            .values(content="line one, rewritten")
        )
    code, out = await run_verifier(server, alice.token, room["id"])
    assert code == 1, out
    assert f"entry {posted[1]['id']} (message): hash does not match the entry" in out


async def test_the_chain_is_read_by_whoever_can_read_the_room(
    http: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor
) -> None:
    private = await create_room(http, alice)
    public = await create_room(http, alice, name="lobby", is_public=True)
    await post(http, alice, public["id"], "welcome")
    resp = await http.get(f"/api/rooms/{private['id']}/chain", headers=carol.headers)
    assert resp.status_code == 404
    assert len((await chain(http, carol, public["id"]))["entries"]) == 1  # a visitor
    for bad in ({"limit": 0}, {"limit": 1001}, {"after": "no-such!"}):
        resp = await http.get(f"/api/rooms/{public['id']}/chain", params=bad, headers=bob.headers)
        assert resp.status_code == 422, bad
