"""Posting throughput: acknowledged posts per second of one `groupchat serve`, nobody listening.

Many posters post as fast as their previous post is acknowledged (a 201 over REST, or the
sender's own `new_message` over WebSocket) for a fixed time. Each WebSocket poster joins a room
of its own, so the only frame it gets back is its acknowledgement: nobody else listens. The same
run with GROUP_COMMIT=false (one SQLAlchemy transaction per post, the v1 path) is the comparison.
Results: docs/benchmarks.md, "Posting".

    .venv/bin/python bench/posts.py                      # SQLite, WS and REST, both paths
    .venv/bin/python bench/posts.py --pg-url postgresql://postgres@127.0.0.1:5432/bench
                                                         # + PostgreSQL (that database is EMPTIED)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from rawws import HttpClient, WsClient, open_ws
from servers import (
    HOST,
    ServerProcess,
    _healthz,
    _wait_ready,
    free_port,
    run_report,
    stop_process,
)
from targets import expect_status, register_users

ALL_CPUS = sorted(os.sched_getaffinity(0))


@dataclass
class Result:
    label: str
    posts: int
    seconds: float
    cpu_seconds: float

    @property
    def rate(self) -> float:
        return self.posts / self.seconds

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / max(self.posts, 1) * 1e6


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posters", type=int, default=64, help="concurrent posters (64)")
    parser.add_argument("--seconds", type=float, default=8, help="measured time per run (8)")
    parser.add_argument("--via", choices=("ws", "rest", "both"), default="both")
    parser.add_argument(
        "--pg-url", help="also PostgreSQL (postgresql://…; the database is emptied)"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--no-compare", action="store_true", help="skip GROUP_COMMIT=false")
    parser.add_argument("--synchronous", choices=("normal", "full"), default="normal")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and client")
    return parser.parse_args(argv)


async def reset_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def server_env(
    workdir: Path, port: int, database: str, group_commit: bool, sync: str
) -> dict[str, str]:
    """Nothing from our environment leaks in (no .env either: the cwd is the temporary dir)."""
    return {
        "BIND_ADDR": f"{HOST}:{port}",
        "DATABASE_URL": database,
        "UPLOAD_DIR": str(workdir / "uploads"),
        "BACKUP_DIR": str(workdir / "backups"),
        "JWT_SECRET": secrets.token_hex(32),
        "LOG_LEVEL": "warning",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "REGISTRATION_MODE": "open",
        "GROUP_COMMIT": str(group_commit).lower(),
        "SQLITE_SYNCHRONOUS": sync,
        # one process plays many users from one address: limits meant for people are off
        "AUTH_RATE_PER_MINUTE": "0",
        "WS_MESSAGES_PER_SECOND": "0",
        "WS_CONNECTIONS_PER_USER": "0",
        "MAX_CONNECTIONS_PER_IP": "0",
    }


async def start(workdir: Path, database: str, group_commit: bool, sync: str) -> ServerProcess:
    """`python -m groupchat serve` on a free port (another, if someone took it meanwhile)."""
    for attempt in range(3):
        port = free_port()
        env = server_env(workdir, port, database, group_commit, sync)
        argv = [sys.executable, "-m", "groupchat", "serve"]
        server = ServerProcess("groupchat", argv, env, workdir)
        server.port = port
        try:
            await _wait_ready(server, _healthz)
            return server
        except RuntimeError as exc:
            stop_process(server.proc)
            if "address already in use" not in str(exc) or attempt == 2:
                raise
    raise AssertionError("unreachable")


async def own_rooms(port: int, tokens: list[str]) -> list[str]:
    """One room per poster, created by that poster (so nobody else hears its posts)."""
    client = HttpClient(HOST, port)
    try:
        rooms = []
        for token in tokens:
            status, room = await client.request(
                "POST", "/api/rooms", {"name": "bench", "ai_mode": "off"}, token
            )
            expect_status(status, room, 201, "create a room")
            rooms.append(room["id"])
        return rooms
    finally:
        client.close()


class Counter:
    def __init__(self) -> None:
        self.acked = 0
        self.stop = False


async def rest_poster(port: int, token: str, room_id: str, counter: Counter) -> None:
    client = HttpClient(HOST, port)
    path = f"/api/rooms/{room_id}/messages"
    try:
        n = 0
        while not counter.stop:
            status, body = await client.request("POST", path, {"content": f"post {n}"}, token)
            expect_status(status, body, 201, "post")
            counter.acked += 1
            n += 1
    finally:
        client.close()


async def ws_poster(port: int, token: str, room_id: str, counter: Counter) -> None:
    ws: WsClient = await open_ws(HOST, port, f"/ws?token={token}", None)
    try:
        joined = ws.expect(b'"joined"')
        ws.send_json({"type": "join_room", "room_id": room_id})
        await joined
        n = 0
        while not counter.stop:
            ack = ws.expect(b'"client_id"')
            ws.send_json(
                {
                    "type": "send_message",
                    "room_id": room_id,
                    "content": f"post {n}",
                    "client_id": f"c{n}",
                }
            )
            async with asyncio.timeout(30):
                await ack
            counter.acked += 1
            n += 1
    finally:
        ws.close()


async def run_one(
    args: argparse.Namespace, label: str, database: str, group_commit: bool, via: str
) -> Result:
    """One server, one kind of poster; `database` "" is a fresh SQLite file."""
    if database:
        await reset_pg(database)
    with tempfile.TemporaryDirectory(prefix="bench-posts-") as tmp:
        database = database or f"sqlite:///{tmp}/chat.db"
        server = await start(Path(tmp), database, group_commit, args.synchronous)
        try:
            if not args.no_pin and len(ALL_CPUS) >= 2:
                server.pin({ALL_CPUS[0]})
                os.sched_setaffinity(0, set(ALL_CPUS[1:]))
            _, tokens = await register_users(server.port, args.posters)
            rooms = await own_rooms(server.port, tokens)
            return await measure(args, label, server, tokens, rooms, via)
        finally:
            stop_process(server.proc)


async def measure(
    args: argparse.Namespace,
    label: str,
    server: ServerProcess,
    tokens: list[str],
    rooms: list[str],
    via: str,
) -> Result:
    counter = Counter()
    poster = ws_poster if via == "ws" else rest_poster
    tasks = [
        asyncio.create_task(poster(server.port, token, room, counter))
        for token, room in zip(tokens, rooms, strict=True)
    ]
    await asyncio.sleep(1.0)  # warm up: connections open, code paths hot
    posts0, cpu0, t0 = counter.acked, server.cpu_seconds(), time.perf_counter()
    await asyncio.sleep(args.seconds)
    posts1, cpu1, t1 = counter.acked, server.cpu_seconds(), time.perf_counter()
    counter.stop = True
    done, _ = await asyncio.wait(tasks, timeout=30)
    for task in done:
        if task.exception() is not None:
            raise RuntimeError(f"a poster failed: {task.exception()!r}")
    return Result(label, posts1 - posts0, t1 - t0, cpu1 - cpu0)


async def main_async(args: argparse.Namespace) -> str:
    databases = [] if args.no_sqlite else [("SQLite", "")]
    if args.pg_url:
        databases.append(("PostgreSQL", args.pg_url))
    vias = ("ws", "rest") if args.via == "both" else (args.via,)
    paths = (True,) if args.no_compare else (True, False)
    results = []
    for name, url in databases:
        for via in vias:
            for group_commit in paths:
                path = "group commit" if group_commit else "one transaction per post"
                label = f"{name}, {via.upper()}, {path}"
                results.append(await run_one(args, label, url, group_commit, via))
                print(f"  {label}: {results[-1].rate:,.0f} posts/s", file=sys.stderr)
    return report(args, results)


def report(args: argparse.Namespace, results: list[Result]) -> str:
    lines = [
        f"{args.posters} posters, {args.seconds:g} s each, SQLITE_SYNCHRONOUS={args.synchronous}",
        "| run | posts/s | server CPU µs per post | posts |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(f"| {r.label} | {r.rate:,.0f} | {r.cpu_us:,.0f} | {r.posts:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_report("posts", main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
