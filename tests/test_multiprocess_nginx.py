"""The deployment recipe: deploy/nginx.conf in front of two real processes, no sticky sessions."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conftest import Socket
from multiproc import (
    Proc,
    free_port,
    need_postgres_and_redis,
    reachable,
    server_env,
    sign_up,
    start_procs,
)

RECIPE = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"


@dataclass
class Front:
    """nginx's address, as an Actor's server."""

    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def nginx_binary() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed (apt-get install -y nginx)")
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    return found


def render(tmp: Path, ports: list[int], listen: int) -> Path:
    """The recipe with our ports, inside a minimal main configuration writing only under tmp."""
    site = RECIPE.read_text()
    site = site.replace("127.0.0.1:3001", f"127.0.0.1:{ports[0]}")
    site = site.replace("127.0.0.1:3002", f"127.0.0.1:{ports[1]}")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    (tmp / "groupchat.conf").write_text(site)
    temps = " ".join(
        f"{kind}_temp_path {tmp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""
    main = (
        f"{user} daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/error.log;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{ access_log off; {temps} include {tmp}/groupchat.conf; }}\n"
    )
    (tmp / "nginx.conf").write_text(main)
    return tmp / "nginx.conf"


@pytest.fixture
async def front(tmp_path: Path) -> AsyncIterator[tuple[Front, list[Proc]]]:
    binary = nginx_binary()
    url = await need_postgres_and_redis()
    procs = await start_procs(tmp_path, server_env(tmp_path, url), 2)
    port = free_port()
    conf = render(tmp_path, [p.port for p in procs], port)
    nginx = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(conf)])
    try:
        async with asyncio.timeout(10):
            while not reachable(port):
                assert nginx.poll() is None, (tmp_path / "error.log").read_text()
                await asyncio.sleep(0.02)
        yield Front(port), procs
    finally:
        nginx.terminate()
        await asyncio.to_thread(nginx.wait)
        for proc in procs:
            await proc.stop()


async def test_two_processes_behind_nginx_carry_the_conversation(
    front: tuple[Front, list[Proc]],
) -> None:
    proxy, (a, _b) = front
    alice, bob = await sign_up(proxy, "alice"), await sign_up(proxy, "bob")
    async with httpx.AsyncClient(base_url=proxy.base_url) as http:
        room = (await http.post("/api/rooms", json={"name": "x"}, headers=alice.headers)).json()
        invite = await http.post(
            "/api/invites", json={"room_id": room["id"]}, headers=alice.headers
        )
        resp = await http.post(f"/api/invites/{invite.json()['token']}/accept", headers=bob.headers)
        assert resp.status_code == 200
    room_id = room["id"]
    # four sockets through nginx: round robin puts them on both processes
    socks = [await who.socket(join=(room_id,)) for who in (alice, bob, alice, bob)]
    await socks[0].send({"type": "send_message", "room_id": room_id, "content": "hello"})
    for sock in socks:
        assert (await sock.expect("new_message"))["message"]["content"] == "hello"

    a.signal(signal.SIGTERM)  # a deploy: A's sockets close with 1012 and reconnect through nginx
    codes = await asyncio.gather(*(closed_code(s) for s in socks))
    assert 1012 in codes and set(codes) <= {1012, None}
    await a.wait()
    fresh = [await who.socket(join=(room_id,)) for who in (alice, bob)]
    await fresh[1].send({"type": "send_message", "room_id": room_id, "content": "still here"})
    for sock in fresh:
        assert (await sock.expect("new_message"))["message"]["content"] == "still here"
    async with httpx.AsyncClient(base_url=proxy.base_url) as http:
        for _ in range(4):  # every request lands on B now
            assert (await http.get("/readyz")).status_code == 200


async def closed_code(sock: Socket) -> int | None:
    """1012 when the socket's process stopped; None when it stayed open (the other process)."""
    try:
        await asyncio.wait_for(sock.ws.wait_closed(), 2)
    except TimeoutError:
        return None
    return sock.ws.close_code
