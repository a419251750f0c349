"""The two servers under test, behind one interface: open a receiver, post a message."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from rawws import HttpClient, Sink, WsClient, open_ws
from servers import HOST, ServerProcess

T = TypeVar("T")
PASSWORD = "bench-password-1"


class Target(Protocol):
    """What the measurements need from a server."""

    name: str
    server: ServerProcess

    async def open_receiver(self, index: int, sink: Sink, rcvbuf: int | None = None) -> WsClient:
        """A socket that receives the room's messages."""
        ...

    async def open_posters(self, count: int) -> None: ...

    async def post(self, poster: int, content: str) -> None:
        """Post one message; returns once the server has accepted (and fanned out) it."""
        ...

    def close_posters(self) -> None: ...


class GroupChatTarget:
    """Receivers join `room_id` over /ws; the owner posts over /ws (`send_message`, as the web
    client does; each poster socket joins the room and waits for its own echo) or over REST."""

    name = "GroupChat"

    def __init__(
        self,
        server: ServerProcess,
        room_id: str,
        owner: str,
        tokens: Sequence[str],
        via: str = "ws",
    ) -> None:
        self.server, self.room_id, self.owner, self.tokens = server, room_id, owner, tokens
        self.via = via
        self._posters: list[HttpClient] = []
        self._ws_posters: list[WsClient] = []
        self._sent = 0

    async def open_receiver(self, index: int, sink: Sink, rcvbuf: int | None = None) -> WsClient:
        path = f"/ws?token={self.tokens[index % len(self.tokens)]}"  # users may have many
        ws = await open_ws(HOST, self.server.port, path, sink, rcvbuf=rcvbuf)
        joined = ws.expect(b'"joined"')
        ws.send_json({"type": "join_room", "room_id": self.room_id})
        async with asyncio.timeout(10):
            await joined
        return ws

    async def open_posters(self, count: int) -> None:
        if self.via == "rest":
            self._posters = [HttpClient(HOST, self.server.port) for _ in range(count)]
            return
        path = f"/ws?token={self.owner}"
        for _ in range(count):
            ws = await open_ws(HOST, self.server.port, path, None)
            joined = ws.expect(b'"joined"')
            ws.send_json({"type": "join_room", "room_id": self.room_id})
            async with asyncio.timeout(10):
                await joined
            self._ws_posters.append(ws)

    async def post(self, poster: int, content: str) -> None:
        if self.via == "ws":
            await self._post_ws(self._ws_posters[poster], content)
            return
        path = f"/api/rooms/{self.room_id}/messages"
        status, body = await self._posters[poster].request(
            "POST", path, {"content": content}, self.owner
        )
        expect_status(status, body, 201, "post a message")

    async def _post_ws(self, ws: WsClient, content: str) -> None:
        """send_message with a fresh client_id; done when the echo naming it arrives."""
        self._sent += 1
        client_id = f"post-{self._sent}"
        echo = ws.expect(f'"client_id":"{client_id}"'.encode())
        frame = {"type": "send_message", "room_id": self.room_id, "content": content}
        ws.send_json({**frame, "client_id": client_id})
        async with asyncio.timeout(30):
            answer = await echo
        if b'"new_message"' not in answer:
            raise RuntimeError(f"post refused: {answer[:300]!r}")

    def close_posters(self) -> None:
        for client in self._posters:
            client.close()
        for ws in self._ws_posters:
            ws.close()
        self._posters, self._ws_posters = [], []


class BaselineTarget:
    """A relay (websockets or Node ws): receivers connect to /recv; each poster is a /send
    socket that waits for the "ack"."""

    def __init__(self, server: ServerProcess, template: bytes, needle: bytes, name: str) -> None:
        self.server, self.template, self.needle, self.name = server, template, needle, name
        self._senders: list[WsClient] = []

    async def open_receiver(self, index: int, sink: Sink, rcvbuf: int | None = None) -> WsClient:
        return await open_ws(HOST, self.server.port, "/recv", sink, rcvbuf=rcvbuf)

    async def open_posters(self, count: int) -> None:
        for _ in range(count):
            self._senders.append(await open_ws(HOST, self.server.port, "/send", None))

    async def post(self, poster: int, content: str) -> None:
        # The same bytes GroupChat sent for a message, with this message's content in it.
        sender = self._senders[poster]
        ack = sender.expect(b"ack")
        sender.send_text(self.template.replace(self.needle, content.encode()))
        async with asyncio.timeout(30):
            await ack

    def close_posters(self) -> None:
        for sender in self._senders:
            sender.close()
        self._senders = []


def expect_status(status: int, body: Any, want: int, what: str) -> None:
    """Raise with the server's answer when a setup call fails."""
    if status != want:
        raise RuntimeError(f"{what}: HTTP {status} {body!r}")


async def pooled(
    port: int, jobs: Sequence[Callable[[HttpClient], Awaitable[T]]], concurrency: int
) -> list[T]:
    """Run jobs on `concurrency` keep-alive connections; results in job order."""
    clients = [HttpClient(HOST, port) for _ in range(max(1, concurrency))]
    work = iter(enumerate(jobs))
    results: dict[int, T] = {}

    async def worker(client: HttpClient) -> None:
        for index, job in work:
            results[index] = await job(client)

    try:
        await asyncio.gather(*(worker(client) for client in clients))
    finally:
        for client in clients:
            client.close()
    return [results[i] for i in range(len(jobs))]


def _register_job(username: str) -> Callable[[HttpClient], Awaitable[str]]:
    async def job(client: HttpClient) -> str:
        body = {"username": username, "password": PASSWORD}
        status, answer = await client.request("POST", "/api/auth/register", body)
        expect_status(status, answer, 201, f"register {username}")
        return str(answer["token"])

    return job


async def register_users(port: int, count: int, concurrency: int = 4) -> tuple[str, list[str]]:
    """Register an owner and `count` receivers; their tokens."""
    names = ["owner"] + [f"r{i:05d}" for i in range(count)]
    tokens = await pooled(port, [_register_job(name) for name in names], concurrency)
    return tokens[0], tokens[1:]


def _accept_job(invite: str, token: str) -> Callable[[HttpClient], Awaitable[None]]:
    async def job(client: HttpClient) -> None:
        status, body = await client.request("POST", f"/api/invites/{invite}/accept", None, token)
        expect_status(status, body, 200, "accept the invite")

    return job


async def shared_room(port: int, owner: str, members: Sequence[str], name: str) -> str:
    """A room of owner + members, joined through one unlimited invite link; its id."""
    client = HttpClient(HOST, port)
    try:
        status, room = await client.request(
            "POST", "/api/rooms", {"name": name, "ai_mode": "off"}, owner
        )
        expect_status(status, room, 201, "create the room")
        invite_body = {"room_id": room["id"], "max_uses": None}
        status, invite = await client.request("POST", "/api/invites", invite_body, owner)
        expect_status(status, invite, 201, "create the invite")
    finally:
        client.close()
    await pooled(port, [_accept_job(invite["token"], token) for token in members], 8)
    return str(room["id"])
