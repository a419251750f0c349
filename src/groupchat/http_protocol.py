"""uvicorn's httptools HTTP/1.1 protocol with two guards uvicorn lacks.

- A request head must arrive within HTTP_HEADER_TIMEOUT seconds: from the connection's start
  for its first request, from the first byte for later keep-alive requests (uvicorn's own
  keep-alive timeout covers the silence between requests, but nothing times out a head that
  never ends, so half-sent requests held connections open forever). A connection that began a
  head gets `408` and is closed; one that sent nothing is just closed.
- At most MAX_CONNECTIONS_PER_IP open connections per client address, WebSockets included
  (they stay in uvicorn's connection set after the upgrade). One more is answered `429` and
  closed before anything is read from it. Addresses uvicorn trusts as proxies
  (FORWARDED_ALLOW_IPS, default 127.0.0.1 and ::1) are not capped: every client of a reverse
  proxy shares its address, so the proxy is where a per-client cap belongs.

The hooks used (connection_made, on_message_begin, on_headers_complete, connection_lost,
send_400_response's framing) are uvicorn internals: pyproject pins uvicorn's range and
tests/test_hardening_connections.py drives them through real sockets.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn.middleware.proxy_headers import _TrustedHosts
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from groupchat.config import Settings

_TOO_MANY = json.dumps(
    {"detail": "too many connections from your address"}, separators=(",", ":")
).encode()
_TIMED_OUT = json.dumps(
    {"detail": "request head not received in time"}, separators=(",", ":")
).encode()


def _response(status: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % (
        status,
        len(body),
    )
    return head + b"connection: close\r\n\r\n" + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus a request-head deadline and a per-address connection cap."""

    header_timeout: float = 10.0
    max_per_ip: int = 0  # 0: no cap

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_started = False
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._over_cap():
            self._refused = True
            transport.write(_response(b"429 Too Many Requests", _TOO_MANY))
            transport.close()
            return
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if not self._refused:  # a refused connection is closing: read nothing from it
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._head_started = False
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_started:
            self.transport.write(_response(b"408 Request Timeout", _TIMED_OUT))
        self.transport.close()

    def _over_cap(self) -> bool:
        """Whether this connection is one more than its address may have open."""
        limit = self.max_per_ip
        # No address can be over the cap while the whole server is under it: skip the count.
        if not limit or self.client is None or len(self.connections) <= limit:
            return False
        address = self.client[0]
        if address in _proxies(self.config.forwarded_allow_ips):
            return False
        same = 0
        for conn in self.connections:
            client = getattr(conn, "client", None)
            if client is not None and client[0] == address:
                same += 1
        return same > limit


def _proxies(allowed: list[str] | str) -> _TrustedHosts:
    """uvicorn's own reading of FORWARDED_ALLOW_IPS (addresses, networks or `*`)."""
    return _parsed_proxies(allowed if isinstance(allowed, str) else ",".join(allowed))


@functools.lru_cache(maxsize=16)
def _parsed_proxies(allowed: str) -> _TrustedHosts:
    return _TrustedHosts(allowed)


def http_protocol(settings: Settings) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn builds per connection, with this server's limits."""
    attributes = {
        "header_timeout": settings.http_header_timeout,
        "max_per_ip": settings.max_connections_per_ip,
    }
    return type("GroupChatHttpProtocol", (GuardedHttpProtocol,), attributes)
