"""Search and room-list latency on a big database, through a real server over HTTP.

Setup: a server (`python -m groupchat serve`) on a fresh SQLite file or an emptied PostgreSQL
database; `solo` owns one room, `wide` owns 200 rooms; messages are inserted in bulk straight
into the database (the search index follows by trigger or expression index). Then:
- search in one room of 100,000 messages (`solo`, with room_id);
- search across `wide`'s 200 rooms, 100,000 messages in 50 of them, 20 in each other;
- GET /api/rooms for `wide` (200 rooms, 20 unread messages in each).
Queries are single words of varied frequency, two-word queries and prefixes. Latency is the
client's: request to response, HTTP included.

    .venv/bin/python bench/search.py [--pg-url postgresql://postgres@127.0.0.1:5432/bench]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rawws import HttpClient
from servers import (
    HOST,
    ServerProcess,
    _healthz,
    _wait_ready,
    free_port,
    groupchat_env,
    stop_process,
)

from groupchat.ids import new_id

MESSAGES = 100_000
WIDE_ROOMS, FULL_ROOMS = 200, 50
UNREAD = 20
QUERIES = 300
COLUMNS = "id, room_id, author_type, author_id, content, content_html, hash, created_at, chain_v"


def vocabulary(rng: random.Random) -> list[str]:
    """2,000 made-up words; messages draw them with a Zipf-like skew."""
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "ploy", "ment", "ar"]
    words = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(4000)}
    return sorted(words)[:2000]


def texts(rng: random.Random, words: list[str], count: int) -> list[str]:
    weights = [1 / (rank + 1) for rank in range(len(words))]
    return [" ".join(rng.choices(words, weights, k=rng.randint(6, 16))) for _ in range(count)]


def rows(room_id: str, author_id: str, contents: list[str]) -> list[tuple[Any, ...]]:
    now = "2026-12-05T09:00:00.000Z"
    out = []
    for content in contents:
        message_id = new_id()
        digest = hashlib.sha256(message_id.encode()).hexdigest()
        out.append((message_id, room_id, "user", author_id, content, content, digest, now, 2))
    return out


def insert_sqlite(path: Path, batches: list[list[tuple[Any, ...]]], marks: list[Any]) -> None:
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            for batch in batches:
                conn.executemany(
                    f"INSERT INTO messages ({COLUMNS}) VALUES ({', '.join('?' * 9)})", batch
                )
            conn.executemany(
                "UPDATE room_members SET last_read_id = ? WHERE room_id = ? AND user_id = ?", marks
            )
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def insert_pg(url: str, batches: list[list[tuple[Any, ...]]], marks: list[Any]) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for batch in batches:
                await conn.copy_records_to_table(
                    "messages", records=batch, columns=[c.strip() for c in COLUMNS.split(",")]
                )
            await conn.executemany(
                "UPDATE room_members SET last_read_id = $1 WHERE room_id = $2 AND user_id = $3",
                marks,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def reset_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


async def start(workdir: Path, database: str | None) -> ServerProcess:
    port = free_port()
    env = groupchat_env(workdir, port)
    if database:
        env["DATABASE_URL"] = database
    server = ServerProcess("groupchat", [sys.executable, "-m", "groupchat", "serve"], env, workdir)
    server.port = port
    await _wait_ready(server, _healthz)
    return server


async def call(client: HttpClient, method: str, path: str, token: str, body: Any = None) -> Any:
    status, answer = await client.request(method, path, body, token)
    assert status in (200, 201), (path, status, answer)
    return answer


async def register(client: HttpClient, name: str) -> tuple[str, str]:
    body = {"username": name, "password": "benchmark-pass", "display_name": name}
    status, answer = await client.request("POST", "/api/auth/register", body)
    assert status == 201, answer
    return answer["token"], answer["user"]["id"]


async def timed(client: HttpClient, token: str, paths: list[str]) -> tuple[float, float, int]:
    """p50 and p99 in ms, and the mean number of results."""
    latencies, found = [], 0
    for path in paths:
        start = time.perf_counter()
        answer = await call(client, "GET", path, token)
        latencies.append((time.perf_counter() - start) * 1000)
        found += len(answer.get("results", answer.get("rooms", [])))
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return latencies[len(latencies) // 2], p99, found // len(paths)


def queries(rng: random.Random, words: list[str], room_id: str | None) -> list[str]:
    scope = f"&room_id={room_id}" if room_id else ""
    out = []
    for n in range(QUERIES):
        kind = n % 3
        if kind == 0:  # one word, any frequency
            q = rng.choice(words)
        elif kind == 1:  # two words
            q = f"{rng.choice(words[:300])} {rng.choice(words)}"
        else:  # a prefix of 3-4 letters
            q = rng.choice(words)[: rng.randint(3, 4)]
        out.append(f"/api/search?q={quote(q)}{scope}")
    return out


async def run(name: str, database: str | None) -> list[str]:
    rng = random.Random(7)
    words = vocabulary(rng)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if database:
            await reset_pg(database.replace("postgresql+asyncpg://", "postgresql://"))
        server = await start(workdir, database)
        client = HttpClient(HOST, server.port)
        try:
            solo, solo_id = await register(client, "solo")
            wide, wide_id = await register(client, "wide")
            big = (await call(client, "POST", "/api/rooms", solo, {"name": "big"}))["id"]
            rooms = [
                (await call(client, "POST", "/api/rooms", wide, {"name": f"r{i}"}))["id"]
                for i in range(WIDE_ROOMS)
            ]
            batches = [rows(big, wide_id, texts(rng, words, MESSAGES))]
            per_room = MESSAGES // FULL_ROOMS
            marks = []
            for index, room_id in enumerate(rooms):
                count = per_room if index < FULL_ROOMS else UNREAD
                batch = rows(room_id, solo_id, [*texts(rng, words, count - 1), "hi @wide"])
                batches.append(batch)
                marks.append((batch[-UNREAD - 1][0] if count > UNREAD else None, room_id, wide_id))
            started = time.perf_counter()
            if database:
                await insert_pg(
                    database.replace("postgresql+asyncpg://", "postgresql://"), batches, marks
                )
            else:
                insert_sqlite(workdir / "chat.db", batches, marks)
            setup = time.perf_counter() - started
            lines = [f"{name}: bulk insert of {sum(map(len, batches)):,} messages {setup:.1f} s"]
            for label, token, room_id in (
                ("search, one room of 100,000", solo, big),
                ("search, 200 rooms (100,000 in 50)", wide, None),
            ):
                await timed(client, token, queries(rng, words, room_id)[:20])  # warm up
                p50, p99, found = await timed(client, token, queries(rng, words, room_id))
                lines.append(
                    f"{name}: {label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({found} results/query)"
                )
            await timed(client, wide, ["/api/rooms"] * 5)
            p50, p99, found = await timed(client, wide, ["/api/rooms"] * 100)
            lines.append(
                f"{name}: GET /api/rooms, {found} rooms: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
            )
            return lines
        finally:
            client.close()
            stop_process(server.proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-url", help="also PostgreSQL (postgresql://…; the database is emptied)"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    targets: list[tuple[str, str | None]] = [] if args.no_sqlite else [("SQLite", None)]
    if args.pg_url:
        targets.append(
            ("PostgreSQL", args.pg_url.replace("postgresql://", "postgresql+asyncpg://"))
        )
    for name, database in targets:
        for line in asyncio.run(run(name, database)):
            print(line, flush=True)


if __name__ == "__main__":
    main()
