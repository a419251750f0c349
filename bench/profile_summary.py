"""Summarize a `py-spy record --format raw` file: where the server's Python time went.

.venv/bin/python bench/profile_summary.py FILE [--top K]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# (label, substrings of frames); the first category with a frame in the stack wins, so nested
# work (fan-out enqueue, markdown, SQL) is listed before the HTTP request that contains it.
CATEGORIES = [
    (
        "WebSocket writes: hub writer -> starlette -> uvicorn -> websockets framing + send()",
        ("Connection._drain (", "WebSocket.send_text (", "WebSocketsSansIOProtocol.send ("),
    ),
    ("fan-out enqueue: Hub.deliver (encode once, put_nowait)", ("Hub.deliver (",)),
    ("markdown rendering + sanitizing", ("render_markdown (",)),
    ("SQLite calls in the aiosqlite thread", ("_connection_worker_thread (",)),
    ("SQLAlchemy + aiosqlite (event-loop side)", ("sqlalchemy/", "aiosqlite/")),
    ("rest of the HTTP request (FastAPI, pydantic, JWT)", ("RequestResponseCycle",)),
    ("websockets broadcast()", ("broadcast (", "Connection.send_data (")),
    ("relay handler: recv + ack", ("handler (",)),
    ("WebSocket reads (frames in, pings)", ("websocket_endpoint (", "data_received (")),
]
_SITE = re.compile(r"\((?:/[^()]*?/site-packages/|/[^()]*?/src/)")


def read_stacks(path: Path) -> Counter[str]:
    """Collapsed stacks ("f1;f2;... count") into a Counter."""
    stacks: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks[_SITE.sub("(", stack)] += int(count)
    return stacks


def categorize(stacks: Counter[str]) -> Counter[str]:
    """Samples per category (see CATEGORIES); the rest is the event loop itself."""
    shares: Counter[str] = Counter()
    for stack, count in stacks.items():
        label = next(
            (lab for lab, keys in CATEGORIES if any(key in stack for key in keys)),
            "event loop, other",
        )
        shares[label] += count
    return shares


def top_self(stacks: Counter[str], k: int) -> list[tuple[str, int]]:
    """The k leaf frames with the most samples."""
    leaves: Counter[str] = Counter()
    for stack, count in stacks.items():
        leaves[stack.rsplit(";", 1)[-1]] += count
    return leaves.most_common(k)


def summary(path: Path, k: int = 8) -> str:
    """Category shares and the top leaf frames, as text."""
    stacks = read_stacks(path)
    total = sum(stacks.values()) or 1
    lines = [f"{path.name}: {total} samples (GIL held)"]
    shares = categorize(stacks).most_common()
    lines += [f"  {100 * n / total:5.1f} %  {label}" for label, n in shares]
    lines.append("  top frames (self):")
    lines += [f"  {100 * n / total:5.1f} %  {frame}" for frame, n in top_self(stacks, k)]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=8)
    options = parser.parse_args()
    print(summary(options.file, options.top))
