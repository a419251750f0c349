"""The provider's model catalogue, in the shape of `GET /api/models`, cached."""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Callable
from typing import Any

from typing_extensions import TypedDict  # pydantic accepts only this one on Python < 3.12

from groupchat.ai.client import ProviderClient, ProviderError

logger = logging.getLogger(__name__)


class Pricing(TypedDict):
    """USD per token, as strings, exactly as the provider gives them."""

    prompt: str | None
    completion: str | None


class ModelInfo(TypedDict):
    """One entry of `GET /api/models`."""

    id: str
    name: str
    context_length: int | None
    pricing: Pricing
    supports_images: bool
    supports_tools: bool


def _price(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    return str(value) if isinstance(value, str | int | float) else None


def _strings(value: Any) -> builtins.list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def model_info(raw: dict[str, Any]) -> ModelInfo | None:
    """Convert one provider model; None when it has no id or cannot produce text."""
    model_id = raw.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    architecture = raw.get("architecture")
    architecture = architecture if isinstance(architecture, dict) else {}
    outputs = _strings(architecture.get("output_modalities"))
    if outputs and "text" not in outputs:
        return None
    pricing = raw.get("pricing")
    pricing = pricing if isinstance(pricing, dict) else {}
    context = raw.get("context_length")
    name = raw.get("name")
    return ModelInfo(
        id=model_id,
        name=name if isinstance(name, str) and name else model_id,
        context_length=context
        if isinstance(context, int) and not isinstance(context, bool)
        else None,
        pricing=Pricing(
            prompt=_price(pricing.get("prompt")), completion=_price(pricing.get("completion"))
        ),
        supports_images="image" in _strings(architecture.get("input_modalities")),
        # Local servers (Ollama, vLLM, llama.cpp) list no parameters: unknown means "try tools".
        supports_tools="supported_parameters" not in raw
        or "tools" in _strings(raw.get("supported_parameters")),
    )


def fallback_entry(model_id: str) -> ModelInfo:
    """The configured default model, described without the provider's help."""
    # Unknown capabilities: no images (a wrong guess fails the request), tools assumed
    # (they are the point of the participant; a model without them answers a 404 we report).
    return ModelInfo(
        id=model_id,
        name=model_id,
        context_length=None,
        pricing=Pricing(prompt=None, completion=None),
        supports_images=False,
        supports_tools=True,
    )


class ModelCatalog:
    """Caches the provider's model list; concurrent callers share one fetch."""

    def __init__(
        self,
        client: ProviderClient,
        *,
        default_model: str,
        ttl_seconds: float = 3600,
        failure_ttl_seconds: float = 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.default_model = default_model
        self.ttl_seconds = ttl_seconds
        self.failure_ttl_seconds = failure_ttl_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._models: builtins.list[ModelInfo] = []
        self._real = False
        self._expires = float("-inf")

    async def list(self) -> tuple[builtins.list[ModelInfo], bool]:
        """(models, True) from the provider, or ([default model], False) when it failed."""
        if self._clock() >= self._expires:
            async with self._lock:
                if self._clock() >= self._expires:
                    await self._refresh()
        return list(self._models), self._real

    async def _refresh(self) -> None:
        try:
            raw = await self.client.list_models()
        except ProviderError as exc:
            logger.warning("model list unavailable: %s", exc.message)
            self._models, self._real = [fallback_entry(self.default_model)], False
            self._expires = self._clock() + self.failure_ttl_seconds
            return
        infos = (model_info(item) for item in raw)
        self._models = [info for info in infos if info is not None]
        self._real = True
        self._expires = self._clock() + self.ttl_seconds

    async def get(self, model_id: str) -> ModelInfo | None:
        """The entry for `model_id`, or None if the (possibly fallback) list lacks it."""
        models, _real = await self.list()
        return next((model for model in models if model["id"] == model_id), None)

    async def knows(self, model_id: str) -> bool | None:
        """Whether the provider lists `model_id`; None when the list is unavailable."""
        models, real = await self.list()
        if not real:
            return None
        return any(model["id"] == model_id for model in models)
