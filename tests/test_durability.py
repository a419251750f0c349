"""An acknowledged post is durable: kill -9 a real `groupchat serve` while it is busy posting,
start it again, and every post it had acknowledged (a 201, or the sender's `new_message`) is
stored, unchanged, on a chain that verifies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from conftest import TEST_DATABASE_URL, reset_postgres
from test_hashchain import assert_linear, verify

ACKNOWLEDGED = 300  # kill once this many posts were acknowledged (more are in flight)
REST_POSTERS, WS_POSTERS, ROOMS = 6, 3, 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    """What `groupchat serve` reads, and nothing from this environment but PATH."""
    database = TEST_DATABASE_URL or f"sqlite:///{tmp_path}/chat.db"
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database,
        "JWT_SECRET": "durability-" + "x" * 40,
        "BIND_ADDR": f"127.0.0.1:{free_port()}",
        "REGISTRATION_MODE": "open",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "AUTH_RATE_PER_MINUTE": "0",
        "WS_MESSAGES_PER_SECOND": "0",
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "LOG_LEVEL": "warning",
    }


@contextlib.contextmanager
def serving(env: dict[str, str], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m groupchat serve` in its own session; SIGKILLed at the end if still running."""
    with (workdir / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "groupchat", "serve"],
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        for _ in range(300):
            assert proc.poll() is None, "the server exited during start-up"
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not start")


class Acks:
    """Every acknowledged message by id; `enough` is set at ACKNOWLEDGED."""

    def __init__(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.enough = asyncio.Event()

    def add(self, message: dict[str, Any]) -> None:
        self.messages[message["id"]] = message
        if len(self.messages) >= ACKNOWLEDGED:
            self.enough.set()


async def rest_poster(base: str, token: str, room_ids: list[str], n: int, acks: Acks) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as http:
        for i in range(10_000):
            room_id = room_ids[(n + i) % len(room_ids)]
            resp = await http.post(
                f"/api/rooms/{room_id}/messages", json={"content": f"rest {n}.{i}"}
            )
            assert resp.status_code == 201, resp.text
            acks.add(resp.json())


async def ws_poster(ws_url: str, room_ids: list[str], n: int, acks: Acks) -> None:
    async with websockets.connect(ws_url, open_timeout=30) as ws:
        for room_id in room_ids:
            await ws.send(json.dumps({"type": "join_room", "room_id": room_id}))
        for i in range(10_000):
            client_id = str(uuid.uuid4())
            frame = {"type": "send_message", "room_id": room_ids[(n + i) % len(room_ids)]}
            await ws.send(json.dumps({**frame, "content": f"ws {n}.{i}", "client_id": client_id}))
            while True:  # until this post's acknowledgement; others' messages pass by
                got = json.loads(await ws.recv())
                assert got["type"] in {"joined", "new_message"}, got
                if got.get("client_id") == client_id:
                    acks.add(got["message"])
                    break


async def set_up(base: str) -> tuple[str, list[str]]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        resp = await http.post(
            "/api/auth/register", json={"username": "alice", "password": "password1"}
        )
        assert resp.status_code == 201, resp.text
        token = resp.json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        room_ids = []
        for i in range(ROOMS):
            room = await http.post("/api/rooms", json={"name": f"room {i}"}, headers=headers)
            room_ids.append(room.json()["id"])
    return token, room_ids


async def post_until_killed(
    base: str, token: str, room_ids: list[str], proc: subprocess.Popen[bytes]
) -> Acks:
    """Post from many clients; SIGKILL the server once ACKNOWLEDGED posts were acknowledged."""
    acks = Acks()
    ws_url = base.replace("http://", "ws://") + f"/ws?token={token}"
    posters = [
        asyncio.create_task(rest_poster(base, token, room_ids, n, acks))
        for n in range(REST_POSTERS)
    ]
    posters += [
        asyncio.create_task(ws_poster(ws_url, room_ids, n, acks)) for n in range(WS_POSTERS)
    ]
    waiting = asyncio.create_task(acks.enough.wait())
    pending, deadline = {waiting, *posters}, asyncio.get_running_loop().time() + 120
    while not acks.enough.is_set() and len(pending) > 1:  # a poster may fail on a loaded machine
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=left, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    assert acks.enough.is_set(), [repr(p.exception()) for p in posters if p.done()]
    os.kill(proc.pid, signal.SIGKILL)
    await asyncio.gather(*posters, return_exceptions=True)  # they fail as the server dies
    return acks


async def stored_history(base: str, token: str, room_id: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    messages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    async with httpx.AsyncClient(base_url=base, timeout=10, headers=headers) as http:
        while True:
            resp = await http.get(f"/api/rooms/{room_id}/messages", params=params)
            assert resp.status_code == 200, resp.text
            messages = resp.json()["messages"] + messages
            if not resp.json()["has_more"]:
                return messages
            params["before"] = messages[0]["id"]


async def test_acknowledged_posts_survive_kill_9(
    tmp_path: Path, server_env: dict[str, str]
) -> None:
    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    base = "http://" + server_env["BIND_ADDR"]
    with serving(server_env, tmp_path) as proc:
        await wait_ready(base, proc)
        token, room_ids = await set_up(base)
        acks = await post_until_killed(base, token, room_ids, proc)
        assert proc.wait(10) == -signal.SIGKILL

    with serving(server_env, tmp_path) as proc:
        await wait_ready(base, proc)
        stored: dict[str, dict[str, Any]] = {}
        for room_id in room_ids:
            messages = await stored_history(base, token, room_id)
            verify(messages)
            assert_linear(messages)
            stored.update((m["id"], m) for m in messages)
    lost = [m for message_id, m in acks.messages.items() if stored.get(message_id) != m]
    assert not lost, f"{len(lost)} of {len(acks.messages)} acknowledged posts were lost"
    assert len(acks.messages) >= ACKNOWLEDGED
