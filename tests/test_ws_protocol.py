"""The /ws protocol's edges: handshake refusals, origins, per-user socket limits, close codes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from conftest import Actor, Register, Server, create_room, make_settings, start_server
from groupchat.app import create_app
from groupchat.config import Settings
from groupchat.realtime.protocol import READ_PAUSE_AT, ChatProtocol
from groupchat.serving import uvicorn_config


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
        with contextlib.suppress(OSError):
            await writer.wait_closed()


PUBLIC_HOST = {"Host": "chat.example.com"}


async def signed_up(server: Server, name: str) -> str:
    """Register `name` on `server` (which answers for chat.example.com); the token."""
    async with httpx.AsyncClient(base_url=server.base_url, headers=PUBLIC_HOST) as client:
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
        headers = {**PUBLIC_HOST, "Origin": origin} if origin else PUBLIC_HOST
        assert (await handshake(public_server, path, headers)).startswith(b"HTTP/1.1 101"), origin
    # A DNS-rebinding page: its Origin and the Host header its browser sends agree.
    rebound = {"Host": "evil.example:8080", "Origin": "http://evil.example:8080"}
    assert (await handshake(public_server, path, rebound)).startswith(b"HTTP/1.1 403")
    for origin in (public_server.base_url, "http://chat.example.com", "https://evil.example"):
        headers = {**PUBLIC_HOST, "Origin": origin}
        assert (await handshake(public_server, path, headers)).startswith(b"HTTP/1.1 403"), origin
    # As for HTTP, a Host that names neither PUBLIC_URL nor CORS_ORIGINS is refused.
    no_origin = {"Host": "127.0.0.1"}
    assert (await handshake(public_server, path, no_origin)).startswith(b"HTTP/1.1 403")


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


async def test_broken_upgrade_requests_are_refused_before_any_socket_exists(
    server: Server, alice: Actor
) -> None:
    path = f"/ws?token={alice.token}"
    old_version = await handshake(server, path, {"Sec-WebSocket-Version": "8"})
    assert old_version.startswith(b"HTTP/1.1 400")
    no_key = await handshake(server, path, {"Sec-WebSocket-Key": "not base64 of 16 bytes"})
    assert no_key.startswith(b"HTTP/1.1 400")
    # Other paths still reach the ASGI app, which has no WebSocket route.
    assert (await handshake(server, "/nope", {})).startswith(b"HTTP/1.1 403")
    assert server.services.hub.connection_count() == 0


async def test_a_signed_out_token_is_refused_and_its_open_socket_closed_with_4401(
    http: httpx.AsyncClient, server: Server, alice: Actor
) -> None:
    open_tab = await alice.socket()
    resp = await http.post("/api/auth/logout", headers=alice.headers)
    assert resp.status_code == 204
    assert await closed_with(open_tab.ws) == (4401, "signed out")
    again = await websockets.connect(f"{server.ws_url}?token={alice.token}", open_timeout=5)
    assert await closed_with(again) == (4401, "invalid or missing token")


async def test_invalid_utf8_and_fragmented_oversize_frames_close_the_socket(
    alice: Actor,
) -> None:
    sock = await alice.socket()
    sock.ws.protocol.send_frame(Frame(Opcode.TEXT, b'{"type": "ping", "x": "\xff"}'))
    await sock.ws.send(b"")  # flush: any write sends what the protocol queued
    assert (await closed_with(sock.ws))[0] == 1007

    sock = await alice.socket()
    half = "p" * (40 * 1024)
    await sock.ws.send([half, half])  # two fragments of one 80 KiB message
    assert (await closed_with(sock.ws))[0] == 1009


async def test_stopping_the_server_closes_sockets(settings: Settings, tmp_path: Path) -> None:
    srv = await start_server(settings)
    token = await signed_up_plain(srv, "alice")
    ws = await websockets.connect(f"{srv.ws_url}?token={token}", open_timeout=5)
    await srv.stop()
    assert (await closed_with(ws))[0] in (1001, 1012)  # going away / service restart


async def signed_up_plain(server: Server, name: str) -> str:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        resp = await client.post(
            "/api/auth/register", json={"username": name, "password": "correct horse 1"}
        )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


async def test_with_permessage_deflate_each_socket_gets_its_own_frames(
    settings: Settings,
) -> None:
    """Compressed frames differ per socket, so the hub's shared bytes are not used for them."""
    app = create_app(settings)
    config = uvicorn_config(
        app, settings, "127.0.0.1", 0, log_level="warning", ws_per_message_deflate=True
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        srv = Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", settings, app,
                     server, task)  # fmt: skip
        token = await signed_up_plain(srv, "alice")
        url = f"{srv.ws_url}?token={token}"
        squeezed = await websockets.connect(url, compression="deflate", open_timeout=5)
        plain = await websockets.connect(url, compression=None, open_timeout=5)
        assert squeezed.protocol.extensions and not plain.protocol.extensions
        async with httpx.AsyncClient(base_url=srv.base_url) as client:
            headers = {"Authorization": f"Bearer {token}"}
            room = (await client.post("/api/rooms", json={"name": "r"}, headers=headers)).json()
            for ws in (squeezed, plain):
                await ws.send(json.dumps({"type": "join_room", "room_id": room["id"]}))
                assert json.loads(await ws.recv())["type"] == "joined"
            wire = {id(ws): count_bytes_received(ws) for ws in (squeezed, plain)}
            resp = await client.post(
                f"/api/rooms/{room['id']}/messages", json={"content": "zip " * 300}, headers=headers
            )
        for ws in (squeezed, plain):
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame == {"type": "new_message", "message": resp.json()}
            await ws.close()
        text_bytes = len(json.dumps(frame, separators=(",", ":")))
        assert sum(wire[id(squeezed)]) < text_bytes / 4 < text_bytes <= sum(wire[id(plain)])
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def count_bytes_received(ws: websockets.ClientConnection) -> list[int]:
    """Record the size of every TCP read this client's protocol is fed from now on."""
    sizes: list[int] = []
    feed = ws.protocol.receive_data

    def counting(data: bytes | bytearray) -> None:
        sizes.append(len(data))
        feed(data)

    ws.protocol.receive_data = counting  # type: ignore[method-assign]
    return sizes


def test_the_uvicorn_hooks_the_protocol_overrides_still_exist() -> None:
    """realtime/protocol.py relies on these private parts of uvicorn (pinned in pyproject)."""
    for name in (
        "handle_connect",
        "send_receive_event_to_app",
        "pause_writing",
        "resume_writing",
        "connection_lost",
        "start_keepalive",
        "send_500_response",
        "handle_close",
    ):
        assert callable(getattr(WebSocketsSansIOProtocol, name)), name
    for name, overridden in vars(ChatProtocol).items():
        if (
            callable(overridden)
            and not name.startswith("_")
            and name in dir(WebSocketsSansIOProtocol)
        ):
            assert getattr(WebSocketsSansIOProtocol, name) is not overridden, name


async def test_frames_that_wait_for_the_database_are_answered_in_order(
    http: httpx.AsyncClient, alice: Actor
) -> None:
    """More frames than the server queues before it stops reading the socket (READ_PAUSE_AT):
    reading resumes as they are handled, and the answers keep the frames' order."""
    rooms = [(await create_room(http, alice, name=f"room {i}"))["id"] for i in range(3)]
    sock = await alice.socket()
    frames = [{"type": "join_room", "room_id": rooms[i % 3]} for i in range(READ_PAUSE_AT * 2)]
    for frame in frames:
        await sock.send(frame)
    await sock.send({"type": "ping"})
    answers = [await sock.recv() for _ in frames]
    assert answers == [{"type": "joined", "room_id": f["room_id"]} for f in frames]
    assert await sock.recv() == {"type": "pong"}
