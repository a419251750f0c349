"""kill -9 of a process mid-traffic: every acknowledged post is stored and the chain verifies."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from conftest import Actor
from multiproc import Proc, need_postgres_and_redis, server_env, start_procs
from test_multiprocess_order import shared_room

ROOT = Path(__file__).resolve().parents[1]


async def keep_posting(proc: Proc, who: Actor, room_id: str, acked: list[str]) -> None:
    """Post until the process is gone; remember every post it acknowledged."""
    async with httpx.AsyncClient(base_url=proc.base_url, timeout=5) as http:
        for i in range(10_000):
            try:
                resp = await http.post(
                    f"/api/rooms/{room_id}/messages",
                    json={"content": f"{who.name} {i}"},
                    headers=who.headers,
                )
            except httpx.TransportError:
                return
            if resp.status_code == 201:
                acked.append(resp.json()["id"])


async def test_kill_9_mid_traffic_loses_no_acknowledged_post(tmp_path: Path) -> None:
    url = await need_postgres_and_redis()
    env = server_env(tmp_path, url)
    procs = await start_procs(tmp_path, env, 2)
    a, b = procs
    try:
        alice, bob, room_id = await shared_room(a, b)
        acked_a: list[str] = []
        acked_b: list[str] = []
        writers = [
            asyncio.create_task(keep_posting(p, who, room_id, acked))
            for p, who, acked in ((a, alice, acked_a), (a, alice, acked_a), (b, bob, acked_b))
        ]
        async with asyncio.timeout(10):
            while len(acked_a) < 30:
                await asyncio.sleep(0.01)
        a.signal(signal.SIGKILL)
        await a.wait()
        await asyncio.wait(writers[:2])
        writers[2].cancel()
        await asyncio.gather(writers[2], return_exceptions=True)
        restarted = Proc("p0-again", env, tmp_path / "p0-again.log", port=a.port)
        restarted.spawn()
        procs.append(restarted)
        await restarted.ready()

        stored: list[str] = []
        async with httpx.AsyncClient(base_url=restarted.base_url, timeout=10) as http:
            after = None
            while True:
                params = {"limit": 100, **({"after": after} if after else {})}
                page = (
                    await http.get(
                        f"/api/rooms/{room_id}/messages", params=params, headers=alice.headers
                    )
                ).json()
                stored += [m["id"] for m in page["messages"]]
                if not page["has_more"]:
                    break
                after = stored[-1]
        assert set(acked_a + acked_b) <= set(stored)
        assert len(stored) == len(set(stored))
        verify = [sys.executable, str(ROOT / "scripts" / "verify_chain.py")]
        args = ["--url", restarted.base_url, "--token", alice.token, "--room", room_id]
        result = await asyncio.to_thread(
            subprocess.run, [*verify, *args], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        for proc in procs:
            await proc.stop()
