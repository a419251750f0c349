"""Real `groupchat serve` processes for the multi-process tests (PostgreSQL + Redis)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import conftest
from conftest import TEST_DATABASE_URL, Actor, reset_postgres

REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/10"


def reachable(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def need_postgres_and_redis(*, fresh: bool = False) -> str:
    """The PostgreSQL URL, emptied (`fresh`: dropped, no tables at all); these tests run in
    the PostgreSQL pass (make test-pg)."""
    if not TEST_DATABASE_URL or not TEST_DATABASE_URL.startswith("postgresql"):
        pytest.skip("multi-process tests run with TEST_DATABASE_URL=postgresql… (make test-pg)")
    missing = [name for name, port in (("Redis", 6379),) if not reachable(port)]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{missing[0]} not reachable on 127.0.0.1")
        pytest.skip(f"{missing[0]} not reachable on 127.0.0.1")
    await reset_postgres(TEST_DATABASE_URL, fresh=fresh)
    return TEST_DATABASE_URL


@dataclass
class Proc:
    """One `python -m groupchat serve` child on a free loopback port."""

    name: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def spawn(self) -> None:
        env = {**os.environ, **self.env, "BIND_ADDR": f"127.0.0.1:{self.port}"}
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "groupchat", "serve", "--env-file", "/nonexistent"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, timeout: float = 20) -> None:
        """Wait until /healthz answers; fail with the process's log if it exits first."""
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=1) as http:
            while asyncio.get_running_loop().time() < deadline:
                assert self.popen is not None
                if self.popen.poll() is not None:
                    raise AssertionError(f"{self.name} exited {self.popen.returncode}:\n{self.log}")
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} did not start:\n{self.log}")

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def signal(self, sig: int) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    async def wait(self, timeout: float = 20) -> int:
        assert self.popen is not None
        popen = self.popen
        return await asyncio.wait_for(asyncio.to_thread(popen.wait), timeout)

    async def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                await self.wait(15)
            except TimeoutError:
                self.popen.kill()
                await self.wait()


def server_env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a test process: shared database and bus, cheap hashing, open sign-up."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "BACKUP_DIR": str(tmp_path / "backups"),
        "JWT_SECRET": "test-secret-" + "x" * 40,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "AUTH_RATE_PER_MINUTE": "0",
        "WS_MESSAGES_PER_SECOND": "0",
        "REGISTRATION_MODE": "open",
        "LOG_LEVEL": "warning",
        **extra,
    }


async def start_procs(tmp_path: Path, env: dict[str, str], count: int) -> list[Proc]:
    """Start `count` processes at once and wait until every one serves."""
    procs = [Proc(f"p{i}", env, tmp_path / f"p{i}.log") for i in range(count)]
    for proc in procs:
        proc.spawn()
    try:
        await asyncio.gather(*(proc.ready() for proc in procs))
    except BaseException:  # never leave a process behind
        for proc in procs:
            await proc.stop()
        raise
    return procs


async def sign_up(proc: Any, name: str) -> Actor:
    """A new account, signed in through `proc` (an Actor whose sockets go to `proc`)."""
    async with httpx.AsyncClient(base_url=proc.base_url, timeout=10) as http:
        return await conftest.sign_up(http, proc, name)


@dataclass
class PrivateRedis:
    """A redis-server of our own on a free port, to stop and start (never the shared one)."""

    port: int = field(default_factory=free_port)
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        if shutil.which("redis-server") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed")
            pytest.skip("redis-server is not installed")
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.popen = subprocess.Popen(
            ["redis-server", *args, "--appendonly", "no"], stdout=subprocess.DEVNULL
        )
        async with asyncio.timeout(10):
            while not reachable(self.port):
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            await asyncio.to_thread(self.popen.wait)
        self.popen = None
