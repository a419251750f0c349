"""GET /api/models from the fake provider's list (cached, with a fallback), and room settings
that accept only models the provider knows."""

from __future__ import annotations

import httpx
import pytest

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import GatedOpenRouter
from conftest import Actor, Server, create_room
from fakes.openrouter import TEXT_MODEL, VISION_MODEL


async def test_models_come_from_the_provider_list(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    resp = await http.get("/api/models", headers=alice.headers)
    assert resp.status_code == 200
    assert resp.json() == {
        "default": VISION_MODEL,
        "ai_name": "ai",
        "models": [  # the image-output model is left out: it cannot write a chat answer
            {
                "id": VISION_MODEL,
                "name": "OpenAI: GPT-4o",
                "context_length": 128000,
                "pricing": {"prompt": "0.0000025", "completion": "0.00001"},
                "supports_images": True,
                "supports_tools": True,
            },
            {
                "id": TEXT_MODEL,
                "name": "Meta: Llama 3 8B Instruct",
                "context_length": 128000,
                "pricing": {"prompt": "0.0000025", "completion": "0.00001"},
                "supports_images": False,
                "supports_tools": False,
            },
        ],
    }
    request = provider.models_requests[0]
    assert request.headers["authorization"] == f"Bearer {provider.api_key}"


async def test_the_model_list_is_cached(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    bodies = []
    for _ in range(3):
        resp = await http.get("/api/models", headers=alice.headers)
        assert resp.status_code == 200
        bodies.append(resp.json())
    room = await create_room(http, alice, ai_model=TEXT_MODEL)  # checks the same cached list
    assert room["ai_model"] == TEXT_MODEL
    assert bodies[0] == bodies[1] == bodies[2]
    assert len(provider.models_requests) == 1


async def test_the_default_alone_when_the_provider_list_fails(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    provider.models_status = 500
    resp = await http.get("/api/models", headers=alice.headers)
    assert resp.status_code == 200
    assert resp.json() == {
        "default": VISION_MODEL,
        "ai_name": "ai",
        "models": [
            {
                "id": VISION_MODEL,
                "name": VISION_MODEL,
                "context_length": None,
                "pricing": {"prompt": None, "completion": None},
                "supports_images": False,
                "supports_tools": True,
            }
        ],
    }


async def test_models_need_a_sign_in(http: httpx.AsyncClient, provider: GatedOpenRouter) -> None:
    resp = await http.get("/api/models")
    assert resp.status_code == 401 and "detail" in resp.json()
    resp = await http.get("/api/models", headers={"Authorization": "Bearer not-a-token"})
    assert resp.status_code == 401
    assert provider.models_requests == []


async def test_rooms_accept_only_known_models(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor
) -> None:
    resp = await http.post(
        "/api/rooms", json={"name": "x", "ai_model": "acme/imaginary-1"}, headers=alice.headers
    )
    assert resp.status_code == 422 and "acme/imaginary-1" in resp.json()["detail"]
    room = await create_room(http, alice, ai_model=TEXT_MODEL)
    url = f"/api/rooms/{room['id']}"
    resp = await http.patch(url, json={"ai_model": "acme/imaginary-1"}, headers=alice.headers)
    assert resp.status_code == 422
    resp = await http.get(url, headers=alice.headers)
    assert resp.json()["ai_model"] == TEXT_MODEL  # unchanged
    resp = await http.patch(url, json={"ai_model": VISION_MODEL}, headers=alice.headers)
    assert resp.status_code == 200 and resp.json()["ai_model"] == VISION_MODEL
    resp = await http.patch(url, json={"ai_model": None}, headers=alice.headers)
    assert resp.status_code == 200 and resp.json()["ai_model"] is None
    resp = await http.get("/api/rooms", headers=alice.headers)
    names = {r["name"] for r in resp.json()["rooms"]}
    assert names == {"general"}  # the refused room was not created


async def test_any_model_is_accepted_while_the_list_is_unavailable(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor
) -> None:
    provider.models_status = 500
    room = await create_room(http, alice, ai_model="acme/imaginary-1")
    assert room["ai_model"] == "acme/imaginary-1"
    resp = await http.patch(
        f"/api/rooms/{room['id']}", json={"ai_model": "acme/other-2"}, headers=alice.headers
    )
    assert resp.status_code == 200 and resp.json()["ai_model"] == "acme/other-2"


@pytest.mark.parametrize("ai_overrides", [{"ai_name": "helper"}])
async def test_the_model_list_names_the_ai(http: httpx.AsyncClient, alice: Actor) -> None:
    resp = await http.get("/api/models", headers=alice.headers)
    assert resp.json()["ai_name"] == "helper"
