"""Pure ASGI middleware: request body caps, the Host check and security headers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_WS_SCHEMES = {"http": "ws", "https": "wss"}
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Load balancers probe these by address, not by the public name.
HOST_EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})


def content_security_policy(origins: Iterable[str] = ()) -> str:
    """The CSP: our own files only; WebSockets to 'self' and the ws/wss forms of `origins`."""
    sockets = sorted({ws for origin in origins if (ws := _ws_origin(origin))})
    connect = " ".join(["'self'", *sockets])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


def _ws_origin(origin: str) -> str | None:
    """wss://host for https://host (ws:// for http://); None for anything else."""
    parts = urlsplit(origin)
    scheme = _WS_SCHEMES.get(parts.scheme.lower())
    return f"{scheme}://{parts.netloc.lower()}" if scheme and parts.netloc else None


CSP = content_security_policy()


def security_headers(csp: str = CSP) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", csp.encode()),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]


SECURITY_HEADERS = security_headers()
MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file itself


class SecurityHeaders:
    """Adds the security headers to every HTTP response (unless the app set them)."""

    def __init__(self, app: ASGIApp, csp: str = CSP) -> None:
        self.app = app
        self.headers = security_headers(csp)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette renders unhandled errors outside all middleware, so without this the
            # 500 would lack our headers; re-raised so the error is still logged once.
            if not started:
                await _send_json(send, 500, "internal server error", self.headers)
            raise


class HostCheck:
    """With PUBLIC_URL set, only requests for its host (or a CORS_ORIGINS host) are served:
    anything else is 421 (WebSockets are refused before the handshake), except HOST_EXEMPT_PATHS.
    """

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(h for o in origins for h in host_forms(o))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in HOST_EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        host = next((v for n, v in scope.get("headers", []) if n == b"host"), b"")
        if host.decode("latin-1").strip().lower() in self.allowed:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await _send_json(send, 421, "this server does not answer for that host name")


def host_forms(origin: str) -> set[str]:
    """The Host header values that name `origin`: with and without its default port."""
    parts = urlsplit(origin)
    if not parts.hostname:
        return set()
    name = parts.hostname.lower()
    if ":" in name:  # an IPv6 address keeps its brackets in Host
        name = f"[{name}]"
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    default = _DEFAULT_PORTS.get(parts.scheme.lower())
    forms = {f"{name}:{port}"} if port else set()
    if port is None or port == default:
        forms.add(name)
    return forms


class BodyLimit:
    """Refuses bodies over the route's limit with 413, before they are read whole."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        state = {"received": 0, "exceeded": False, "started": False}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["exceeded"] = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if state["exceeded"]:  # whatever the app answers, the answer is 413
                if not state["started"]:
                    state["started"] = True
                    await _send_413(send, limit)
                return
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not state["exceeded"]:
                raise
        if state["exceeded"] and not state["started"]:
            await _send_413(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    await _send_json(send, 413, f"request body is larger than {limit} bytes")


async def _send_json(
    send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})
