"""Token buckets: per WebSocket (frames), per user (posting), per client address (sign-in)."""

from __future__ import annotations

import json
import time

from starlette.types import ASGIApp, Receive, Scope, Send

# Calls that cost a password hash or a stored challenge, or that probe which usernames exist
# (every PATCH /api/auth/profile counts: a username change tells whether the name is taken).
AUTH_PATHS = frozenset(
    {
        "/api/auth/login",
        "/api/auth/register",
        "/api/auth/nostr/challenge",
        "/api/auth/nostr/verify",
        "/api/auth/profile",
        "/api/auth/password",
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


class Buckets:
    """A token bucket per key (a user, a client address), at most `max_keys` of them."""

    def __init__(self, rate: float, burst: int, max_keys: int = MAX_TRACKED_CLIENTS) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: dict[str, RateLimit] = {}

    def get(self, key: str) -> RateLimit:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:  # forget the fullest (quietest) half
                kept = sorted(self._buckets.items(), key=lambda kv: kv[1].tokens)
                self._buckets = dict(kept[: self.max_keys // 2])
            bucket = self._buckets[key] = RateLimit(self.rate, self.burst)
        return bucket

    def retry_after(self, key: str) -> int | None:
        """None if `key` may go on now (a token is taken), else whole seconds to wait."""
        bucket = self.get(key)
        return None if bucket.allow() else bucket.retry_after()


class AuthRateLimit:
    """At most `per_minute` sign-in calls per client address (bursts of the same size): 429."""

    def __init__(self, app: ASGIApp, per_minute: int) -> None:
        self.app = app
        self.per_minute = per_minute
        self._buckets = Buckets(per_minute / 60, per_minute)

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
        return self._buckets.get(client[0] if client else "unknown")
