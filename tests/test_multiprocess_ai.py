"""The AI across two real processes: one answer at a time per room, in order, exactly once,
and a question survives the death of the process answering it."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from ai_fixtures import (
    Gate,
    GatedOpenRouter,
    assert_one_at_a_time,
    held_text,
    last_user_text,
    read_frames,
    say,
    streams,
)
from fakes.openrouter import DEFAULT_KEY, VISION_MODEL, text_reply
from groupchat.ai.participant import SHUTTING_DOWN
from multiproc import Proc, need_postgres_and_redis, server_env, start_procs
from test_multiprocess_order import shared_room


@pytest.fixture
async def provider() -> AsyncIterator[GatedOpenRouter]:
    async with GatedOpenRouter() as fake:
        yield fake


@pytest.fixture
async def pair(tmp_path: Path, provider: GatedOpenRouter) -> AsyncIterator[list[Proc]]:
    url = await need_postgres_and_redis()
    env = server_env(
        tmp_path,
        url,
        OPENROUTER_API_KEY=DEFAULT_KEY,
        OPENROUTER_BASE_URL=provider.base_url,
        AI_DEFAULT_MODEL=VISION_MODEL,
        AI_LEASE_SECONDS="1",
    )
    procs = await start_procs(tmp_path, env, 2)
    try:
        yield procs
    finally:
        for proc in procs:
            await proc.stop()


async def ai_messages(proc: Proc, token: str, room_id: str) -> list[str]:
    async with httpx.AsyncClient(base_url=proc.base_url) as http:
        resp = await http.get(
            f"/api/rooms/{room_id}/messages", headers={"Authorization": f"Bearer {token}"}
        )
    return [m["content"] for m in resp.json()["messages"] if m["author_type"] == "ai"]


async def test_questions_through_both_processes_are_answered_once_in_order(
    pair: list[Proc], provider: GatedOpenRouter
) -> None:
    a, b = pair
    alice, bob, room_id = await shared_room(a, b)
    gate = Gate()
    provider.queue(held_text("First", gate, " answer."), text_reply("Second answer."))
    alice_ws, bob_ws = await alice.socket(join=(room_id,)), await bob.socket(join=(room_id,))
    await say(alice_ws, room_id, "@ai first question")  # A answers, held at the gate
    await gate.reached.wait()
    await say(bob_ws, room_id, "@ai second question")  # through B: it waits for A's answer
    await bob_ws.expect("new_message")
    gate.open()
    for sock in (alice_ws, bob_ws):
        frames = await read_frames(sock, ends=2)
        assert_one_at_a_time(frames)
        assert [s.text for s in streams(frames)] == ["First answer.", "Second answer."]
        await sock.silent()
    asked = [last_user_text(r.json()) for r in provider.chat_requests]
    assert [text.split(": ", 1)[1] for text in asked] == [
        "@ai first question",
        "@ai second question",
    ]
    assert await ai_messages(b, bob.token, room_id) == ["First answer.", "Second answer."]


async def test_a_question_outlives_the_process_answering_it(
    pair: list[Proc], provider: GatedOpenRouter
) -> None:
    a, b = pair
    alice, bob, room_id = await shared_room(a, b)
    gate = Gate()
    provider.queue(held_text("Half an ans", gate, "wer."), text_reply("Whole answer."))
    bob_ws = await bob.socket(join=(room_id,))  # bob watches from B
    alice_ws = await alice.socket(join=(room_id,))
    await say(alice_ws, room_id, "@ai are you there?")  # A claims the question and streams
    await gate.reached.wait()
    a.signal(signal.SIGKILL)
    await a.wait()
    # B takes the question over once A's lease runs out, and answers it in full
    frames = await read_frames(bob_ws, ends=1, timeout=15)
    found = [s for s in streams(frames) if s.end is not None]
    assert [s.text for s in found] == ["Whole answer."]
    assert found[0].message is not None and found[0].message["content"] == "Whole answer."
    assert await ai_messages(b, bob.token, room_id) == ["Whole answer."]
    assert len(provider.chat_requests) == 2
    await bob_ws.silent()


async def test_sigterm_hands_the_streaming_answer_to_the_other_process(
    pair: list[Proc], provider: GatedOpenRouter
) -> None:
    a, b = pair
    alice, bob, room_id = await shared_room(a, b)
    gate = Gate()
    provider.queue(held_text("Cut sho", gate, "rt."), text_reply("Answered by B."))
    bob_ws = await bob.socket(join=(room_id,))
    alice_ws = await alice.socket(join=(room_id,))  # alice is connected to A
    await say(alice_ws, room_id, "@ai what now?")
    await gate.reached.wait()  # A streams the answer
    a.signal(signal.SIGTERM)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            await alice_ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012  # "service restart"
    # SHUTDOWN_TIMEOUT is 10 s by default; uvicorn re-raises SIGTERM once it has stopped
    assert await a.wait(timeout=10) in (0, -signal.SIGTERM)
    frames = await read_frames(bob_ws, ends=2, timeout=15)
    assert [(s.text, s.error) for s in streams(frames)] == [
        ("Cut sho", SHUTTING_DOWN),  # nothing stored for the cut stream …
        ("Answered by B.", None),  # … B answers the handed-back question in full
    ]
    assert await ai_messages(b, bob.token, room_id) == ["Answered by B."]
    await bob_ws.silent()
