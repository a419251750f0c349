"""Token buckets: per WebSocket (frames) and per client address (sign-in endpoints)."""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Receive, Scope, Send

# Unauthenticated calls that cost a password hash or a stored challenge.
AUTH_PATHS = frozenset(
    {
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/nostr/challenge",
        "/api/auth/nostr/verify",
    }
)
MAX_TRACKED_CLIENTS = 10_000


class RateLimit:
    """A token bucket: `rate` per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def retry_after(self) -> int:
        """Whole seconds until the next token."""
        return max(1, int((1 - self.tokens) / self.rate) + 1)


class AuthRateLimit:
    """At most `per_minute` sign-in calls per client address (bursts of the same size): 429."""

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.per_minute = per_minute
        self._buckets: dict[str, RateLimit] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in AUTH_PATHS or self.per_minute <= 0:
            await self.app(scope, receive, send)
            return
        bucket = self._bucket(scope)
        if bucket.allow():
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": "too many sign-in attempts; try again later"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
            (b"retry-after", b"%d" % bucket.retry_after()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _bucket(self, scope: Scope) -> RateLimit:
        client = scope.get("client")
        key = client[0] if client else "unknown"
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CLIENTS:  # forget the quietest half
                self._buckets = dict(
                    sorted(self._buckets.items(), key=lambda kv: kv[1].tokens)[
                        : MAX_TRACKED_CLIENTS // 2
                    ]
                )
            bucket = self._buckets[key] = RateLimit(self.per_minute / 60, self.per_minute)
        return bucket
