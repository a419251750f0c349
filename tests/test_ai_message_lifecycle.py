"""The AI and the message lifecycle: it reads messages as they are now (edited text, deleted
ones gone), an edit never wakes it, and a reply to one of its messages does in a mention room."""

from __future__ import annotations

import httpx

from ai_fixtures import *  # noqa: F403  (the fixtures: provider, tavily, settings, ...)
from ai_fixtures import GatedOpenRouter, next_stream, say
from conftest import QUIET, Actor, add_member, create_room
from fakes.openrouter import text_reply


async def test_the_ai_reads_current_text_skips_deleted_messages_and_is_not_woken_by_edits(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    rid = room["id"]
    await add_member(http, room, alice, bob)
    a = await alice.socket(join=(rid,))
    await say(a, rid, "the launch is on Monday")
    first = (await a.expect("new_message"))["message"]
    await say(a, rid, "my card number is 1234")
    secret = (await a.expect("new_message"))["message"]
    await say(a, rid, "no mention yet")
    plain = (await a.expect("new_message"))["message"]

    # editing in a mention of the AI does not wake it: only new messages do
    resp = await http.patch(
        f"/api/messages/{plain['id']}", json={"content": "@ai what day?"}, headers=alice.headers
    )
    assert resp.status_code == 200
    resp = await http.patch(
        f"/api/messages/{first['id']}",
        json={"content": "the launch is on Tuesday"},
        headers=alice.headers,
    )
    assert resp.status_code == 200
    assert (
        await http.delete(f"/api/messages/{secret['id']}", headers=alice.headers)
    ).status_code == 204
    await a.expect("message_updated")
    await a.expect("message_updated")
    await a.expect("message_deleted")
    await a.silent(QUIET)
    assert provider.chat_requests == []

    provider.queue(text_reply("Tuesday."))
    await say(a, rid, "@ai so which day is it?")
    stream = await next_stream(a)
    assert stream.message is not None and stream.message["content"] == "Tuesday."
    turns = [m["content"] for m in provider.bodies[0]["messages"][1:]]
    assert turns == [
        "Alice: the launch is on Tuesday",
        "Alice: @ai what day?",
        "Alice: @ai so which day is it?",
    ]


async def test_a_reply_to_the_ai_wakes_it_in_a_mention_room(
    http: httpx.AsyncClient, provider: GatedOpenRouter, alice: Actor, bob: Actor
) -> None:
    room = await create_room(http, alice)
    rid = room["id"]
    await add_member(http, room, alice, bob)
    a, b = await alice.socket(join=(rid,)), await bob.socket(join=(rid,))
    provider.queue(text_reply("Paris."))
    await say(a, rid, "@ai capital of France?")
    answer = (await next_stream(b)).message
    assert answer is not None
    await next_stream(a)

    await say(b, rid, "and of Italy?", reply_to=answer["id"])  # no @ai: the reply is enough
    provider.queue(text_reply("Rome."))
    reply = (await b.expect("new_message"))["message"]
    assert reply["reply_to"]["author_type"] == "ai" and reply["mentions"] == []
    stream = await next_stream(b)
    assert stream.message is not None and stream.message["content"] == "Rome."

    await next_stream(a)
    # a reply to a person's message (here bob's own) does not call the AI
    await say(a, rid, "good question, bob", reply_to=reply["id"])
    await b.expect("new_message")
    await b.silent(QUIET)
    assert len(provider.chat_requests) == 2
