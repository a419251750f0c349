"""Migration 0005 on a database written by v1: its messages keep their v1 hashes and become v1
chain entries; new messages, edits and deletions continue the same chain as v2 entries, and
the mixed chain verifies (in this test and with the standalone verifier)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import sqlalchemy as sa

from conftest import start_server
from groupchat.config import Settings
from groupchat.db.engine import Database
from groupchat.hashchain import message_hash
from groupchat.ids import format_ts, new_id, utc_now
from test_chain_v2 import run_verifier
from test_ledger_migration import PASSWORD, build_old_database

V1 = ("v", "id", "room_id", "author_type", "author_id", "content", "image_url", "created_at",
      "prev_hash")  # fmt: skip
V2 = ("v", "id", "room_id", "kind", "author_type", "author_id", "target_id", "reply_to",
      "image_url", "content_sha256", "created_at", "prev_hash")  # fmt: skip


def recompute(entry: dict[str, Any]) -> str | None:
    """The documented canonical form of either version; None for a deleted v1 message."""
    if entry["v"] == 1 and entry["content"] is None:
        return None
    fields = {key: entry[key] for key in (V1 if entry["v"] == 1 else V2)}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


async def add_v1_message(settings: Settings, room_id: str, prev_hash: str, content: str) -> str:
    """A second v1 message, linked and hashed as v1 did, written with plain SQL."""
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.write() as conn:
            author = (await conn.execute(sa.text("SELECT id FROM users"))).scalar_one()
            message_id, now = new_id(), format_ts(utc_now())
            digest = message_hash(
                message_id=message_id, room_id=room_id, author_type="user", author_id=author,
                content=content, image_url=None, created_at=now, prev_hash=prev_hash,
            )  # fmt: skip
            await conn.execute(
                sa.text(
                    "INSERT INTO messages (id, room_id, author_type, author_id, content,"
                    " content_html, hash, prev_hash, created_at)"
                    " VALUES (:id, :rid, 'user', :uid, :c, :c, :h, :p, :now)"
                ),
                {
                    "id": message_id,
                    "rid": room_id,
                    "uid": author,
                    "c": content,
                    "h": digest,
                    "p": prev_hash,
                    "now": now,
                },
            )
            await conn.execute(
                sa.text("UPDATE rooms SET head_hash = :h WHERE id = :rid"),
                {"h": digest, "rid": room_id},
            )
    finally:
        await db.dispose()
    return digest


async def test_v1_messages_keep_their_hashes_and_the_mixed_chain_verifies(
    settings: Settings,
) -> None:
    room_id, first_hash = await build_old_database(settings, "0004")
    second_hash = await add_v1_message(settings, room_id, first_hash, "second from v1")
    server = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            resp = await http.post(
                "/api/auth/login", json={"username": "alice", "password": PASSWORD}
            )
            token = resp.json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            old = (await http.get(f"/api/rooms/{room_id}/messages", headers=headers)).json()
            assert [(m["hash"], m["chain_v"], m["salt"]) for m in old["messages"]] == [
                (first_hash, 1, None),
                (second_hash, 1, None),
            ]
            first, second = old["messages"]
            assert first["reactions"] == [] and first["mentions"] == []

            resp = await http.post(
                f"/api/rooms/{room_id}/messages",
                json={"content": "hello from v2", "reply_to": first["id"]},
                headers=headers,
            )
            new = resp.json()
            assert (new["chain_v"], new["prev_hash"]) == (2, second_hash)
            resp = await http.patch(
                f"/api/messages/{first['id']}", json={"content": "v1, edited"}, headers=headers
            )
            assert resp.status_code == 200 and resp.json()["hash"] == first_hash
            resp = await http.delete(f"/api/messages/{second['id']}", headers=headers)
            assert resp.status_code == 204

            entries = (await http.get(f"/api/rooms/{room_id}/chain", headers=headers)).json()
            entries = entries["entries"]
            assert [(e["v"], e["kind"]) for e in entries] == [
                (1, "message"), (1, "message"), (2, "message"), (2, "edit"), (2, "delete"),
            ]  # fmt: skip
            assert entries[0]["content"] == "hello from v1"  # the original, as hashed
            assert entries[1]["content"] is None  # deleted: only its links can be checked
            prev = None
            for entry in entries:
                assert entry["prev_hash"] == prev
                assert recompute(entry) in (entry["hash"], None)
                prev = entry["hash"]
            history = await http.get(f"/api/messages/{first['id']}/history", headers=headers)
            assert [v["content"] for v in history.json()["versions"]] == [
                "hello from v1",
                "v1, edited",
            ]

            code, out = await run_verifier(server, token, room_id)
            assert code == 0, out
            assert "5 entries, the chain verifies (1 deleted v1 messages" in out
    finally:
        await server.stop()
