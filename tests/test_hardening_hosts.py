"""The CSP lets pages open WebSockets only to this server (and the origins it is configured
for), and with PUBLIC_URL set the server answers only for its own host names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Server, make_settings, start_server
from groupchat.config import ConfigError, load_settings


def connect_src(resp: httpx.Response) -> str:
    csp = resp.headers["content-security-policy"]
    directive = next(d.strip() for d in csp.split(";") if d.strip().startswith("connect-src"))
    return directive


@pytest.fixture
async def public(tmp_path: Path, settings: Any) -> AsyncIterator[Server]:
    """A server published as https://chat.example.test, also used from https://app.example.test."""
    srv = await start_server(
        make_settings(
            tmp_path,
            public_url="https://chat.example.test",
            cors_origins="https://app.example.test:8443",
        )
    )
    try:
        yield srv
    finally:
        await srv.stop()


async def test_without_public_url_websockets_may_only_reach_this_server(http) -> None:
    resp = await http.get("/healthz")
    assert connect_src(resp) == "connect-src 'self'"
    assert (await http.get("/openapi.json")).status_code == 200  # any Host is served


async def test_public_url_and_cors_origins_add_their_websocket_origins(public: Server) -> None:
    async with httpx.AsyncClient(base_url=public.base_url) as http:
        resp = await http.get("/healthz")
    assert connect_src(resp) == (
        "connect-src 'self' wss://app.example.test:8443 wss://chat.example.test"
    )


@pytest.mark.parametrize(
    "host",
    ["chat.example.test", "CHAT.example.test:443", "app.example.test:8443"],
)
async def test_the_public_host_names_are_served(public: Server, host: str) -> None:
    async with httpx.AsyncClient(base_url=public.base_url) as http:
        resp = await http.get("/openapi.json", headers={"Host": host})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "host", ["evil.example.test", "chat.example.test:8080", "app.example.test", "127.0.0.1"]
)
async def test_another_host_name_is_421(public: Server, host: str) -> None:
    async with httpx.AsyncClient(base_url=public.base_url) as http:
        resp = await http.get("/openapi.json", headers={"Host": host})
        health = await http.get("/healthz", headers={"Host": host})

    assert resp.status_code == 421
    assert resp.json() == {"detail": "this server does not answer for that host name"}
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert health.status_code == 200  # load balancers probe by address


def test_public_url_must_be_an_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_URL", "chat.example.test")
    with pytest.raises(ConfigError, match=r"^PUBLIC_URL: must be an http:// or https:// URL"):
        load_settings(None)
