"""GET /metrics: there only for a scraper with METRICS_TOKEN; the counters move as people chat."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import GatedOpenRouter, next_stream, say
from conftest import Actor, Server, create_room
from fakes.openrouter import VISION_MODEL, text_reply, usage_dict

TOKEN = "scrape-" + "s" * 30
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient) -> Samples:
    """Every sample of one scrape, by name and labels."""
    resp = await http.get("/metrics", headers=SCRAPER)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.parametrize(
    "ai_overrides",
    [{"metrics_token": TOKEN, "ai_budget_user_usd": 0.001, "max_json_bytes": 2048}],
)
async def test_counters_move_as_alice_chats(
    http: httpx.AsyncClient, server: Server, provider: GatedOpenRouter, alice: Actor
) -> None:
    before = await scrape(http)
    assert value(before, "groupchat_websockets_open") == 0
    room = await create_room(http, alice)
    a = await alice.socket(join=(room["id"],))
    provider.queue(text_reply("Counted.", usage=usage_dict(412, 31, 0.001341)))
    await say(a, room["id"], "@ai count this")
    await next_stream(a)
    await say(a, room["id"], "@ai and this?")  # over alice's allowance
    await a.expect("ai_refused")

    after = await scrape(http)
    assert value(after, "groupchat_websockets_open") == 1
    stored = "groupchat_messages_stored_total"
    assert value(after, stored, author_type="user") == 2
    assert value(after, stored, author_type="ai") == 1
    assert value(after, "groupchat_ai_answers_total", outcome="finished") == 1
    tokens = "groupchat_ai_tokens_total"
    assert value(after, tokens, model=VISION_MODEL, kind="prompt") == 412
    assert value(after, tokens, model=VISION_MODEL, kind="completion") == 31
    cost = value(after, "groupchat_ai_cost_usd_total", model=VISION_MODEL)
    assert cost == pytest.approx(0.001341)
    assert value(after, "groupchat_ai_refusals_total", scope="user") == 1
    # routes by template, never the raw path (one series for every room)
    duration = "groupchat_http_request_duration_seconds_count"
    assert value(after, duration, route="/api/rooms", status="201") == 1
    assert value(after, duration, route="/metrics", status="200") == 1  # the first scrape
    await http.get(f"/api/rooms/{room['id']}", headers=alice.headers)
    await http.get("/api/rooms/nope", headers=alice.headers)
    big = {"name": "x" * 3000}  # refused before any route sees it
    assert (await http.post("/api/rooms", json=big, headers=alice.headers)).status_code == 413
    last = await scrape(http)
    assert value(last, duration, route="/api/rooms/{room_id}", status="200") == 1
    assert value(last, duration, route="/api/rooms/{room_id}", status="404") == 1
    assert value(last, duration, route="unmatched", status="413") == 1
    assert not any(room["id"] in str(labels) for _, labels in last)


@pytest.mark.parametrize("ai_overrides", [{"metrics_token": TOKEN}])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_without_the_token_there_is_no_metrics_page(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    resp = await http.get("/metrics", headers=headers)
    assert resp.status_code == 404
    assert resp.json() == {"detail": "not found"}


async def test_without_metrics_token_set_it_is_404_even_with_a_guess(
    http: httpx.AsyncClient,
) -> None:
    resp = await http.get("/metrics", headers={"Authorization": "Bearer x"})
    assert resp.status_code == 404
    resp = await http.get("/metrics", headers={"Authorization": "Bearer None"})
    assert resp.status_code == 404


async def test_two_apps_in_one_process_count_separately(
    tmp_path_factory: pytest.TempPathFactory, server: Server
) -> None:
    from conftest import make_settings, start_server

    other = await start_server(make_settings(tmp_path_factory.mktemp("b"), metrics_token=TOKEN))
    try:
        assert server.services.metrics.registry is not other.services.metrics.registry
        async with httpx.AsyncClient(base_url=other.base_url) as client:
            assert await scrape(client)  # its own registry renders without clashes
    finally:
        await other.stop()
