"""Web search through Tavily or Brave, returning a few titled snippets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import httpx

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 400
MAX_QUERY_WORDS = 50  # Brave's limit
RESULT_COUNT = 5


@dataclass(frozen=True)
class SearchResult:
    """One search hit."""

    title: str
    url: str
    snippet: str


class SearchError(Exception):
    """A search failure, with a message a chat user (and the model) can read."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def strip_html(text: str) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    parser = _TextOnly()
    parser.feed(text)
    parser.close()
    return " ".join("".join(parser.parts).split())


def clean_query(query: str) -> str:
    """Trim and cap a query; raise SearchError when nothing is left."""
    query = " ".join(query.split())[:MAX_QUERY_CHARS].strip()
    if not query:
        raise SearchError("The search query is empty.")
    return query


def _as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


async def _request(http: httpx.AsyncClient, service: str, request: httpx.Request) -> httpx.Response:
    try:
        return await http.send(request)
    except httpx.TimeoutException:
        raise SearchError(f"Web search ({service}) timed out.") from None
    except httpx.HTTPError as exc:
        logger.info("%s search failed: %r", service, exc)
        raise SearchError(f"Web search ({service}) could not be reached.") from None


def _json(response: httpx.Response, service: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise SearchError(f"Web search ({service}) sent an unreadable answer.") from None


def _status_error(service: str, status: int, detail: str | None) -> SearchError:
    if status in (401, 403):
        return SearchError(f"Web search ({service}) rejected the API key ({status}).", status)
    if status == 429:
        return SearchError(
            f"Web search ({service}) is rate limiting us (429); try again later.", status
        )
    text = f"Web search ({service}) failed ({status})"
    if detail:
        text += f": {' '.join(detail.split())[:300].rstrip('.')}"
    return SearchError(text + ".", status)


class _SearchService:
    """What both services need: an HTTP client, a key, a base URL and a time limit."""

    default_base_url = ""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 15,
    ) -> None:
        self.http = http
        self.api_key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout = timeout


class TavilySearch(_SearchService):
    """Tavily: POST {base_url}/search with a Bearer key."""

    default_base_url = "https://api.tavily.com"

    async def search(self, query: str) -> list[SearchResult]:
        """Up to five results for `query`."""
        body = {"query": clean_query(query), "max_results": RESULT_COUNT, "search_depth": "basic"}
        request = self.http.build_request(
            "POST",
            f"{self.base_url}/search",
            json=body,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=self.timeout,
        )
        response = await _request(self.http, "Tavily", request)
        if response.status_code >= 400:
            raise self._error(response)
        results = _json(response, "Tavily")
        items = results.get("results") if isinstance(results, dict) else None
        return [
            SearchResult(
                title=_as_str(item.get("title")),
                url=_as_str(item.get("url")),
                snippet=" ".join(_as_str(item.get("content")).split()),
            )
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and item.get("url")
        ][:RESULT_COUNT]

    def _error(self, response: httpx.Response) -> SearchError:
        status = response.status_code
        if status in (432, 433):
            return SearchError(f"Web search (Tavily) usage limit reached ({status}).", status)
        detail = None
        try:
            body = response.json()
            error = body.get("detail", {}).get("error") if isinstance(body, dict) else None
            detail = error if isinstance(error, str) else None
        except (ValueError, AttributeError):
            pass
        return _status_error("Tavily", status, detail)


class BraveSearch(_SearchService):
    """Brave: GET {base_url}/res/v1/web/search with X-Subscription-Token."""

    default_base_url = "https://api.search.brave.com"

    async def search(self, query: str) -> list[SearchResult]:
        """Up to five results for `query`, descriptions as plain text."""
        words = clean_query(query).split(" ")[:MAX_QUERY_WORDS]
        request = self.http.build_request(
            "GET",
            f"{self.base_url}/res/v1/web/search",
            params={"q": " ".join(words), "count": RESULT_COUNT},
            headers={"Accept": "application/json", "X-Subscription-Token": self.api_key},
            timeout=self.timeout,
        )
        response = await _request(self.http, "Brave", request)
        if response.status_code >= 400:
            raise self._error(response)
        body = _json(response, "Brave")
        web = body.get("web") if isinstance(body, dict) else None
        items = web.get("results") if isinstance(web, dict) else None
        return [
            SearchResult(
                title=strip_html(_as_str(item.get("title"))),
                url=_as_str(item.get("url")),
                snippet=strip_html(_as_str(item.get("description"))),
            )
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict) and item.get("url")
        ][:RESULT_COUNT]

    def _error(self, response: httpx.Response) -> SearchError:
        status = response.status_code
        code = detail = None
        try:
            error = response.json().get("error")
            if isinstance(error, dict):
                code, detail = error.get("code"), error.get("detail")
        except (ValueError, AttributeError):
            pass
        if code == "SUBSCRIPTION_TOKEN_INVALID":
            return SearchError(f"Web search (Brave) rejected the API key ({status}).", status)
        if code == "RATE_LIMITED":
            return SearchError(
                f"Web search (Brave) is rate limiting us ({status}); try again later.", status
            )
        return _status_error("Brave", status, detail if isinstance(detail, str) else None)
