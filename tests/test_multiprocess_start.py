"""Several processes started at once on a fresh database: one migrates, the others wait."""

from __future__ import annotations

from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from multiproc import need_postgres_and_redis, server_env, sign_up, start_procs


async def test_three_processes_start_together_on_a_fresh_database(tmp_path: Path) -> None:
    url = await need_postgres_and_redis(fresh=True)
    procs = await start_procs(tmp_path, server_env(tmp_path, url), 3)
    try:
        alice = await sign_up(procs[0], "alice")
        for proc in procs:  # every process serves the same, fully migrated database
            async with httpx.AsyncClient(base_url=proc.base_url) as http:
                assert (await http.get("/readyz")).json() == {"status": "ok"}
                me = await http.get("/api/auth/me", headers=alice.headers)
                assert me.status_code == 200 and me.json()["username"] == "alice"
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            versions = (
                await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            ).all()
        await engine.dispose()
        assert len(versions) == 1
    finally:
        for proc in procs:
            await proc.stop()
    for proc in procs:
        assert "UniqueViolation" not in proc.log and "Traceback" not in proc.log
