"""The AI models a room may use: GET /api/models."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from groupchat.ai.models import ModelInfo, fallback_entry
from groupchat.deps import CurrentUser, Svc

router = APIRouter(tags=["ai"])


class ModelList(BaseModel):
    default: str
    models: list[ModelInfo]
    ai_name: str  # what `@` addresses the AI with (AI_NAME)


@router.get("/api/models")
async def list_models(svc: Svc, _user: CurrentUser) -> ModelList:
    default = svc.settings.ai_default_model
    catalog = getattr(svc.ai, "catalog", None)
    models = (await catalog.list())[0] if catalog is not None else [fallback_entry(default)]
    return ModelList.model_validate(
        {"default": default, "models": models, "ai_name": svc.settings.ai_name}
    )
