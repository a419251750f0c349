"""Fake Tavily search API (`POST /search`) on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

from fakes.server import FakeService, Request, Response

DEFAULT_KEY = "tvly-test-key"


def default_results(query: str) -> list[dict[str, Any]]:
    """Two results that echo the query, shaped like Tavily's."""
    return [
        {
            "title": f"NIP-07 - window.nostr capability ({query})",
            "url": "https://github.com/nostr-protocol/nips/blob/master/07.md",
            "content": "The window.nostr object may be made available by browsers or extensions…",
            "score": 0.93,
            "raw_content": None,
        },
        {
            "title": "nos2x",
            "url": "https://example.org/nos2x",
            "content": "A   signer\nextension.",
            "score": 0.5,
            "raw_content": None,
        },
    ]


class FakeTavily(FakeService):
    """Tavily at `{url}`: Bearer key (or `api_key` in the body), scripted results or errors."""

    def __init__(self, api_key: str = DEFAULT_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.results: list[dict[str, Any]] | None = None  # None: default_results(query)
        self.fail_status: int | None = None
        self.delay = 0.0
        self.searches: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return self.url

    async def handle(self, request: Request, response: Response) -> None:
        if request.method != "POST" or request.path != "/search":
            return await response.send_json(404, {"detail": {"error": "Not Found"}})
        body = request.json()
        self.searches.append(body)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.api_key not in (bearer, body.get("api_key")):
            error = {"detail": {"error": "Unauthorized: missing or invalid API key."}}
            return await response.send_json(401, error)
        if self.fail_status is not None:
            message = {429: "Rate limit exceeded.", 432: "Plan limit exceeded."}
            text = message.get(self.fail_status, "Internal server error")
            return await response.send_json(self.fail_status, {"detail": {"error": text}})
        if self.delay:
            await asyncio.sleep(self.delay)
        query = body.get("query", "")
        results = self.results if self.results is not None else default_results(query)
        answer = {"query": query, "follow_up_questions": None, "answer": None, "images": []}
        await response.send_json(200, {**answer, "results": results, "response_time": 0.01})
