"""`@username` mentions (API.md "Catching up and finding"): parsing, apart from any lookup."""

from __future__ import annotations

import re

_AT = re.compile(r"(?<!\w)@([A-Za-z0-9_.\-]{1,64})")  # a username's characters after the `@`
_WORD = re.compile(r"\w")
MIN_NAME = 3


def _ends_word(text: str, end: int) -> bool:
    """No letter, digit or `_` right after the name."""
    return end >= len(text) or _WORD.match(text, end) is None


def candidates(content: str) -> set[str]:
    """Lower-cased names a mention in `content` could be (every prefix of each `@token`)."""
    if "@" not in content:  # the common case costs one scan
        return set()
    found: set[str] = set()
    for match in _AT.finditer(content):
        token = match.group(1).lower()
        found.update(token[:n] for n in range(MIN_NAME, len(token) + 1))
    return found


def resolve(content: str, members: dict[str, str]) -> list[str]:
    """Ids of the members (lower-cased username -> id) mentioned, in order; longest name wins."""
    ids: list[str] = []
    for match in _AT.finditer(content):
        token = match.group(1)
        for n in range(len(token), MIN_NAME - 1, -1):
            user_id = members.get(token[:n].lower())
            if user_id is not None and _ends_word(content, match.start(1) + n):
                if user_id not in ids:
                    ids.append(user_id)
                break
    return ids
