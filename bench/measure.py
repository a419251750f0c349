"""The measurements: idle-socket memory, fan-out throughput and latency, stalled readers."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rawws import Sink, WsClient
from servers import cpu_pressure_us, py_spy
from targets import Target

MARK = b"fanout-"  # + 6 digits: the message's sequence number, read back by every receiver
WARM = b"warmup-"
PACED = b"paced-"
PACED_RATE = 20.0  # messages per second in the latency run: a busy room, not a saturated server
FILLER = "lorem ipsum dolor sit amet "
OPEN_CONCURRENCY = 25


def ignore(payload: bytes, now: float) -> bool:
    """A sink for sockets that are not being measured."""
    return False


class Tally:
    """Counts the frames carrying `marker`; latency = receipt time - post time of that message."""

    def __init__(self, marker: bytes, messages: int, receivers: int, padding: int = 0) -> None:
        self.marker, self._skip = marker, len(marker)
        self.padding = (" " + FILLER * (padding // len(FILLER) + 1))[:padding]
        self.post_times = [0.0] * messages
        self._last_seq = messages - 1
        self.expected = messages * receivers
        self.latencies: list[float] = []
        self.frame_bytes = 0
        self.last = 0.0
        self.sample: tuple[bytes, bytes] | None = None  # (a whole frame, its content)
        self.done = asyncio.Event()

    def content(self, seq: int) -> str:
        return f"{self.marker.decode()}{seq:06d}{self.padding}"

    def sink(self, payload: bytes, now: float) -> bool:
        """The hot path: one find(), one int(), one append per delivered frame."""
        at = payload.find(self.marker)
        if at < 0:
            return False
        seq = int(payload[at + self._skip : at + self._skip + 6])
        self.latencies.append(now - self.post_times[seq])
        self.frame_bytes += len(payload)
        self.last = now
        if seq == self._last_seq:  # a typical frame: the room's first message has no prev_hash
            self.sample = (payload, payload[at : at + self._skip + 6])
        if len(self.latencies) >= self.expected:
            self.done.set()
        return True


@dataclass
class FanoutResult:
    """One server's numbers."""

    name: str
    receivers: int
    messages: int
    kib_per_socket: float = 0.0
    delivered: int = 0
    elapsed: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    frame_bytes: float = 0.0
    latencies: list[float] = field(default_factory=list)
    closed_by_server: int = 0
    solo_cpu: float = 0.0  # server CPU to take the same posts with nobody listening
    pressure: float = 0.0  # % of the fan-out during which some task waited for a CPU (PSI)
    paced: list[float] = field(default_factory=list)  # latencies at PACED_RATE messages/s
    paced_expected: int = 0

    @property
    def expected(self) -> int:
        return self.receivers * self.messages

    @property
    def per_second(self) -> float:
        return self.delivered / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def busy_percent(self) -> float:
        """Server CPU time over wall time of the fan-out: near 100 means the server was the
        bottleneck."""
        return 100 * self.server_cpu / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Deliveries per second of server CPU: less sensitive to a busy machine than /s."""
        return self.delivered / self.server_cpu if self.server_cpu > 0 else 0.0

    @property
    def post_ms(self) -> float:
        """Server CPU per post when nobody listens (REST, auth, storage; relay: recv + ack)."""
        return 1000 * self.solo_cpu / self.messages

    @property
    def delivery_us(self) -> float:
        """Server CPU per delivery, the posts' own cost taken out."""
        return 1e6 * (self.server_cpu - self.solo_cpu) / max(1, self.delivered)

    def latency_ms(self, quantile: float) -> float:
        """The quantile of delivery latency in ms (nearest rank), at saturation."""
        return quantile_ms(self.latencies, quantile)

    def paced_ms(self, quantile: float) -> float:
        """The quantile of delivery latency in ms at PACED_RATE messages/s."""
        return quantile_ms(self.paced, quantile)


def quantile_ms(latencies: list[float], quantile: float) -> float:
    """The quantile of `latencies` (seconds) in ms, nearest rank."""
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


async def open_receivers(target: Target, indexes: Iterable[int], sink: Sink) -> list[WsClient]:
    """Open (and, for GroupChat, join) receivers, OPEN_CONCURRENCY at a time."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)

    async def one(index: int) -> WsClient:
        async with gate:
            return await target.open_receiver(index, sink)

    return list(await asyncio.gather(*(one(i) for i in indexes)))


async def idle_memory(target: Target, count: int, sink: Sink) -> tuple[list[WsClient], float]:
    """Open `count` receivers; KiB of server RSS per socket, measured over all but a warm-up few
    (the first sockets also pay for lazily imported code and first-use caches)."""
    warm = min(2 * OPEN_CONCURRENCY, count // 4)  # + GroupChat's database pool at full size
    first = await open_receivers(target, range(warm), sink)
    await asyncio.sleep(0.5)
    before = target.server.rss_kib()
    rest = await open_receivers(target, range(warm, count), sink)
    await asyncio.sleep(1.0)
    after = target.server.rss_kib()
    return first + rest, (after - before) / max(1, count - warm)


async def post_all(target: Target, tally: Tally, messages: int, posters: int) -> None:
    """Post `messages` messages from `posters` concurrent posters, stamping each post time."""
    work = iter(range(messages))

    async def poster(index: int) -> None:
        for seq in work:
            tally.post_times[seq] = time.perf_counter()  # the clock rawws stamps receipts with
            await target.post(index, tally.content(seq))

    await asyncio.gather(*(poster(i) for i in range(posters)))


async def wait_done(tally: Tally, wait_s: float) -> bool:
    """Wait for every expected delivery; False after `wait_s` (the result is then partial)."""
    try:
        async with asyncio.timeout(wait_s):
            await tally.done.wait()
    except TimeoutError:
        return False
    return True


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def warm_up(target: Target, receivers: list[WsClient], messages: int = 5) -> Tally:
    """A few messages nobody measures (first-use costs); the tally keeps a sample frame."""
    tally = Tally(WARM, messages, len(receivers))
    for ws in receivers:
        ws.sink = tally.sink
    await post_all(target, tally, messages, 1)
    if not await wait_done(tally, 60):
        raise RuntimeError(f"{target.name}: the warm-up messages were not all delivered")
    return tally


async def fanout(
    target: Target, receivers: list[WsClient], messages: int, posters: int, wait_s: float
) -> FanoutResult:
    """Post `messages` and wait until every receiver has them all (at most `wait_s`)."""
    result = FanoutResult(target.name, len(receivers), messages)
    tally = Tally(MARK, messages, len(receivers))
    for ws in receivers:
        ws.sink = tally.sink
    cpu_server, cpu_client, psi = target.server.cpu_seconds(), client_cpu(), cpu_pressure_us()
    await post_all(target, tally, messages, posters)
    await wait_done(tally, wait_s)
    result.server_cpu = target.server.cpu_seconds() - cpu_server
    result.client_cpu = client_cpu() - cpu_client
    wall = time.perf_counter() - tally.post_times[0]
    result.pressure = (cpu_pressure_us() - psi) / 1e4 / wall
    result.delivered, result.latencies = len(tally.latencies), tally.latencies
    result.elapsed = tally.last - tally.post_times[0]
    result.frame_bytes = tally.frame_bytes / max(1, result.delivered)
    result.closed_by_server = sum(ws.close_code is not None for ws in receivers)
    return result


async def run_target(
    target: Target,
    receivers: int,
    messages: int,
    posters: int,
    wait_s: float,
    profile: Path | None = None,
) -> tuple[FanoutResult, Tally]:
    """Posts with nobody listening, idle memory, warm-up, then the measured fan-out (sampled by
    py-spy into `profile`, if set); all sockets are closed after. Latency at PACED_RATE is
    measured afterwards, for every server at once (`paced_together`)."""
    await target.open_posters(posters)
    solo_cpu = await solo_posts(target, messages, posters)
    sockets, kib = await idle_memory(target, receivers, ignore)
    try:
        warm = await warm_up(target, sockets)
        with py_spy(target.server.pid, profile):
            result = await fanout(target, sockets, messages, posters, wait_s)
    finally:
        target.close_posters()
        close_all(sockets)
    result.kib_per_socket, result.solo_cpu = kib, solo_cpu
    return result, warm


async def paced_together(targets: Sequence[Target], receivers: int, messages: int) -> list[Tally]:
    """Delivery latencies at PACED_RATE messages/s, every target at once: each gets `receivers`
    sockets and one poster, and in each period of 1/PACED_RATE s each target posts once, evenly
    spaced, the order turning every period. Measured one after another, the same relay's p99
    differed by up to 1.6x between runs a few minutes apart on a virtual machine; interleaved,
    such drift falls on every server alike."""
    opened: list[list[WsClient]] = []
    try:
        for target in targets:
            await target.open_posters(1)
            opened.append(await open_receivers(target, range(receivers), ignore))
            await warm_up(target, opened[-1])
        tallies = [Tally(PACED, messages, receivers) for _ in targets]
        for sockets, tally in zip(opened, tallies, strict=True):
            for ws in sockets:
                ws.sink = tally.sink
        await _post_paced(list(zip(targets, tallies, strict=True)), messages)
        for target, tally in zip(targets, tallies, strict=True):
            if not await wait_done(tally, 30):
                print(f"{target.name}: some paced messages were not delivered", file=sys.stderr)
        return tallies
    finally:
        for target, sockets in zip(targets, opened, strict=False):
            target.close_posters()
            close_all(sockets)


async def _post_paced(targets: list[tuple[Target, Tally]], messages: int) -> None:
    slot = 1 / PACED_RATE / len(targets)
    start = time.perf_counter()
    for seq in range(messages):
        turn = seq % len(targets)
        for k, (target, tally) in enumerate(targets[turn:] + targets[:turn]):
            delay = start + seq / PACED_RATE + k * slot - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tally.post_times[seq] = time.perf_counter()
            await target.post(0, tally.content(seq))


async def solo_posts(target: Target, messages: int, posters: int) -> float:
    """Server CPU seconds to take `messages` posts that reach no socket (after 5 unmeasured)."""
    await post_all(target, Tally(WARM, 5, 0), 5, 1)
    before = target.server.cpu_seconds()
    await post_all(target, Tally(WARM, messages, 0), messages, posters)
    return target.server.cpu_seconds() - before


def close_all(sockets: Iterable[WsClient]) -> None:
    for ws in sockets:
        with contextlib.suppress(Exception):
            ws.close()
