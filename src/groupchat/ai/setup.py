"""Builds the AI participant from the settings (the one place that knows every AI part)."""

from __future__ import annotations

import logging

from groupchat.ai.client import ProviderClient, Timeouts
from groupchat.ai.models import ModelCatalog
from groupchat.ai.participant import Participant
from groupchat.ai.search import BraveSearch, TavilySearch
from groupchat.ai.tools import ToolBox
from groupchat.services import Services

log = logging.getLogger(__name__)


def build_participant(svc: Services) -> Participant:
    """The participant; without OPENROUTER_API_KEY it only says that it is not configured."""
    settings = svc.settings
    if not settings.openrouter_api_key:
        log.warning("OPENROUTER_API_KEY is not set: the AI participant is off")
        return Participant(svc, None, None, None)
    client = ProviderClient(
        svc.http,
        base_url=settings.openrouter_base_url,
        api_key=settings.openrouter_api_key,
        timeouts=Timeouts(
            connect=settings.ai_connect_timeout,
            first_token=settings.ai_first_token_timeout,
            idle=settings.ai_idle_timeout,
            total=settings.ai_total_timeout,
        ),
        app_url=settings.public_url,
    )
    catalog = ModelCatalog(
        client,
        default_model=settings.ai_default_model,
        ttl_seconds=settings.ai_models_cache_seconds,
    )
    search: TavilySearch | BraveSearch | None = None
    if settings.search_provider == "tavily" and settings.tavily_api_key:
        search = TavilySearch(svc.http, settings.tavily_api_key, settings.tavily_base_url)
    elif settings.search_provider == "brave" and settings.brave_api_key:
        search = BraveSearch(svc.http, settings.brave_api_key, settings.brave_base_url)
    toolbox = ToolBox(
        search=search,
        # None: each fetch gets fetch.py's own client, whose cookie jar is never shared
        # (svc.http would keep a page's cookies and send them on the next fetch).
        http=None,
        fetch_options={"allow_private": settings.fetch_allow_private},
    )
    return Participant(svc, client, catalog, toolbox)
