"""The tools offered to the model (`web_search`, `fetch_page`) and their safe execution."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from groupchat.ai.fetch import FetchError, fetch_page
from groupchat.ai.search import BraveSearch, SearchError, TavilySearch

logger = logging.getLogger(__name__)

WEB_SEARCH = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web. Returns up to 5 results with title, url and snippet.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "What to search for."}},
            "required": ["query"],
        },
    },
}
FETCH_PAGE = {
    "type": "function",
    "function": {
        "name": "fetch_page",
        "description": "Fetch a public web page (http or https) and return its readable text.",
        "parameters": {
            "type": "object",
            "properties": {"url": {"type": "string", "description": "The page's full URL."}},
            "required": ["url"],
        },
    },
}


@dataclass(frozen=True)
class ToolResult:
    """What a tool produced: `content` goes back to the model, `input` to the room's UI."""

    ok: bool
    content: str
    input: dict[str, Any]


class _ToolFailure(Exception):
    """A failure whose message is meant for the model."""


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _parse_arguments(arguments: str) -> dict[str, Any]:
    if not arguments.strip():
        return {}
    try:
        parsed = json.loads(arguments)
    except ValueError:
        raise _ToolFailure("The tool arguments were not valid JSON.") from None
    if not isinstance(parsed, dict):
        raise _ToolFailure("The tool arguments must be a JSON object.")
    return parsed


def _text_argument(arguments: dict[str, Any], name: str, tool: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _ToolFailure(f"{tool} needs a non-empty string argument `{name}`.")
    return value.strip()


class ToolBox:
    """Describes the tools to the model and runs its calls; `run` never raises for tool failures."""

    def __init__(
        self,
        *,
        search: TavilySearch | BraveSearch | None,
        http: httpx.AsyncClient | None,
        fetch_options: dict[str, Any] | None = None,
        timeout: float = 30,
    ) -> None:
        self.search = search
        self.http = http
        self.fetch_options = dict(fetch_options or {})
        self.timeout = timeout

    def definitions(self) -> list[dict[str, Any]]:
        """OpenAI tool schemas: web_search (only when a search service is set) and fetch_page."""
        return [WEB_SEARCH, FETCH_PAGE] if self.search is not None else [FETCH_PAGE]

    async def run(self, name: str, arguments: str) -> ToolResult:
        """Run one tool call; failures become ok=False with a readable message as content."""
        parsed: dict[str, Any] = {}
        try:
            parsed = _parse_arguments(arguments)
            async with asyncio.timeout(self.timeout):
                content = await self._dispatch(name, parsed)
        except (_ToolFailure, SearchError, FetchError) as exc:
            return ToolResult(False, str(exc), parsed)
        except TimeoutError:
            message = f"The tool {name} took longer than {self.timeout:g} s."
            return ToolResult(False, message, parsed)
        except Exception:
            logger.exception("tool %s failed unexpectedly", name)
            return ToolResult(False, f"The tool {name} failed unexpectedly.", parsed)
        return ToolResult(True, content, parsed)

    async def _dispatch(self, name: str, arguments: dict[str, Any]) -> str:
        if name == "web_search":
            if self.search is None:
                raise _ToolFailure("Web search is not configured on this server.")
            results = await self.search.search(_text_argument(arguments, "query", name))
            return _compact([asdict(result) for result in results])
        if name == "fetch_page":
            url = _text_argument(arguments, "url", name)
            page = await fetch_page(self.http, url, **self.fetch_options)
            return _compact(asdict(page))
        raise _ToolFailure(f"There is no tool named {name!r}.")
