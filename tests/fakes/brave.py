"""Fake Brave web search API (`GET /res/v1/web/search`) on 127.0.0.1."""

from __future__ import annotations

import time
from typing import Any

from fakes.server import FakeService, Request, Response

DEFAULT_KEY = "brave-test-key"


def default_results(query: str) -> list[dict[str, Any]]:
    """Results with HTML and entities in their descriptions, as Brave sends them."""
    return [
        {
            "title": "&quot;Hello, World!&quot; program - <strong>Wikipedia</strong>",
            "url": "https://en.wikipedia.org/wiki/%22Hello,_World!%22_program",
            "description": (
                f"A &quot;Hello, World!&quot; program ({query}) is "
                "<strong>usually a simple computer program</strong> that emits a message "
                "&amp; exits."
            ),
            "page_age": "2024-12-27T15:49:55",
            "language": "en",
            "type": "search_result",
            "meta_url": {"scheme": "https", "hostname": "en.wikipedia.org"},
        },
        {
            "title": "Second",
            "url": "https://example.org/second",
            "description": "plain &lt;tag&gt; text",
            "type": "search_result",
        },
    ]


def error_body(status: int, code: str, detail: str) -> dict[str, Any]:
    return {
        "type": "ErrorResponse",
        "error": {"id": "00000000-0000-0000-0000-000000000000", "status": status, "code": code,
                  "detail": detail, "meta": {"errors": []}},
        "time": int(time.time()),
    }  # fmt: skip


class FakeBrave(FakeService):
    """Brave at `{url}`: X-Subscription-Token, HTML descriptions, ErrorResponse bodies."""

    def __init__(self, api_key: str = DEFAULT_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.results: list[dict[str, Any]] | None = None  # None: default_results(q)
        self.bad_key_status = 422  # some clients saw 401 instead
        self.fail_status: int | None = None  # 429 (RATE_LIMITED) or anything else (VALIDATION)
        self.no_web = False

    @property
    def base_url(self) -> str:
        return self.url

    async def handle(self, request: Request, response: Response) -> None:
        if request.method != "GET" or request.path != "/res/v1/web/search":
            return await response.send_json(404, error_body(404, "NOT_FOUND", "Not found"))
        if request.headers.get("x-subscription-token") != self.api_key:
            body = error_body(self.bad_key_status, "SUBSCRIPTION_TOKEN_INVALID",
                              "The provided subscription token is invalid.")  # fmt: skip
            return await response.send_json(self.bad_key_status, body)
        if self.fail_status == 429:
            body = error_body(429, "RATE_LIMITED", "Request rate limit exceeded for plan.")
            return await response.send_json(429, body)
        if self.fail_status is not None:
            body = error_body(
                self.fail_status, "VALIDATION", "Unable to validate request parameter(s)"
            )
            return await response.send_json(self.fail_status, body)
        query = request.arg("q", "") or ""
        payload: dict[str, Any] = {"type": "search", "query": {"original": query}}
        if not self.no_web:
            results = self.results if self.results is not None else default_results(query)
            payload["web"] = {"type": "search", "family_friendly": True, "results": results}
        await response.send_json(200, payload)
