"""Fan-out benchmark: GroupChat against a minimal `websockets` broadcast() relay, in one run.

    .venv/bin/python bench/fanout.py [--quick] [--receivers N] [--messages M]

The servers run as subprocesses (pinned to CPU 0 when there are 2+ CPUs); the receiving and
posting clients run in this process (pinned to the other CPUs). Only 127.0.0.1 is used.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from measure import FanoutResult, run_target
from profile_summary import summary
from servers import ServerProcess, start_baseline, start_groupchat, stop_process
from stall import StallResult, messages_to_overflow, stalled_readers
from targets import BaselineTarget, GroupChatTarget, register_users, shared_room

STALL_HEALTHY, STALL_STALLED = 50, 2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receivers", "-n", type=int, default=None, help="N (default 500)")
    parser.add_argument("--messages", "-m", type=int, default=None, help="M (default 200)")
    parser.add_argument("--quick", action="store_true", help="N=100, M=50")
    parser.add_argument("--posters", type=int, default=4, help="concurrent posters (4)")
    parser.add_argument("--send-queue", type=int, default=1024, help="GroupChat WS_SEND_QUEUE")
    parser.add_argument(
        "--stall-messages", type=int, default=None, help="messages of the stalled-reader check"
    )
    parser.add_argument("--no-stall", action="store_true", help="skip the stalled-reader check")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--timeout", type=float, default=900, help="overall limit in seconds")
    parser.add_argument(
        "--py-spy", type=Path, default=None, metavar="DIR", help="profile both fan-outs into DIR"
    )
    args = parser.parse_args(argv)
    quick_n, quick_m = (100, 50) if args.quick else (500, 200)
    args.receivers = args.receivers or quick_n
    args.messages = args.messages or quick_m
    args.stall_messages = args.stall_messages or messages_to_overflow(args.send_queue)
    if min(args.receivers, args.messages, args.posters, args.send_queue) < 1:
        parser.error("counts must be positive")
    return args


ALL_CPUS = sorted(os.sched_getaffinity(0))  # read before pin() narrows ours (children inherit it)


def pin(server: ServerProcess, enabled: bool) -> None:
    """Give the server the first CPU and this process the rest, so each side has its own core."""
    if enabled and len(ALL_CPUS) >= 2:
        os.sched_setaffinity(server.pid, {ALL_CPUS[0]})
        os.sched_setaffinity(0, set(ALL_CPUS[1:]))


async def measure_groupchat(
    args: argparse.Namespace, workdir: Path
) -> tuple[FanoutResult, StallResult | None, tuple[bytes, bytes]]:
    """(a) and (c) against one GroupChat server; also a sample frame for the baseline to send."""
    server = await start_groupchat(workdir, args.send_queue)
    try:
        pin(server, not args.no_pin)
        users = max(args.receivers, STALL_HEALTHY + STALL_STALLED)
        owner, tokens = await register_users(server.port, users)
        room = await shared_room(server.port, owner, tokens[: args.receivers], "fanout")
        target = GroupChatTarget(server, room, owner, tokens)
        result, warm = await run_target(
            target, *_sizes(args), _fanout_timeout(args), _profile(args, "groupchat")
        )
        stall = None if args.no_stall else await _stall(args, server, owner, tokens)
    finally:
        stop_process(server.proc)
    assert warm.sample is not None
    return result, stall, warm.sample


async def _stall(
    args: argparse.Namespace, server: ServerProcess, owner: str, tokens: list[str]
) -> StallResult:
    members = tokens[: STALL_HEALTHY + STALL_STALLED]
    room = await shared_room(server.port, owner, members, "stalled readers")
    target = GroupChatTarget(server, room, owner, tokens)
    return await stalled_readers(
        target, STALL_HEALTHY, STALL_STALLED, args.stall_messages, args.posters
    )


async def measure_baseline(
    args: argparse.Namespace, workdir: Path, sample: tuple[bytes, bytes]
) -> FanoutResult:
    """(b): the same receivers and messages against the websockets broadcast() relay."""
    server = await start_baseline(workdir)
    try:
        pin(server, not args.no_pin)
        target = BaselineTarget(server, *sample)
        result, _ = await run_target(
            target, *_sizes(args), _fanout_timeout(args), _profile(args, "baseline")
        )
    finally:
        stop_process(server.proc)
    return result


def _sizes(args: argparse.Namespace) -> tuple[int, int, int]:
    return args.receivers, args.messages, args.posters


def _profile(args: argparse.Namespace, name: str) -> Path | None:
    if args.py_spy is None:
        return None
    args.py_spy.mkdir(parents=True, exist_ok=True)
    return Path(args.py_spy, f"{name}.txt").resolve()


def _fanout_timeout(args: argparse.Namespace) -> float:
    return max(60.0, float(args.receivers * args.messages) / 2000)


async def main_async(args: argparse.Namespace) -> str:
    """Everything, within args.timeout; the report as text."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    load = os.getloadavg()
    try:
        async with asyncio.timeout(args.timeout) as limit:
            with tempfile.TemporaryDirectory(prefix="groupchat-fanout-") as tmp:
                groupchat, stall, sample = await measure_groupchat(args, Path(tmp))
                baseline = await measure_baseline(args, Path(tmp), sample)
    except TimeoutError:
        if limit.expired():
            raise RuntimeError(f"gave up after --timeout {args.timeout:g} s") from None
        raise
    return report(args, groupchat, baseline, stall, load)


def report(
    args: argparse.Namespace,
    gc: FanoutResult,
    base: FanoutResult,
    stall: StallResult | None,
    load: tuple[float, float, float],
) -> str:
    """The table: raw numbers per server and the GroupChat/baseline ratio."""
    lines = [
        f"fan-out: N={args.receivers} receivers, M={args.messages} messages, "
        f"{args.posters} posters, WS_SEND_QUEUE={args.send_queue}",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs ({cpu_model()}), "
        f"Python {platform.python_version()}, load average before {load[0]:.2f}"
        f"{_pinning(args)}",
        f"{'':30}{'GroupChat':>12}{'baseline':>12}{'GC/base':>10}",
    ]
    for label, value, fmt in ROWS:
        a, b = value(gc), value(base)
        ratio = f"{a / b:10.2f}" if b else f"{'-':>10}"
        lines.append(f"{label:30}{a:12{fmt}}{b:12{fmt}}{ratio}")
    if stall is not None:
        lines += stall_lines(stall)
    if args.py_spy is not None:
        lines += [summary(args.py_spy / f"{name}.txt") for name in ("groupchat", "baseline")]
    return "\n".join(lines)


def _pinning(args: argparse.Namespace) -> str:
    if args.no_pin or len(ALL_CPUS) < 2:
        return ", not pinned"
    return f", servers pinned to CPU {ALL_CPUS[0]}, clients to the rest"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else the platform's guess."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


ROWS: list[tuple[str, Callable[[FanoutResult], float], str]] = [
    ("deliveries/s", lambda r: r.per_second, ",.0f"),
    ("p50 latency ms", lambda r: r.latency_ms(0.50), ".1f"),
    ("p99 latency ms", lambda r: r.latency_ms(0.99), ".1f"),
    ("KiB per idle socket", lambda r: r.kib_per_socket, ".1f"),
    ("server CPU s (fan-out)", lambda r: r.server_cpu, ".2f"),
    ("server CPU busy %", lambda r: r.busy_percent, ".0f"),
    ("deliveries per server CPU-s", lambda r: r.per_cpu_second, ",.0f"),
    ("server CPU ms per post, alone", lambda r: r.post_ms, ".2f"),
    ("server CPU us per delivery", lambda r: r.delivery_us, ".1f"),
    ("CPU pressure % (PSI some)", lambda r: r.pressure, ".0f"),
    ("client CPU s (fan-out)", lambda r: r.client_cpu, ".2f"),
    ("elapsed s", lambda r: r.elapsed, ".2f"),
    ("bytes per frame", lambda r: r.frame_bytes, ".0f"),
    ("delivered / expected %", lambda r: 100 * r.delivered / max(1, r.expected), ".1f"),
    ("sockets closed by server", lambda r: r.closed_by_server, "d"),
]


def stall_lines(stall: StallResult) -> list[str]:
    """The stalled-reader check: one line for the healthy readers, one per stalled reader."""
    lines = [
        f"stalled readers (GroupChat): {stall.healthy} healthy + {stall.stalled} that never read,"
        f" {stall.messages} messages in {stall.seconds:.1f} s",
        f"  healthy receivers got {stall.healthy_delivered}/{stall.healthy * stall.messages}"
        f" ({100 * stall.healthy_fraction:.1f} %), p99 latency {stall.healthy_p99_ms:.0f} ms",
    ]
    for number, (how, got, held) in enumerate(
        zip(stall.stalled_outcomes, stall.stalled_received, stall.server_held, strict=True), 1
    ):
        lines.append(
            f"  stalled #{number}: {held} on the server's side while it did not read;"
            f" reading again: {got} messages, then {how}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run on uvloop when installed; servers are stopped on any exit (Ctrl-C, SIGTERM, error)."""
    args = parse_args(argv)
    factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            print(runner.run(main_async(args)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: servers stopped", file=sys.stderr)
        return 130
    except (RuntimeError, OSError) as exc:
        print(f"fanout: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
