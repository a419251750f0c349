"""Connections that never finish their request head are closed, and one address cannot hold
more than MAX_CONNECTIONS_PER_IP connections: raw sockets against the real server."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from conftest import Server, make_settings, start_server

HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
FULL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def guarded(tmp_path: Path, settings: Any) -> AsyncIterator[Server]:
    """Heads must arrive within 1 s (the default limit of 500 connections per address)."""
    srv = await start_server(make_settings(tmp_path, http_header_timeout=1))
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def capped(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    """At most 3 connections per address; 127.0.0.1 is not a trusted proxy here."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")  # read by uvicorn's Config
    srv = await start_server(make_settings(tmp_path, max_connections_per_ip=3))
    try:
        yield srv
    finally:
        await srv.stop()


async def connect(server: Server) -> Conn:
    host, port = server.base_url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def read_until_closed(conn: Conn, limit: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (fails after `limit` s)."""
    return await asyncio.wait_for(conn[0].read(), limit)


async def close(conn: Conn) -> None:
    conn[1].close()
    with contextlib.suppress(OSError):
        await conn[1].wait_closed()


async def test_a_half_sent_request_head_gets_408_and_is_closed(guarded: Server) -> None:
    slow = await connect(guarded)
    slow[1].write(HALF_HEAD)

    answer = await read_until_closed(slow)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b'{"detail":"request head not received in time"}')
    await close(slow)


async def test_a_connection_that_sends_nothing_is_closed(guarded: Server) -> None:
    idle = await connect(guarded)
    assert await read_until_closed(idle) == b""
    await close(idle)


async def test_a_slow_second_request_on_a_kept_alive_connection_is_cut(guarded: Server) -> None:
    conn = await connect(guarded)
    conn[1].write(FULL)
    first = await asyncio.wait_for(conn[0].readuntil(b'{"status":"ok"}'), 5)
    conn[1].write(HALF_HEAD)

    rest = await read_until_closed(conn)

    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest.startswith(b"HTTP/1.1 408 ")
    await close(conn)


async def test_200_half_open_connections_all_close_and_the_server_still_answers(
    guarded: Server,
) -> None:
    slow = []
    for _ in range(200):
        slow.append(conn := await connect(guarded))
        conn[1].write(HALF_HEAD)

    async with httpx.AsyncClient(base_url=guarded.base_url) as http:
        assert (await http.get("/healthz")).status_code == 200
    answers = await asyncio.gather(*(read_until_closed(conn) for conn in slow))

    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers)
    for conn in slow:
        await close(conn)
    await no_connections(guarded)


async def test_one_address_may_hold_only_so_many_connections(capped: Server) -> None:
    token = await sign_up(capped, "alice")
    await no_connections(capped)
    ws_url = f"{capped.ws_url}?token={token}"
    async with websockets.connect(ws_url, open_timeout=5) as sock:  # a WebSocket counts too
        await sock.send('{"type":"ping"}')
        assert await asyncio.wait_for(sock.recv(), 5) == '{"type":"pong"}'
        held = [await connect(capped) for _ in range(2)]
        for conn in held:
            conn[1].write(FULL)  # finished requests keep their connections open (keep-alive)
            await asyncio.wait_for(conn[0].readuntil(b'{"status":"ok"}'), 5)

        extra = await connect(capped)
        refused = await read_until_closed(extra)

        assert refused.startswith(b"HTTP/1.1 429 ")
        assert refused.endswith(b'{"detail":"too many connections from your address"}')
        await close(extra)
        for conn in held:
            await close(conn)
    await no_connections(capped)

    again = await connect(capped)
    again[1].write(FULL)
    assert (await asyncio.wait_for(again[0].read(15), 5)).startswith(b"HTTP/1.1 200 ")
    await close(again)


async def test_a_trusted_proxys_connections_are_not_capped(tmp_path: Path, settings: Any) -> None:
    """Behind a reverse proxy every client shares its address (127.0.0.1 is trusted by
    default): the proxy limits its clients, the server does not limit the proxy."""
    srv = await start_server(make_settings(tmp_path, max_connections_per_ip=3))
    try:
        held = [await connect(srv) for _ in range(5)]
        for conn in held:
            conn[1].write(FULL)
        answers = [await asyncio.wait_for(c[0].readuntil(b'{"status":"ok"}'), 5) for c in held]
        assert all(a.startswith(b"HTTP/1.1 200 ") for a in answers)
        for conn in held:
            await close(conn)
    finally:
        await srv.stop()


async def sign_up(server: Server, name: str) -> str:
    """Register over a connection the server closes after answering; the token."""
    body = json.dumps({"username": name, "password": "correct horse 1"}).encode()
    conn = await connect(server)
    conn[1].write(
        b"POST /api/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    answer = await read_until_closed(conn)
    await close(conn)
    assert answer.startswith(b"HTTP/1.1 201 "), answer
    token: str = json.loads(answer.split(b"\r\n\r\n", 1)[1])["token"]
    return token


async def no_connections(server: Server) -> None:
    """Wait (bounded) until the server has let go of every connection it had."""
    for _ in range(500):
        if not server._uvicorn.server_state.connections:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server kept connections open")
