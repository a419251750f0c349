"""The /ws protocol's edges: handshake refusals, origins, per-user socket limits, close codes."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from conftest import Actor, Register, Server, make_settings, start_server
from groupchat.config import Settings


async def handshake(server: Server, path: str, headers: dict[str, str]) -> bytes:
    """Send an upgrade request with exactly these headers; the status line of the answer."""
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    fields = {
        "Host": f"{host}:{port}",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        **headers,
    }
    request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    try:
        writer.write(request.encode() + b"\r\n")
        return await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()


async def signed_up(server: Server, name: str) -> str:
    """Register `name` on `server`; the token."""
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        resp = await client.post(
            "/api/auth/register", json={"username": name, "password": "correct horse 1"}
        )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


@pytest.fixture
async def public_server(settings: Settings, tmp_path: Path) -> AsyncIterator[Server]:
    """A server that knows its public URL and one more allowed origin."""
    srv = await start_server(
        make_settings(
            tmp_path,
            public_url="https://chat.example.com/app",
            cors_origins="https://other.example.org",
        )
    )
    try:
        yield srv
    finally:
        await srv.stop()


async def test_with_public_url_only_its_origin_and_cors_origins_may_connect(
    public_server: Server,
) -> None:
    token = await signed_up(public_server, "alice")
    path = f"/ws?token={token}"
    for origin in ("https://chat.example.com", "https://other.example.org", None):
        headers = {"Origin": origin} if origin else {}
        assert (await handshake(public_server, path, headers)).startswith(b"HTTP/1.1 101"), origin
    # A DNS-rebinding page: its Origin and the Host header its browser sends agree.
    rebound = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}
    assert (await handshake(public_server, path, rebound)).startswith(b"HTTP/1.1 403")
    own_host = {"Origin": public_server.base_url}
    assert (await handshake(public_server, path, own_host)).startswith(b"HTTP/1.1 403")
    other_scheme = {"Origin": "http://chat.example.com"}
    assert (await handshake(public_server, path, other_scheme)).startswith(b"HTTP/1.1 403")


async def test_without_public_url_the_host_header_names_our_origin(
    server: Server, alice: Actor
) -> None:
    path = f"/ws?token={alice.token}"
    same = {"Host": "chat.internal:8080", "Origin": "http://chat.internal:8080"}
    assert (await handshake(server, path, same)).startswith(b"HTTP/1.1 101")
    other = {"Host": "chat.internal:8080", "Origin": "http://chat.internal:9090"}
    assert (await handshake(server, path, other)).startswith(b"HTTP/1.1 403")


@pytest.fixture
async def settings(tmp_path: Path) -> Settings:
    """This module's server lets each user hold 3 sockets."""
    from conftest import TEST_DATABASE_URL, reset_postgres

    if TEST_DATABASE_URL:
        await reset_postgres(TEST_DATABASE_URL)
    return make_settings(tmp_path, ws_connections_per_user=3)


async def closed_with(ws: websockets.ClientConnection) -> tuple[int, str]:
    """The close code and reason the server ended this socket with."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_a_user_over_the_socket_limit_is_refused_with_4429(
    server: Server, alice: Actor, bob: Actor
) -> None:
    tabs = [await alice.socket() for _ in range(3)]
    fourth = await websockets.connect(f"{server.ws_url}?token={alice.token}", open_timeout=5)
    assert await closed_with(fourth) == (4429, "too many connections")

    bobs = await bob.socket()  # the limit is per user
    await bobs.send({"type": "ping"})
    assert await bobs.recv() == {"type": "pong"}
    for tab in tabs:  # alice's first three are untouched
        await tab.send({"type": "ping"})
        assert await tab.recv() == {"type": "pong"}

    await tabs[0].close()
    await until_user_holds(server, alice, 2)
    again = await alice.socket()
    await again.send({"type": "ping"})
    assert await again.recv() == {"type": "pong"}


async def until_user_holds(server: Server, actor: Actor, count: int) -> None:
    """Wait until the server has noticed closed sockets (it unregisters them on disconnect)."""
    async with asyncio.timeout(5):
        while server.services.hub.user_connection_count(actor.id) != count:
            await asyncio.sleep(0.01)


async def test_many_simultaneous_handshakes_of_one_user_stay_within_the_limit(
    server: Server, alice: Actor, register: Register
) -> None:
    url = f"{server.ws_url}?token={alice.token}"
    opened = await asyncio.gather(*(websockets.connect(url, open_timeout=5) for _ in range(12)))
    try:
        answers = await asyncio.gather(*(first_answer(ws) for ws in opened))
    finally:
        await asyncio.gather(*(ws.close() for ws in opened))
    assert answers.count("pong") == 3
    assert answers.count("4429") == 9


async def first_answer(ws: websockets.ClientConnection) -> str:
    """ "pong" when the socket answers a ping, else the close code it got."""
    try:
        await ws.send('{"type": "ping"}')
        return "pong" if "pong" in str(await asyncio.wait_for(ws.recv(), 5)) else "?"
    except websockets.ConnectionClosed as closed:
        return str(closed.rcvd.code if closed.rcvd else None)
