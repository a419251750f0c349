"""The AI models a room may use: GET /api/models."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from groupchat.ai.models import fallback_entry
from groupchat.deps import CurrentUser, Svc

router = APIRouter(tags=["ai"])


class Pricing(BaseModel):
    prompt: str | None
    completion: str | None


class Model(BaseModel):
    id: str
    name: str
    context_length: int | None
    pricing: Pricing
    supports_images: bool
    supports_tools: bool


class ModelList(BaseModel):
    default: str
    models: list[Model]
    ai_name: str  # what `@` addresses the AI with (AI_NAME)


@router.get("/api/models")
async def list_models(svc: Svc, _user: CurrentUser) -> ModelList:
    default = svc.settings.ai_default_model
    catalog = getattr(svc.ai, "catalog", None)
    models = (await catalog.list())[0] if catalog is not None else [fallback_entry(default)]
    return ModelList.model_validate(
        {"default": default, "models": models, "ai_name": svc.settings.ai_name}
    )
