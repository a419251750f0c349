#!/usr/bin/env python3
"""Verify a GroupChat room's whole hash chain from the outside (docs/hash-chain.md).

Python standard library only. Usage:

    python scripts/verify_chain.py --url http://127.0.0.1:3001 --token TOKEN --room ROOM_ID

Fetches every entry of GET /api/rooms/{room}/chain, recomputes each hash from the documented
canonical form (v1 messages and v2 entries), checks each link, and checks every content still
present against its salted digest. Exit status 0: the chain verifies; 1: it does not; 2: the
server could not be asked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

PAGE = 1000
V1_KEYS = ("v", "id", "room_id", "author_type", "author_id", "content", "image_url",
           "created_at", "prev_hash")  # fmt: skip
V2_KEYS = ("v", "id", "room_id", "kind", "author_type", "author_id", "target_id", "reply_to",
           "image_url", "content_sha256", "created_at", "prev_hash")  # fmt: skip


def canonical(fields: dict[str, Any]) -> bytes:
    """Sorted keys, no whitespace, non-ASCII as itself, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def entry_hash(entry: dict[str, Any]) -> str | None:
    """The hash an entry must carry; None when it cannot be recomputed (a deleted v1 message)."""
    if entry["v"] == 1:
        if entry["content"] is None:
            return None
        return sha256(canonical({key: entry[key] for key in V1_KEYS}))
    return sha256(canonical({key: entry[key] for key in V2_KEYS}))


def check_entry(entry: dict[str, Any], prev: str | None) -> list[str]:
    """What is wrong with one entry, given the previous entry's hash."""
    problems = []
    if entry["prev_hash"] != prev:
        problems.append("prev_hash does not link to the previous entry")
    expected = entry_hash(entry)
    if expected is not None and expected != entry["hash"]:
        problems.append("hash does not match the entry")
    content, salt = entry.get("content"), entry.get("salt")
    if (
        entry["v"] == 2
        and content is not None
        and (salt is None or sha256((salt + content).encode()) != entry["content_sha256"])
    ):
        problems.append("content does not match content_sha256")
    return problems


def verify(entries: Iterator[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """(entries checked, deleted v1 messages only linked, problems) for a room's entries."""
    prev, count, unverifiable, problems = None, 0, 0, []
    for entry in entries:
        count += 1
        unverifiable += entry_hash(entry) is None
        problems += [
            f"entry {entry['id']} ({entry['kind']}): {p}" for p in check_entry(entry, prev)
        ]
        prev = entry["hash"]
    return count, unverifiable, problems


def fetch_entries(url: str, token: str, room: str) -> Iterator[dict[str, Any]]:
    """Every entry of the room, in chain order, page by page."""
    after = None
    while True:
        query = {"limit": PAGE, **({"after": after} if after else {})}
        path = f"/api/rooms/{urllib.parse.quote(room, safe='')}/chain"
        request = urllib.request.Request(  # noqa: S310 - main() allows http(s) only
            f"{url.rstrip('/')}{path}?{urllib.parse.urlencode(query)}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - http(s)
            page = json.load(response)
        yield from page["entries"]
        if not page["has_more"] or not page["entries"]:
            return
        after = page["entries"][-1]["id"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:3001")
    parser.add_argument("--token", required=True, help="a bearer token that can read the room")
    parser.add_argument("--room", required=True, help="the room's id")
    args = parser.parse_args(argv)
    if not args.url.startswith(("http://", "https://")):
        parser.error("--url must be an http:// or https:// URL")
    try:
        count, unverifiable, problems = verify(fetch_entries(args.url, args.token, args.room))
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        print(f"could not read the chain: {exc}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    note = f" ({unverifiable} deleted v1 messages checked by link only)" if unverifiable else ""
    verdict = "does NOT verify" if problems else "verifies"
    print(f"room {args.room}: {count} entries, the chain {verdict}{note}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
