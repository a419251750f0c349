"""Migration 0003 on a database written by v1: its rooms, people and messages keep working,
rooms gain an unset AI budget, and the new ledger starts empty and fills."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from conftest import fresh_database, start_server
from groupchat.config import Settings
from groupchat.db.engine import Database
from groupchat.db.migrate import alembic_config
from groupchat.hashchain import message_hash
from groupchat.ids import format_ts, new_id, utc_now
from groupchat.security import Passwords

PASSWORD = "correct horse battery"


async def build_old_database(settings: Settings, revision: str) -> tuple[str, str]:
    """A database at `revision` holding alice, her room and one message (plain v1 SQL)."""
    await fresh_database(settings)
    db = Database(settings.sqlalchemy_url)
    user_id, room_id, message_id, now = new_id(), new_id(), new_id(), format_ts(utc_now())
    digest = message_hash(
        message_id=message_id,
        room_id=room_id,
        author_type="user",
        author_id=user_id,
        content="hello from v1",
        image_url=None,
        created_at=now,
        prev_hash=None,
    )
    password_hash = Passwords(time_cost=1, memory_kib=8192, parallelism=1).hash(PASSWORD)
    statements = [
        (
            "INSERT INTO users (id, username, username_key, password_hash, display_name,"
            " created_at) VALUES (:id, 'alice', 'alice', :pw, 'Alice', :now)",
            {"id": user_id, "pw": password_hash, "now": now},
        ),
        (
            "INSERT INTO rooms (id, name, description, is_public, ai_mode, created_by,"
            " created_at, head_hash)"
            " VALUES (:id, 'old room', '', false, 'mention', :uid, :now, :h)",
            {"id": room_id, "uid": user_id, "now": now, "h": digest},
        ),
        (
            "INSERT INTO room_members (room_id, user_id, role, joined_at)"
            " VALUES (:rid, :uid, 'owner', :now)",
            {"rid": room_id, "uid": user_id, "now": now},
        ),
        (
            "INSERT INTO messages (id, room_id, author_type, author_id, content, content_html,"
            " hash, created_at) VALUES (:id, :rid, 'user', :uid, 'hello from v1',"
            " '<p>hello from v1</p>', :h, :now)",
            {"id": message_id, "rid": room_id, "uid": user_id, "now": now, "h": digest},
        ),
    ]

    def to_v1(sync_conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)

    try:
        async with db.write() as conn:
            await conn.run_sync(to_v1)
        async with db.write() as conn:
            for sql, params in statements:
                await conn.execute(sa.text(sql), params)
    finally:
        await db.dispose()
    return room_id, digest


@pytest.mark.parametrize("revision", ["0001", "0002"])
async def test_an_older_database_migrates_and_keeps_working(
    settings: Settings, revision: str
) -> None:
    room_id, digest = await build_old_database(settings, revision)
    server = await start_server(settings)
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            resp = await http.post(
                "/api/auth/login", json={"username": "alice", "password": PASSWORD}
            )
            assert resp.status_code == 200, resp.text
            headers = {"Authorization": f"Bearer {resp.json()['token']}"}
            room = (await http.get(f"/api/rooms/{room_id}", headers=headers)).json()
            assert (room["name"], room["ai_budget_usd"]) == ("old room", None)
            page = (await http.get(f"/api/rooms/{room_id}/messages", headers=headers)).json()
            assert [(m["content"], m["hash"]) for m in page["messages"]] == [
                ("hello from v1", digest)
            ]
            resp = await http.patch(
                f"/api/rooms/{room_id}", json={"ai_budget_usd": 0.75}, headers=headers
            )
            assert resp.status_code == 200 and resp.json()["ai_budget_usd"] == 0.75
            resp = await http.post(
                f"/api/rooms/{room_id}/messages", json={"content": "after"}, headers=headers
            )
            assert resp.status_code == 201 and resp.json()["prev_hash"] == digest
            report = (await http.get(f"/api/rooms/{room_id}/usage", headers=headers)).json()
            assert (report["answers_period"], report["budget"], report["remaining"]) == (
                0,
                0.75,
                0.75,
            )
        async with server.services.db.read() as conn:
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
        assert [v[0] for v in version] >= ["0003"]
    finally:
        await server.stop()
