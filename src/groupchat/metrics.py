"""Prometheus metrics: one registry per app (never the global one), and the HTTP timer."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"  # a request no route took: never the raw path (unbounded labels)


class Metrics:
    """The server's counters; `render()` is what GET /metrics answers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.websockets_open = Gauge(
            "groupchat_websockets_open", "WebSockets open in this process", registry=r
        )
        self.messages_stored = Counter(
            "groupchat_messages_stored", "Messages stored", ["author_type"], registry=r
        )
        self._stored: dict[str, Counter] = {}
        self.http_duration = Histogram(
            "groupchat_http_request_duration_seconds",
            "HTTP request duration by route template and status",
            ["route", "status"],
            registry=r,
        )
        self.ai_answers = Counter(
            "groupchat_ai_answers", "AI answers that reached the provider", ["outcome"], registry=r
        )
        self.ai_tokens = Counter(
            "groupchat_ai_tokens", "AI tokens by model and kind", ["model", "kind"], registry=r
        )
        self.ai_cost = Counter("groupchat_ai_cost_usd", "AI cost in USD", ["model"], registry=r)
        self.ai_refusals = Counter(
            "groupchat_ai_refusals", "AI answers refused by a limit", ["scope"], registry=r
        )

    def count_websockets(self, count: Callable[[], int]) -> None:
        """Read the open-socket gauge from `count` at every scrape."""
        self.websockets_open.set_function(count)

    def message_stored(self, author_type: str) -> None:
        counter = self._stored.get(author_type)
        if counter is None:  # a label's child, looked up once (labels() takes a lock)
            counter = self._stored[author_type] = self.messages_stored.labels(author_type)
        counter.inc()

    def ai_answer(
        self, outcome: str, model: str, prompt_tokens: int, completion_tokens: int, cost: float
    ) -> None:
        """One answer that reached the provider, as the ledger recorded it."""
        self.ai_answers.labels(outcome=outcome).inc()
        self.ai_tokens.labels(model=model, kind="prompt").inc(prompt_tokens)
        self.ai_tokens.labels(model=model, kind="completion").inc(completion_tokens)
        self.ai_cost.labels(model=model).inc(cost)

    def ai_refused(self, scope: str) -> None:
        self.ai_refusals.labels(scope=scope).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestTimer:
    """ASGI middleware: times each HTTP request under its route template and status."""

    def __init__(self, app: ASGIApp, metrics: Callable[[Scope], Metrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response started

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics = self.metrics(scope)
            if metrics is not None:
                route = getattr(scope.get("route"), "path", None) or UNMATCHED
                elapsed = time.perf_counter() - started
                metrics.http_duration.labels(route=route, status=str(status)).observe(elapsed)
