"""PostgreSQL drops every connection (a restart, a failover): the next requests are served.

pg_terminate_backend ends every connection of the server under test, as a restart of
PostgreSQL would: SQLAlchemy's pool, the post writer's own connection and the point reader's
pool (db/point_reads.py) each have to notice and reconnect."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from conftest import TEST_DATABASE_URL, Actor, create_room

pytestmark = pytest.mark.skipif(not TEST_DATABASE_URL, reason="PostgreSQL")


async def drop_every_other_connection() -> int:
    assert TEST_DATABASE_URL is not None
    dsn = make_url(TEST_DATABASE_URL).set(drivername="postgresql").render_as_string(False)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return len(rows)
    finally:
        await conn.close()


async def test_posts_and_reads_go_on_after_postgresql_dropped_every_connection(
    http, server, alice: Actor
) -> None:
    room = await create_room(http, alice, name="restart")
    url = f"/api/rooms/{room['id']}/messages"
    assert (
        await http.post(url, json={"content": "before"}, headers=alice.headers)
    ).status_code == 201
    assert await drop_every_other_connection() >= 2  # at least the writer's and the reader's
    statuses = []
    for i in range(3):
        resp = await http.post(url, json={"content": f"after {i}"}, headers=alice.headers)
        statuses.append(resp.status_code)
    assert statuses[-1] == 201, statuses
    assert set(statuses) <= {201, 503}, statuses
    page = (await http.get(url, headers=alice.headers)).json()["messages"]
    stored = [m["content"] for m in page]
    assert stored[0] == "before" and stored[-1] == "after 2"
