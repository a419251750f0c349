"""Search (API.md v2): every word a prefix, phrases, no case or diacritics, no operators; only
rooms the caller may read; current text of edited messages, never deleted ones; paging."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import Actor, add_member, create_room
from conftest import post_message as post


async def search(http: httpx.AsyncClient, who: Actor, q: str, **params: Any) -> Any:
    resp = await http.get("/api/search", params={"q": q, **params}, headers=who.headers)
    assert resp.status_code == 200, (q, resp.text)
    return resp.json()


async def texts(http: httpx.AsyncClient, who: Actor, q: str, **params: Any) -> list[str]:
    return [r["message"]["content"] for r in (await search(http, who, q, **params))["results"]]


async def test_words_are_prefixes_without_case_or_diacritics_and_phrases_stay_together(
    http: httpx.AsyncClient, alice: Actor
) -> None:
    rid = (await create_room(http, alice))["id"]
    for text in (
        "Deployment finished at noon",
        "We redeploy tomorrow",
        "Crème Brûlée tonight",
        "東京タワー is tall",
        "The quick brown fox",
        "brown quick fox",
    ):
        await post(http, alice, rid, text)
    assert await texts(http, alice, "deploy") == ["Deployment finished at noon"]
    assert await texts(http, alice, "DEPLOY noon") == ["Deployment finished at noon"]
    assert await texts(http, alice, "ploy") == []  # the start of a word only
    assert await texts(http, alice, "creme brulee") == ["Crème Brûlée tonight"]
    assert await texts(http, alice, "CRÈME") == ["Crème Brûlée tonight"]
    assert await texts(http, alice, "東京") == ["東京タワー is tall"]
    assert await texts(http, alice, "quick brown") == ["brown quick fox", "The quick brown fox"]
    assert await texts(http, alice, '"quick brown"') == ["The quick brown fox"]
    assert await texts(http, alice, '"brown quick" fox') == ["brown quick fox"]
    # operators, wildcards and parentheses are plain text
    assert await texts(http, alice, "quick -brown") == ["brown quick fox", "The quick brown fox"]
    assert await texts(http, alice, "fox OR nothing") == []
    assert await texts(http, alice, "NEAR(quick fox)") == []
    assert await texts(http, alice, "quick* (brown)") == ["brown quick fox", "The quick brown fox"]
    assert await texts(http, alice, '"unclosed quick') == []
    assert await texts(http, alice, "' OR 1=1 --") == []
    assert await texts(http, alice, "tall 東京") == ["東京タワー is tall"]

    result = (await search(http, alice, "creme"))["results"][0]
    assert result["snippet_html"] == "<mark>Crème</mark> Brûlée tonight"
    assert set(result["message"]) >= {"id", "room_id", "content", "reactions", "mentions"}


async def test_snippets_escape_everything_but_the_marks(
    http: httpx.AsyncClient, alice: Actor
) -> None:
    rid = (await create_room(http, alice))["id"]
    await post(http, alice, rid, '<img src=x onerror="deploy()"> & deploying')
    (found,) = (await search(http, alice, "deploy"))["results"]
    assert found["snippet_html"] == (
        "&lt;img src=x onerror=&quot;<mark>deploy</mark>()&quot;&gt; &amp; <mark>deploying</mark>"
    )
    long = "filler " * 60 + "needle in the middle " + "filler " * 60
    await post(http, alice, rid, long)
    (found,) = (await search(http, alice, "needle"))["results"]
    snippet = found["snippet_html"]
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>needle</mark> in the middle" in snippet
    assert len(snippet) < 260


async def test_bad_queries_are_422(http: httpx.AsyncClient, alice: Actor) -> None:
    for q in ("", "   ", '!!! "" -- *', "a" * 201):
        resp = await http.get("/api/search", params={"q": q}, headers=alice.headers)
        assert resp.status_code == 422, (q, resp.text)
        assert "detail" in resp.json()
    resp = await http.get("/api/search", headers=alice.headers)
    assert resp.status_code == 422
    for limit in (0, 101):
        resp = await http.get(
            "/api/search", params={"q": "x", "limit": limit}, headers=alice.headers
        )
        assert resp.status_code == 422
    assert (await http.get("/api/search", params={"q": "x"})).status_code == 401
    assert (await search(http, alice, "a" * 200))["results"] == []


async def test_rooms_the_caller_may_not_read_never_leak(
    http: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor
) -> None:
    ours = await create_room(http, alice, name="ours")
    await add_member(http, ours, alice, bob)
    secret = await create_room(http, carol, name="secret")
    lobby = await create_room(http, carol, name="lobby", is_public=True)
    await post(http, alice, ours["id"], "the plan for monday")
    await post(http, carol, secret["id"], "the secret plan")
    await post(http, carol, lobby["id"], "the public plan")

    assert await texts(http, bob, "plan") == ["the plan for monday"]
    assert await texts(http, alice, "plan", room_id=ours["id"]) == ["the plan for monday"]
    # a public room the caller has not joined, named on purpose
    assert await texts(http, alice, "plan", room_id=lobby["id"]) == ["the public plan"]
    assert await texts(http, carol, "plan") == ["the public plan", "the secret plan"]
    for rid in (secret["id"], "01NOSUCHROOM0000000000000"):
        resp = await http.get(
            "/api/search", params={"q": "plan", "room_id": rid}, headers=alice.headers
        )
        assert resp.status_code == 404
        assert resp.json() == {"detail": "room not found"}


async def test_edited_messages_by_their_text_now_deleted_never(
    http: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    rid = room["id"]
    await add_member(http, room, alice, bob)
    message = await post(http, alice, rid, "alpha draft")
    resp = await http.patch(
        f"/api/messages/{message['id']}", json={"content": "beta final"}, headers=alice.headers
    )
    assert resp.status_code == 200, resp.text
    assert await texts(http, bob, "alpha") == []
    (found,) = (await search(http, bob, "beta"))["results"]
    assert found["message"]["edited_at"] is not None
    assert found["snippet_html"] == "<mark>beta</mark> final"
    resp = await http.delete(f"/api/messages/{message['id']}", headers=alice.headers)
    assert resp.status_code == 204
    assert await texts(http, bob, "beta") == []
    assert await texts(http, bob, "alpha") == []


async def test_pages_go_back_in_time(http: httpx.AsyncClient, alice: Actor) -> None:
    rid = (await create_room(http, alice))["id"]
    sent = [await post(http, alice, rid, f"report number {n}") for n in range(5)]
    await post(http, alice, rid, "something else")
    first = await search(http, alice, "report", limit=2)
    assert [r["message"]["id"] for r in first["results"]] == [sent[4]["id"], sent[3]["id"]]
    assert first["has_more"] is True
    second = await search(http, alice, "report", limit=2, before=sent[3]["id"])
    assert [r["message"]["id"] for r in second["results"]] == [sent[2]["id"], sent[1]["id"]]
    last = await search(http, alice, "report", limit=2, before=sent[1]["id"])
    assert [r["message"]["id"] for r in last["results"]] == [sent[0]["id"]]
    assert last["has_more"] is False
    # a cursor that names no message still means "older than this id"
    cursor = sent[1]["id"] + "0"  # sorts just after sent[1], before sent[2]
    older = await search(http, alice, "report", before=cursor)
    assert [r["message"]["id"] for r in older["results"]] == [sent[1]["id"], sent[0]["id"]]
    future = await search(http, alice, "report", before="7" * 26)
    assert len(future["results"]) == 5
    everything = await search(http, alice, "report")
    assert (len(everything["results"]), everything["has_more"]) == (5, False)
