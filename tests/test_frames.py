"""Frame encoding: pydantic-core's serializer must write what json.dumps wrote before."""

from __future__ import annotations

import json

import pytest

from groupchat import events
from groupchat.realtime import ws

FRAMES = [
    {"type": "pong"},
    {"type": "new_message", "message": {"content": 'Grüße ☃ \u2028 "q" \\ \n\t\x00\x1f\x7f'}},
    {"type": "x", "n": [1, 2.5, -3, None, True, False], "deep": {"a": {"b": []}}},
    {"type": "emoji", "text": "👍🏽 𝄞"},
]


@pytest.mark.parametrize("frame", FRAMES)
def test_frame_bytes_match_json_dumps(frame: dict[str, object]) -> None:
    expected = json.dumps(frame, separators=(",", ":"), ensure_ascii=False).encode()
    assert events.frame_bytes(frame) == expected
    assert events.encode_frame(frame) == expected.decode()


@pytest.mark.parametrize(
    ("frame", "extra"),
    [
        ({"type": "new_message", "message": {"id": "1"}}, {"client_id": "c-1"}),
        ({"type": "new_message"}, {"client_id": "é", "other": [1]}),
        ({"type": "a", "client_id": "old"}, {"client_id": "new"}),  # a key replaced
        ({}, {"client_id": "c"}),
        ({"type": "a"}, {}),
    ],
)
def test_with_extra_is_the_merged_frame(frame: dict[str, object], extra: dict[str, object]) -> None:
    merged = events.with_extra(events.frame_bytes(frame), frame, extra)
    assert json.loads(merged) == {**frame, **extra}
    assert merged == events.frame_bytes({**frame, **extra})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nope", "frames must be JSON objects"),
        ("[1]", "frames must be JSON objects"),
        ('"text"', "frames must be JSON objects"),
        ("[" * 5000 + "]" * 5000, "frames must be JSON objects"),  # nesting capped, no crash
        ('{"type":"nope"}', "invalid frame"),
        ('{"type":"send_message"}', "invalid frame: send_message.room_id: Field required"),
    ],
)
def test_bad_frames_are_described(text: str, problem: str) -> None:
    assert ws._parse(text) == (None, problem)


def test_a_good_frame_parses() -> None:
    frame, problem = ws._parse('{"type":"typing","room_id":"r1","is_typing":true,"x":1}')
    assert problem == ""
    assert isinstance(frame, events.Typing) and frame.is_typing is True
