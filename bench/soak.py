"""Soak and fault benchmark: many clients posting, typing, joining and reconnecting, checked for
lost, duplicated and out-of-order deliveries, against one process and two behind nginx.

Each client is one user in one public room (ROOM_SIZE users per room) on its own WebSocket; it
posts `--rate` messages per second over the socket (`send_message` with a client_id; at most
3 unacknowledged, beyond which it skips a beat, so overload shows as a lower rate), sends
typing now and then, and drops its connection and reconnects about every `--reconnect-every`
seconds. Like the web client, after each (re)join or `resync` frame it fetches `after=` its last
message and merges by id. Counted per socket, over the whole run:
  duplicated   a `new_message` the socket already had (live twice, or live after catch-up)
  out of order a live `new_message` whose prev_hash is not the hash of the message before it
  lost         at the end, a stored message of the room missing from the client's view (a
               client caught between two connections first catches up, as its next
               connection would)
  unstored     a post the server acknowledged that is not stored
A live post of the client's own without its client_id (a process filled it in from the
database because its frame was late) is taken as its echo, as the web client matches its own
text, and counted ("own posts echoed without client_id").
Server figures: RSS and open file descriptors of each process before and after (after the
clients left and the processes had 3 s to settle).
`--faults` restarts the bench's own Redis a third into the run and kills one process with
SIGKILL (restarted at once) two thirds in. Loopback only; a private redis-server on a free
port; the PostgreSQL database given is EMPTIED. Results: docs/benchmarks.md, "Soak".

    .venv/bin/python bench/soak.py --pg-url postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/soak.py --pg-url … --clients 50 --duration 20 --faults
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from servers import HOST, ServerProcess, free_port, groupchat_env, stop_process

ROOT = Path(__file__).resolve().parents[1]
ROOM_SIZE = 10
OUTSTANDING = 3  # posts a client may have unacknowledged; beyond, it skips a beat (as a person
# would wait), so an overloaded server shows as a lower rate, not an unbounded backlog
SETTLE_QUIET = 3.0  # after the run: wait until nothing was delivered for this long …
SETTLE_MAX = 60.0  # … or this long at most


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", required=True, help="postgresql://… (EMPTIED)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="posts per client per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of traffic")
    parser.add_argument("--reconnect-every", type=float, default=30.0)
    parser.add_argument("--mode", choices=["one", "two", "both"], default="both")
    parser.add_argument("--faults", action="store_true", help="restart Redis, kill a process")
    return parser.parse_args(argv)


@dataclass
class Tally:
    duplicated: int = 0
    out_of_order: int = 0
    lost: int = 0
    unstored: int = 0
    posted: int = 0
    skipped: int = 0
    acked: int = 0
    echoes: int = 0  # own posts that came back without their client_id (filled from the database)
    last_delivery: float = 0.0
    delivered: int = 0
    reconnects: int = 0
    offline_at_end: int = 0  # clients between two connections when the run ended
    resyncs: int = 0
    acked_ids: set[str] = field(default_factory=set)


class Client:
    """One user in one room, seen the way the web client sees it."""

    def __init__(
        self, url: str, name: str, token: str, room_id: str, tally: Tally, go: asyncio.Event
    ) -> None:
        self.url, self.name, self.token, self.room_id, self.tally = url, name, token, room_id, tally
        self.go = go  # posting starts once every client joined (its view starts empty)
        self.joined = asyncio.Event()
        self.view: list[str] = []  # message ids on "screen", in order
        self.ids: set[str] = set()
        self.last_hash: str | None = None
        self.ws: Any = None
        self.syncing: list[dict[str, Any]] | None = None  # live frames held during a catch-up
        self.live_ids: set[str] = set()  # what this connection received live
        self.posting = True  # False: the run is over, the client only listens
        self.outstanding = 0
        self.connected = False  # joined, caught up, and reading live frames
        self.stop = False
        self.leave = asyncio.Event()

    async def run(self, http: httpx.AsyncClient, rate: float, reconnect_every: float) -> None:
        while not self.stop:
            try:
                await self._session(http, rate, reconnect_every)
            except (OSError, websockets.WebSocketException, httpx.HTTPError, TimeoutError):
                await asyncio.sleep(0.2 + random.random() * 0.3)
            self.tally.reconnects += not self.stop

    async def _session(self, http: httpx.AsyncClient, rate: float, every: float) -> None:
        async with websockets.connect(f"{self.url}?token={self.token}", max_size=2**22) as ws:
            self.ws = ws
            self.live_ids = set()
            self.outstanding = 0
            await ws.send(json.dumps({"type": "join_room", "room_id": self.room_id}))
            reader = asyncio.create_task(self._read(ws, http))
            await self.go.wait()
            ends = time.monotonic() + random.expovariate(1 / every)
            try:
                while self.posting and time.monotonic() < ends and not reader.done():
                    await self._post(ws)
                    await asyncio.sleep(random.expovariate(rate))
                if not self.posting:  # the run is over: listen until told to leave
                    leave = asyncio.create_task(self.leave.wait())
                    await asyncio.wait({reader, leave}, return_when=asyncio.FIRST_COMPLETED)
                    leave.cancel()
            finally:
                self.connected = False
                if reader.done():
                    reader.result()  # its exception ends the session
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    async def _post(self, ws: Any) -> None:
        if self.outstanding >= OUTSTANDING:
            self.tally.skipped += 1
            return
        self.outstanding += 1
        self.tally.posted += 1
        frame = {"type": "send_message", "room_id": self.room_id, "content": "soak"}
        await ws.send(json.dumps({**frame, "client_id": str(self.tally.posted)}))
        if random.random() < 0.2:
            await ws.send(
                json.dumps({"type": "typing", "room_id": self.room_id, "is_typing": True})
            )

    async def _read(self, ws: Any, http: httpx.AsyncClient) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind in ("joined", "resync"):
                self.tally.resyncs += kind == "resync"
                if self.joined.is_set():
                    await self._catch_up(http)
                self.joined.set()
                self.connected = True
            elif kind == "new_message":
                self.tally.last_delivery = time.monotonic()
                if frame.get("client_id") is not None:
                    self.outstanding -= 1
                    self.tally.acked += 1
                    self.tally.acked_ids.add(frame["message"]["id"])
                elif self._own_echo(frame["message"]):
                    self.outstanding -= 1  # the web client matches its own text likewise
                    self.tally.echoes += 1
                if self.syncing is not None:
                    self.syncing.append(frame["message"])
                else:
                    self._live(frame["message"])

    def _own_echo(self, message: dict[str, Any]) -> bool:
        """One of our posts delivered live without its client_id: a process filled it in from
        the database because its own frame was late (realtime/ordering.py)."""
        author = message.get("author") or {}
        return (
            self.outstanding > 0
            and author.get("username") == self.name
            and message["id"] not in self.ids
            and message["id"] not in self.live_ids
        )

    async def _catch_up(self, http: httpx.AsyncClient) -> None:
        """GET …/messages?after= the last message; merge by id; then the held live frames."""
        self.syncing = []
        try:
            after = self.view[-1] if self.view else None
            while True:
                params: dict[str, Any] = {"limit": 200, **({"after": after} if after else {})}
                resp = await http.get(
                    f"/api/rooms/{self.room_id}/messages",
                    params=params,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
                page = resp.json()
                for message in page["messages"]:
                    self._merge(message)
                if not page["has_more"] or not page["messages"]:
                    break
                after = page["messages"][-1]["id"]
        finally:
            held, self.syncing = self.syncing or [], None
        for message in held:
            if message["id"] not in self.ids:  # the overlap with the catch-up is expected
                self._live(message)

    def _merge(self, message: dict[str, Any]) -> None:
        if message["id"] not in self.ids:
            self.ids.add(message["id"])
            self.view.append(message["id"])
            self.last_hash = message["hash"]

    def _live(self, message: dict[str, Any]) -> None:
        """A live frame: twice on one connection is a duplicate; one the catch-up already
        brought is merged away by id (as the web client does), not counted."""
        self.tally.delivered += 1
        if message["id"] in self.live_ids:
            self.tally.duplicated += 1
            return
        self.live_ids.add(message["id"])
        if message["id"] in self.ids:
            return
        if message["prev_hash"] != self.last_hash:
            self.tally.out_of_order += 1
        self._merge(message)


@dataclass
class Deployment:
    """The processes, the private Redis, and nginx (two processes) for one run."""

    workdir: Path
    pg_url: str
    redis_port: int = field(default_factory=free_port)
    redis: subprocess.Popen[bytes] | None = None
    servers: list[ServerProcess] = field(default_factory=list)
    nginx: subprocess.Popen[bytes] | None = None
    front_port: int = 0
    env: dict[str, str] = field(default_factory=dict)

    async def start(self, processes: int) -> None:
        await self.start_redis()
        await reset_pg(self.pg_url)
        base = groupchat_env(self.workdir, 0)
        self.env = {
            **base,
            "DATABASE_URL": self.pg_url.replace("postgresql://", "postgresql+asyncpg://"),
            "REDIS_URL": f"redis://{HOST}:{self.redis_port}/0",
            "PATH": os.environ.get("PATH", ""),
        }
        for index in range(processes):
            self.servers.append(await self.start_server(f"p{index}", free_port()))
        if processes == 1:
            self.front_port = self.servers[0].port
        else:
            await self.start_nginx()

    async def start_server(self, name: str, port: int) -> ServerProcess:
        env = {**self.env, "BIND_ADDR": f"{HOST}:{port}"}
        server = ServerProcess(
            name, [sys.executable, "-m", "groupchat", "serve"], env, self.workdir
        )
        server.port = port
        await wait_http(port, "/healthz", server)
        return server

    async def start_redis(self) -> None:
        args = ["--port", str(self.redis_port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        self.redis = spawn(["redis-server", *args])
        await wait_port(self.redis_port)

    async def start_nginx(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        self.front_port = free_port()
        site = (ROOT / "deploy" / "nginx.conf").read_text()
        site = site.replace("127.0.0.1:3001", f"127.0.0.1:{self.servers[0].port}")
        site = site.replace("127.0.0.1:3002", f"127.0.0.1:{self.servers[1].port}")
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.front_port};")
        tmp = self.workdir
        (tmp / "groupchat.conf").write_text(site)
        kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        temps = " ".join(f"{kind}_temp_path {tmp}/{kind};" for kind in kinds)
        user = "user root;" if os.geteuid() == 0 else ""
        (tmp / "nginx.conf").write_text(
            f"{user} daemon off; worker_processes 1; pid {tmp}/nginx.pid;"
            f" error_log {tmp}/nginx-error.log; events {{ worker_connections 4096; }}\n"
            f"http {{ access_log off; {temps} include {tmp}/groupchat.conf; }}\n"
        )
        self.nginx = spawn([binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")])
        await wait_port(self.front_port)

    async def restart_redis(self) -> None:
        assert self.redis is not None
        stop_process(self.redis)
        await asyncio.sleep(1.0)
        await self.start_redis()

    async def kill_and_restart(self, index: int) -> None:
        server = self.servers[index]
        server.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(server.proc.wait)
        self.servers[index] = await self.start_server(f"{server.name}r", server.port)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        for proc in (self.nginx, self.redis):
            if proc is not None:
                stop_process(proc)


def spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL)


async def wait_port(port: int) -> None:
    for _ in range(500):
        if await port_open(port):
            return
        await asyncio.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


async def port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(HOST, port)
    except OSError:
        return False
    writer.close()
    return True


async def wait_http(port: int, path: str, server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=2) as http:
        for _ in range(400):
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{server.name} did not start:\n{server.log_tail()}")


async def reset_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def fds(server: ServerProcess) -> int:
    return len(os.listdir(f"/proc/{server.pid}/fd"))


async def setup_users(http: httpx.AsyncClient, count: int) -> list[tuple[str, str, str]]:
    """(username, token, room_id) per client: ROOM_SIZE users per public room."""

    async def sign_up(index: int) -> str:
        body = {"username": f"soak{index}", "password": "soak-password-1"}
        resp = await http.post("/api/auth/register", json=body)
        resp.raise_for_status()
        return str(resp.json()["token"])

    tokens = await asyncio.gather(*(sign_up(i) for i in range(count)))
    rooms: list[str] = []
    for start in range(0, count, ROOM_SIZE):
        owner = {"Authorization": f"Bearer {tokens[start]}"}
        resp = await http.post(
            "/api/rooms", json={"name": f"r{start}", "is_public": True}, headers=owner
        )
        resp.raise_for_status()
        room_id = resp.json()["id"]
        for token in tokens[start + 1 : start + ROOM_SIZE]:
            joined = await http.post(
                f"/api/rooms/{room_id}/join", headers={"Authorization": f"Bearer {token}"}
            )
            joined.raise_for_status()
        rooms.append(room_id)
    return [(f"soak{i}", token, rooms[i // ROOM_SIZE]) for i, token in enumerate(tokens)]


async def stored_ids(http: httpx.AsyncClient, token: str, room_id: str) -> list[str]:
    """Every stored message of the room, newest page first, paging back with before=."""
    ids: list[str] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"before": before} if before else {})}
        resp = await http.get(
            f"/api/rooms/{room_id}/messages",
            params=params,
            headers={"Authorization": f"Bearer {token}"},
        )
        page = resp.json()
        ids = [m["id"] for m in page["messages"]] + ids
        if not page["has_more"] or not page["messages"]:
            return ids
        before = ids[0]


async def run(args: argparse.Namespace, processes: int) -> str:
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    deployment = Deployment(workdir, args.pg_url)
    try:
        await deployment.start(processes)
        base = f"http://{HOST}:{deployment.front_port}"
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
            users = await setup_users(http, args.clients)
            before = [(s.rss_kib(), fds(s)) for s in deployment.servers]
            tally = Tally()
            ws_url = f"ws://{HOST}:{deployment.front_port}/ws"
            go = asyncio.Event()
            clients = [Client(ws_url, *user, tally, go) for user in users]
            tasks = [
                asyncio.create_task(c.run(http, args.rate, args.reconnect_every)) for c in clients
            ]
            async with asyncio.timeout(60):
                await asyncio.gather(*(c.joined.wait() for c in clients))
            go.set()
            await traffic(args, deployment, processes)
            for client in clients:
                client.posting = False
            await settle(tally)  # the last posts are acknowledged and delivered
            offline = [c for c in clients if not c.connected]
            for client in clients:
                client.stop = True
                client.leave.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await check(http, clients, offline, tally)
        await asyncio.sleep(3)
        after = [(s.rss_kib(), fds(s)) for s in deployment.servers]
        return report(args, processes, tally, before, after)
    finally:
        deployment.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def settle(tally: Tally) -> None:
    """Wait until deliveries stopped for SETTLE_QUIET seconds (at most SETTLE_MAX)."""
    for _ in range(int(SETTLE_MAX / 0.5)):
        if time.monotonic() - tally.last_delivery >= SETTLE_QUIET:
            return
        await asyncio.sleep(0.5)


async def traffic(args: argparse.Namespace, deployment: Deployment, processes: int) -> None:
    """Let the clients run for the duration; with --faults, break things on the way."""
    if not args.faults:
        await asyncio.sleep(args.duration)
        return
    await asyncio.sleep(args.duration / 3)
    await deployment.restart_redis()
    await asyncio.sleep(args.duration / 3)
    await deployment.kill_and_restart(processes - 1)
    await asyncio.sleep(args.duration / 3)


async def check(
    http: httpx.AsyncClient, clients: list[Client], offline: list[Client], tally: Tally
) -> None:
    """A client caught between two connections at the end catches up as its next connection
    would (the web client does); every other view must hold every stored message as is."""
    tally.offline_at_end = len(offline)
    for client in offline:
        await client._catch_up(http)
    stored_all: set[str] = set()
    by_room: dict[str, list[str]] = {}
    for client in clients:
        if client.room_id not in by_room:
            by_room[client.room_id] = await stored_ids(http, client.token, client.room_id)
            stored_all.update(by_room[client.room_id])
        tally.lost += len(set(by_room[client.room_id]) - client.ids)
    tally.unstored = len(tally.acked_ids - stored_all)


def report(
    args: argparse.Namespace,
    processes: int,
    tally: Tally,
    before: list[tuple[int, int]],
    after: list[tuple[int, int]],
) -> str:
    where = "1 process" if processes == 1 else f"{processes} processes behind nginx"
    lines = [
        f"{where}, {args.clients} clients × {args.rate:g}/s for {args.duration:g} s"
        + (", faults (Redis restart, kill -9 + restart)" if args.faults else ""),
        f"  posted {tally.posted} ({tally.acked / args.duration:.0f} acknowledged/s,"
        f" {tally.skipped} beats skipped at {OUTSTANDING} unacknowledged,"
        f" {tally.echoes} own posts echoed without client_id),"
        f" live deliveries {tally.delivered},"
        f" reconnects {tally.reconnects}, resync frames {tally.resyncs},"
        f" offline at the end (caught up) {tally.offline_at_end}",
        f"  lost {tally.lost}, duplicated {tally.duplicated}, out of order {tally.out_of_order},"
        f" acknowledged but not stored {tally.unstored}",
    ]
    for index, ((rss0, fd0), (rss1, fd1)) in enumerate(zip(before, after, strict=True)):
        lines.append(
            f"  p{index}: RSS {rss0 / 1024:.0f} → {rss1 / 1024:.0f} MiB"
            f" ({(rss1 - rss0) / 1024:+.0f}), open fds {fd0} → {fd1}"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    modes = {"one": [1], "two": [2], "both": [1, 2]}[args.mode]
    for processes in modes:
        print(await run(args, processes), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
