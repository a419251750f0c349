"""Sign-in endpoints are rate limited per client address; everything else is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from conftest import TEST_DATABASE_URL, Server, make_settings, reset_postgres, start_server


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Server]:
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    server = await start_server(make_settings(tmp_path, auth_rate_per_minute=3))
    try:
        yield server
    finally:
        await server.stop()


async def test_the_fourth_sign_in_attempt_in_a_minute_is_429(limited: Server) -> None:
    async with httpx.AsyncClient(base_url=limited.base_url) as http:
        resp = await http.post(
            "/api/auth/register", json={"username": "alice", "password": "password1"}
        )
        assert resp.status_code == 201
        token = resp.json()["token"]
        wrong = {"username": "alice", "password": "wrong-password"}
        assert (await http.post("/api/auth/login", json=wrong)).status_code == 401
        assert (await http.post("/api/auth/nostr/challenge")).status_code == 200
        refused = await http.post("/api/auth/login", json=wrong)
        assert refused.status_code == 429
        assert refused.json() == {"detail": "too many sign-in attempts; try again later"}
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-content-type-options"] == "nosniff"
        again = await http.post("/api/auth/register", json={"username": "bob", "password": "x" * 9})
        assert again.status_code == 429
        # signed-in calls are not sign-in attempts
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert (await http.get("/healthz")).status_code == 200
    async with limited.services.db.read() as conn:
        count = await conn.exec_driver_sql("SELECT count(*) FROM users")
        assert count.scalar_one() == 1  # bob was refused before anything was stored
