"""Security baseline: headers on every answer, body caps, WebSocket origins and tokens, JSON
errors without internals, and the line between the API and the web client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from websockets.exceptions import ConnectionClosed, InvalidStatus

import conftest
from conftest import Actor, Server, make_settings, start_server
from groupchat.cli import RedactTokens
from groupchat.config import Settings
from groupchat.db.tables import users
from groupchat.static import BUNDLED

MiB = 1024 * 1024
API_PATHS = {
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/me",
    "/api/auth/profile",
    "/api/auth/avatar",
    "/api/auth/logout",
    "/api/auth/nostr/challenge",
    "/api/auth/nostr/verify",
    "/api/auth/nostr/link",
    "/api/rooms",
    "/api/rooms/{room_id}",
    "/api/rooms/{room_id}/join",
    "/api/rooms/{room_id}/clear",
    "/api/rooms/{room_id}/members/{user_id}",
    "/api/rooms/{room_id}/messages",
    "/api/invites",
    "/api/invites/{token}",
    "/api/invites/{token}/accept",
    "/api/invites/nostr",
    "/api/upload",
    "/api/models",
    "/healthz",
    "/readyz",
}


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a raw connection and wait for it (the server may have closed it first)."""
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def assert_security_headers(resp: httpx.Response) -> None:
    h = resp.headers
    assert h["x-content-type-options"] == "nosniff", resp.url
    assert h["referrer-policy"] in {"no-referrer", "same-origin", "strict-origin-when-cross-origin"}
    assert h["x-frame-options"] == "DENY"
    csp = h["content-security-policy"]
    for directive in ("default-src 'self'", "frame-ancestors 'none'", "object-src 'none'"):
        assert directive in csp, csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]


def assert_json_error(resp: httpx.Response, status: int) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert isinstance(resp.json()["detail"], str)
    assert "Traceback" not in resp.text and 'File "' not in resp.text


async def user_count(server: Server) -> int:
    async with server.services.db.read() as conn:
        return len((await conn.execute(users.select())).all())


# ---------------------------------------------------------------- headers
async def test_api_answers_carry_security_headers(http, server: Server, alice: Actor) -> None:
    for resp in [
        await http.get("/healthz"),
        await http.get("/api/auth/me", headers=alice.headers),
        await http.post("/api/rooms", json={"name": "x"}, headers=alice.headers),
        await http.get("/openapi.json"),
    ]:
        assert resp.status_code in (200, 201), resp.text
        assert_security_headers(resp)


async def test_web_client_files_carry_security_headers(http, server: Server) -> None:
    assets = [  # whatever the bundled client is made of today
        (f"/{next(BUNDLED.glob(pattern)).name}", ctype)
        for pattern, ctype in [("*.js", "text/javascript"), ("*.css", "text/css")]
    ]
    for path, ctype in [
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/rooms/some-room", "text/html"),
        *assets,
    ]:
        resp = await http.get(path)
        assert resp.status_code == 200, path
        assert resp.headers["content-type"].startswith(ctype), (path, resp.headers)
        assert_security_headers(resp)


async def test_error_answers_carry_security_headers(http, server: Server, alice: Actor) -> None:
    cases = [
        (await http.get("/api/auth/me"), 401),
        (await http.get("/api/nope"), 404),
        (await http.get("/nope.js"), 404),
        (await http.post("/api/auth/register", json={}), 422),
        (await http.delete("/api/auth/me", headers=alice.headers), 405),
        (await http.post("/api/auth/register", content=b"x" * (MiB + 1)), 413),
        (await http.get("/uploads/avatars/nope.png"), 404),
    ]
    for resp, status in cases:
        assert_json_error(resp, status)
        assert_security_headers(resp)


@pytest.fixture
async def crashing_server(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Server]:
    """Our app plus one route that fails the way an unexpected bug would."""
    real_create_app = conftest.create_app

    def create_app(s: Settings) -> FastAPI:
        app = real_create_app(s)

        async def crash() -> None:
            raise RuntimeError("secret internals: /srv/groupchat/db.py line 42")

        app.add_api_route("/api/test-crash", crash, methods=["POST"])
        app.router.routes.insert(0, app.router.routes.pop())  # ahead of the catch-all
        return app

    monkeypatch.setattr(conftest, "create_app", create_app)
    srv = await start_server(settings)
    try:
        yield srv
    finally:
        await srv.stop()


async def test_an_unexpected_error_is_a_plain_json_500(crashing_server: Server) -> None:
    async with httpx.AsyncClient(base_url=crashing_server.base_url) as client:
        resp = await client.post("/api/test-crash")
    assert_json_error(resp, 500)
    assert resp.json() == {"detail": "internal server error"}
    assert "secret internals" not in resp.text and "RuntimeError" not in resp.text
    assert_security_headers(resp)


# ---------------------------------------------------------------- body caps
async def test_a_json_body_over_1_mib_is_413(http, server: Server, alice: Actor) -> None:
    big = {"username": "dave", "password": "correct horse 1", "display_name": "D" * MiB}
    assert_json_error(await http.post("/api/auth/register", json=big), 413)
    assert_json_error(
        await http.patch("/api/auth/profile", json={"bio": "b" * MiB}, headers=alice.headers), 413
    )
    assert_json_error(
        await http.post("/api/rooms", json={"name": "n" * (2 * MiB)}, headers=alice.headers), 413
    )
    assert await user_count(server) == 1
    assert (await http.get("/api/auth/me", headers=alice.headers)).json()["bio"] is None


async def test_a_json_body_just_under_1_mib_is_read(http, server: Server) -> None:
    body = {"username": "dave", "password": "correct horse 1", "display_name": "D" * (MiB - 200)}
    resp = await http.post("/api/auth/register", json=body)
    assert_json_error(resp, 422)  # read and judged on its content, not refused for its size
    assert await user_count(server) == 0


async def test_a_streamed_json_body_over_1_mib_is_413(http, server: Server) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"username": "dave", "password": "correct horse 1", "display_name": "'
        for _ in range(40):
            yield b"D" * 32768
        yield b'"}'

    resp = await http.post(
        "/api/auth/register", content=body(), headers={"content-type": "application/json"}
    )
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    assert_json_error(resp, 413)
    assert await user_count(server) == 0


async def test_a_declared_length_over_the_cap_is_refused_before_the_body(
    server: Server,
) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"POST /api/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n{"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        await close_writer(writer)
    assert status_line.startswith(b"HTTP/1.1 413")


# ---------------------------------------------------------------- WebSocket handshake
async def ws_status(url: str, origin: str | None) -> int:
    """101 when the handshake is accepted, else the HTTP status it was refused with."""
    try:
        ws = await websockets.connect(url, origin=origin, open_timeout=5)  # type: ignore[arg-type]
    except InvalidStatus as exc:
        return exc.response.status_code
    await ws.close()
    return 101


async def test_a_foreign_origin_cannot_open_a_socket(server: Server, alice: Actor) -> None:
    url = f"{server.ws_url}?token={alice.token}"
    port = server.base_url.rsplit(":", 1)[1]
    for origin in [
        "https://evil.example",
        "http://evil.example",
        "null",
        "http://127.0.0.1",  # another port is another origin
        f"http://127.0.0.1:{int(port) + 1}",
        f"http://127.0.0.1:{port}.evil.example",
        f"http://localhost:{port}",
    ]:
        with pytest.raises(InvalidStatus) as caught:
            await websockets.connect(url, origin=origin, open_timeout=5)  # type: ignore[arg-type]
        assert caught.value.response.status_code == 403, origin


async def test_own_origin_and_no_origin_may_open_a_socket(server: Server, alice: Actor) -> None:
    url = f"{server.ws_url}?token={alice.token}"
    for origin in [server.base_url, None]:
        ws = await websockets.connect(url, origin=origin, open_timeout=5)  # type: ignore[arg-type]
        try:
            await ws.send('{"type": "ping"}')
            assert await asyncio.wait_for(ws.recv(), 5) == '{"type":"pong"}'
        finally:
            await ws.close()


async def test_an_origin_listed_in_cors_origins_may_open_a_socket(
    settings: Settings, tmp_path: Path
) -> None:
    listed = make_settings(
        tmp_path, cors_origins="https://chat.example.com, https://other.example.org/"
    )
    srv = await start_server(listed)
    try:
        async with httpx.AsyncClient(base_url=srv.base_url) as client:
            resp = await client.post(
                "/api/auth/register", json={"username": "alice", "password": "correct horse 1"}
            )
            token = resp.json()["token"]
            url = f"{srv.ws_url}?token={token}"
            assert await ws_status(url, "https://chat.example.com") == 101
            assert await ws_status(url, "https://other.example.org") == 101
            assert await ws_status(url, srv.base_url) == 101
            assert await ws_status(url, "https://evil.example") == 403
            assert await ws_status(url, "http://chat.example.com") == 403  # scheme counts

            # the same list governs CORS for HTTP
            pre = await client.options(
                "/api/auth/me",
                headers={
                    "Origin": "https://chat.example.com",
                    "Access-Control-Request-Method": "GET",
                    "Access-Control-Request-Headers": "authorization",
                },
            )
            assert pre.status_code == 200
            assert pre.headers["access-control-allow-origin"] == "https://chat.example.com"
            foreign = await client.get("/healthz", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in foreign.headers
    finally:
        await srv.stop()


async def test_no_cors_headers_without_cors_origins(http, server: Server) -> None:
    resp = await http.get("/healthz", headers={"Origin": "https://evil.example"})
    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers


async def closed_code(url: str) -> int | None:
    ws = await websockets.connect(url, open_timeout=5)
    try:
        with pytest.raises(ConnectionClosed) as caught:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    finally:
        await ws.close()
    return caught.value.rcvd.code if caught.value.rcvd else None


@pytest.mark.parametrize("query", ["", "?token=", "?token=garbage", "?token=a.b.c", "?tok=x"])
async def test_a_socket_without_a_valid_token_is_closed_4401(
    server: Server, alice: Actor, query: str
) -> None:
    assert await closed_code(f"{server.ws_url}{query}") == 4401


async def test_a_socket_with_a_header_token_but_no_query_token_is_closed_4401(
    server: Server, alice: Actor
) -> None:
    ws = await websockets.connect(server.ws_url, additional_headers=alice.headers, open_timeout=5)
    try:
        with pytest.raises(ConnectionClosed) as caught:
            await asyncio.wait_for(ws.recv(), 5)
    finally:
        await ws.close()
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 4401


# ---------------------------------------------------------------- API vs web client
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "path", ["/api/nope", "/api", "/api/", "/api/rooms/x/nope", "/api/auth/me/extra"]
)
async def test_an_unknown_api_path_is_a_json_404(
    http, server: Server, alice: Actor, method: str, path: str
) -> None:
    resp = await http.request(method, path, headers=alice.headers)
    assert_json_error(resp, 404)
    assert "<html" not in resp.text.lower()


async def test_a_known_api_path_with_the_wrong_method_is_405(
    http, server: Server, alice: Actor
) -> None:
    resp = await http.get("/api/auth/login")
    assert_json_error(resp, 405)
    assert "POST" in resp.headers["allow"]
    resp = await http.put("/api/auth/me", headers=alice.headers)
    assert_json_error(resp, 405)
    assert "GET" in resp.headers["allow"]


@pytest.mark.parametrize(
    "path", ["/", "/rooms/x", "/rooms/01ABC/messages", "/invite/abc", "/login"]
)
async def test_client_routes_get_the_web_client(http, server: Server, path: str) -> None:
    resp = await http.get(path)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    index = await http.get("/index.html")
    assert resp.text == index.text and "<html" in resp.text.lower()


@pytest.mark.parametrize("path", ["/nope.js", "/rooms/x/app.js", "/ws", "/uploads"])
async def test_missing_files_are_404_not_the_client(http, server: Server, path: str) -> None:
    assert_json_error(await http.get(path), 404)


@pytest.mark.parametrize(
    "target",
    [
        "/../config.py",
        "/%2e%2e/config.py",
        "/..%2fconfig.py",
        "/%2e%2e%2fconfig.py",
        "/..%5cconfig.py",
        "/web/../../config.py",
        "/%2e%2e/%2e%2e/pyproject.toml",
        "/./../app.py",
    ],
)
async def test_the_web_client_never_serves_files_outside_its_folder(
    server: Server, target: str
) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        await close_writer(writer)
    assert raw.startswith(b"HTTP/1.1 404"), raw[:300]
    assert b"class Settings" not in raw and b"create_app" not in raw and b"[project]" not in raw


async def test_a_static_dir_is_served_without_its_dotfiles(
    settings: Settings, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><html><body>custom client</body></html>")
    (site / "assets" / "main.js").write_text("console.log('custom')")
    (site / ".env").write_text("JWT_SECRET=leaked")
    (site / ".git").mkdir()
    (site / ".git" / "config").write_text("[core] leaked")
    srv = await start_server(make_settings(tmp_path, static_dir=site))
    try:
        async with httpx.AsyncClient(base_url=srv.base_url) as client:
            page = await client.get("/rooms/abc")
            assert page.status_code == 200 and "custom client" in page.text
            script = await client.get("/assets/main.js")
            assert script.status_code == 200 and script.text == "console.log('custom')"
            assert_security_headers(script)
            for path in ["/.env", "/.git/config", "/assets/%2e%2e/.env", "/assets/.%65nv"]:
                resp = await client.get(path)
                assert "leaked" not in resp.text, path
                # a dotted last segment is a missing asset; otherwise a client route
                assert resp.status_code == 404 or resp.text == page.text, path
    finally:
        await srv.stop()


async def test_openapi_lists_the_api(http, server: Server) -> None:
    resp = await http.get("/openapi.json")
    assert resp.status_code == 200
    doc: dict[str, Any] = resp.json()
    paths = set(doc["paths"])
    assert paths >= API_PATHS, sorted(API_PATHS - paths)
    assert any(p.startswith("/api/messages/hash/") for p in paths)
    assert not any(p.startswith("/uploads") or "{path" in p for p in paths)
    assert "post" in doc["paths"]["/api/auth/register"]
    assert "patch" in doc["paths"]["/api/auth/profile"]


# ---------------------------------------------------------------- logs
def test_tokens_in_access_log_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/ws?token=eyJhbGciOi.eyJzdWIi.c2lnbmF0&x=1", "1.1", 101),
        None,
    )
    assert RedactTokens().filter(record)
    line = record.getMessage()
    assert "eyJ" not in line and "token=[redacted]&x=1" in line
