"""Fan-out benchmark: GroupChat against a bare `websockets` broadcast() relay and Node's `ws`.

    .venv/bin/python bench/fanout.py [--quick] [--receivers N] [--messages M] [--idle-sockets K]

The servers run as subprocesses (pinned to CPU 0 when there are 2+ CPUs); the receiving and
posting clients run in this process (pinned to the other CPUs). Only 127.0.0.1 is used.
Node's `ws` needs `node` and `npm install` in bench/; without them its column is skipped.
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
from collections.abc import Awaitable, Callable
from pathlib import Path

from idle import IdleResult, idle_at_scale
from measure import FanoutResult, paced_together, run_target
from profile_summary import summary
from servers import (
    ServerProcess,
    node_missing,
    run_report,
    start_baseline,
    start_groupchat,
    start_node,
    stop_process,
)
from stall import StallResult, messages_to_overflow, stalled_readers
from targets import BaselineTarget, GroupChatTarget, Target, register_users, shared_room

STALL_RECEIVERS_MAX = 200  # the stalled-reader check uses min(N, this) receivers, 1 % stalled
STALL_GONE_TARGET_S = 5.0
# The p99 of a fan-out's deliveries is set by its few slowest messages (each one's receivers
# are late together): at 100 messages, by the slowest one, and it differed by up to 1.6x
# between runs. 600 take 30 s at 20/s, all servers at once (measure.paced_together).
PACED_MESSAGES = 600


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--receivers", "-n", type=int, default=None, help="N (default 200)")
    parser.add_argument("--messages", "-m", type=int, default=None, help="M (default 200)")
    parser.add_argument("--quick", action="store_true", help="N=100, M=50, 40 paced")
    parser.add_argument("--posters", type=int, default=4, help="concurrent posters (4)")
    parser.add_argument(
        "--post-via", choices=("ws", "rest"), default="ws", help="GroupChat posts over (ws)"
    )
    parser.add_argument(
        "--paced-messages", type=int, default=None, help="at 20/s, per server (600)"
    )
    parser.add_argument("--idle-sockets", type=int, default=0, help="K idle sockets (0: skip)")
    parser.add_argument(
        "--stall-messages", type=int, default=None, help="messages of the stalled-reader check"
    )
    parser.add_argument("--no-stall", action="store_true", help="skip the stalled-reader check")
    parser.add_argument("--no-node", action="store_true", help="skip Node's ws")
    parser.add_argument("--no-pin", action="store_true", help="do not pin CPUs")
    parser.add_argument("--timeout", type=float, default=900, help="overall limit in seconds")
    parser.add_argument(
        "--py-spy", type=Path, default=None, metavar="DIR", help="profile the fan-outs into DIR"
    )
    args = parser.parse_args(argv)
    quick_n, quick_m, quick_p = (100, 50, 40) if args.quick else (200, 200, PACED_MESSAGES)
    args.receivers = args.receivers or quick_n
    args.messages = args.messages or quick_m
    args.paced_messages = args.paced_messages or quick_p
    args.stall_messages = args.stall_messages or messages_to_overflow()
    if min(args.receivers, args.messages, args.posters, args.paced_messages) < 1:
        parser.error("counts must be positive")
    return args


ALL_CPUS = sorted(os.sched_getaffinity(0))  # read before pin() narrows ours (children inherit it)


def pin(server: ServerProcess, enabled: bool) -> None:
    """Give the server the first CPU and this process the rest, so each side has its own core."""
    if enabled and len(ALL_CPUS) >= 2:
        server.pin({ALL_CPUS[0]})
        os.sched_setaffinity(0, set(ALL_CPUS[1:]))


class Run:
    """Everything one run measured."""

    def __init__(self) -> None:
        self.results: dict[str, FanoutResult] = {}
        self.stall: StallResult | None = None
        self.idle: IdleResult | None = None
        self.notes: list[str] = []


async def measure_groupchat(
    args: argparse.Namespace, workdir: Path, run: Run, servers: contextlib.ExitStack
) -> tuple[GroupChatTarget, tuple[bytes, bytes]]:
    """Fan-out, stalled readers and idle sockets at scale against one GroupChat server, which
    stays up for the latency run; a sample frame for the relays to send."""
    server = await start_groupchat(workdir)
    servers.callback(stop_process, server.proc)
    pin(server, not args.no_pin)
    users = max(args.receivers, STALL_RECEIVERS_MAX)
    owner, tokens = await register_users(server.port, users)
    room = await shared_room(server.port, owner, tokens[: args.receivers], "fanout")
    target = GroupChatTarget(server, room, owner, tokens[: args.receivers], args.post_via)
    run.results["GroupChat"], warm = await run_target(
        target, *_sizes(args), _fanout_timeout(args), _profile(args, "groupchat")
    )
    if not args.no_stall:
        run.stall = await _stall(args, server, owner, tokens)
    if args.idle_sockets:
        run.idle = await idle_at_scale(target, args.idle_sockets)
    assert warm.sample is not None
    return target, warm.sample


async def _stall(
    args: argparse.Namespace, server: ServerProcess, owner: str, tokens: list[str]
) -> StallResult:
    receivers = min(args.receivers, STALL_RECEIVERS_MAX)
    stalled = max(1, receivers // 100)
    members = tokens[:receivers]
    room = await shared_room(server.port, owner, members, "stalled readers")
    target = GroupChatTarget(server, room, owner, members, args.post_via)
    return await stalled_readers(
        target, receivers - stalled, stalled, args.stall_messages, args.posters
    )


async def measure_relay(
    args: argparse.Namespace,
    workdir: Path,
    sample: tuple[bytes, bytes],
    start: Callable[[Path], Awaitable[ServerProcess]],
    name: str,
    servers: contextlib.ExitStack,
) -> tuple[BaselineTarget, FanoutResult]:
    """The same receivers and messages against a relay (websockets or Node ws), which stays up
    for the latency run."""
    server = await start(workdir)
    servers.callback(stop_process, server.proc)
    pin(server, not args.no_pin)
    target = BaselineTarget(server, *sample, name=name)
    run_result, _ = await run_target(
        target, *_sizes(args), _fanout_timeout(args), _profile(args, name)
    )
    return target, run_result


async def measure_latency(args: argparse.Namespace, run: Run, targets: list[Target]) -> None:
    """Latency at 20 messages/s, every server at once (measure.paced_together)."""
    tallies = await paced_together(targets, args.receivers, args.paced_messages)
    for target, tally in zip(targets, tallies, strict=True):
        result = run.results[target.name]
        result.paced, result.paced_expected = tally.latencies, tally.expected


def _sizes(args: argparse.Namespace) -> tuple[int, int, int]:
    return args.receivers, args.messages, args.posters


def _profile(args: argparse.Namespace, name: str) -> Path | None:
    if args.py_spy is None:
        return None
    args.py_spy.mkdir(parents=True, exist_ok=True)
    return Path(args.py_spy, f"{name.replace(' ', '-')}.txt").resolve()


def _fanout_timeout(args: argparse.Namespace) -> float:
    return max(60.0, float(args.receivers * args.messages) / 2000)


async def main_async(args: argparse.Namespace) -> str:
    """Everything, within args.timeout; the report as text."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    load, run = os.getloadavg(), Run()
    try:
        async with asyncio.timeout(args.timeout) as limit:
            with (
                tempfile.TemporaryDirectory(prefix="groupchat-fanout-") as tmp,
                contextlib.ExitStack() as servers,
            ):
                gc_target, sample = await measure_groupchat(args, Path(tmp), run, servers)
                targets: list[Target] = [gc_target]
                relays = [("websockets", start_baseline)]
                missing = "skipped (--no-node)" if args.no_node else node_missing()
                if missing is None:
                    relays.append(("node ws", start_node))
                else:
                    run.notes.append(f"Node ws column skipped: {missing}")
                for name, start in relays:
                    target, run.results[name] = await measure_relay(
                        args, Path(tmp), sample, start, name, servers
                    )
                    targets.append(target)
                await measure_latency(args, run, targets)
    except TimeoutError:
        if limit.expired():
            raise RuntimeError(f"gave up after --timeout {args.timeout:g} s") from None
        raise
    return report(args, run, load)


def report(args: argparse.Namespace, run: Run, load: tuple[float, float, float]) -> str:
    """The table: raw numbers per server, ratios to each relay, then the targets."""
    names = list(run.results)
    relays = names[1:]
    lines = [
        f"fan-out: N={args.receivers} receivers, M={args.messages} messages, "
        f"{args.posters} posters (GroupChat over {args.post_via}); {args.paced_messages} more"
        " at 20/s for latency",
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs ({cpu_model()}), "
        f"Python {platform.python_version()}, load average before {load[0]:.2f}"
        f"{_pinning(args)}",
        f"{'':32}"
        + "".join(f"{n:>12}" for n in names)
        + "".join(f"{'GC/' + n[:6]:>11}" for n in relays),
    ]
    gc = run.results["GroupChat"]
    for label, value, fmt in ROWS:
        cells = "".join(f"{value(run.results[n]):12{fmt}}" for n in names)
        ratios = "".join(_ratio(value(gc), value(run.results[n])) for n in relays)
        lines.append(f"{label:32}{cells}{ratios}")
    lines += run.notes
    if run.stall is not None:
        lines += stall_lines(run.stall)
    if run.idle is not None:
        lines.append(idle_line(run.idle))
    lines += target_lines(run)
    if args.py_spy is not None:
        lines += [
            summary(args.py_spy / f"{n.replace(' ', '-')}.txt") for n in ("groupchat", *relays)
        ]
    return "\n".join(lines)


def _div(a: float, b: float) -> float:
    """a / b, or NaN (which meets no target) when b is 0 (too short a run to measure)."""
    return a / b if b else float("nan")


def _ratio(a: float, b: float) -> str:
    return f"{a / b:11.2f}" if b else f"{'-':>11}"


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
    ("deliveries per server CPU-s", lambda r: r.per_cpu_second, ",.0f"),
    ("deliveries/s", lambda r: r.per_second, ",.0f"),
    ("p50 latency ms, 20 msg/s", lambda r: r.paced_ms(0.50), ".1f"),
    ("p99 latency ms, 20 msg/s", lambda r: r.paced_ms(0.99), ".1f"),
    ("p50 latency ms, saturated", lambda r: r.latency_ms(0.50), ".1f"),
    ("p99 latency ms, saturated", lambda r: r.latency_ms(0.99), ".1f"),
    ("KiB per idle socket", lambda r: r.kib_per_socket, ".1f"),
    ("server CPU s (fan-out)", lambda r: r.server_cpu, ".2f"),
    ("server CPU busy %", lambda r: r.busy_percent, ".0f"),
    ("server CPU ms per post, alone", lambda r: r.post_ms, ".2f"),
    ("server CPU us per delivery", lambda r: r.delivery_us, ".1f"),
    ("CPU pressure % (PSI some)", lambda r: r.pressure, ".0f"),
    ("client CPU s (fan-out)", lambda r: r.client_cpu, ".2f"),
    ("bytes per frame", lambda r: r.frame_bytes, ".0f"),
    ("delivered / expected %", lambda r: 100 * r.delivered / max(1, r.expected), ".1f"),
    (
        "paced delivered / expected %",
        lambda r: 100 * len(r.paced) / max(1, r.paced_expected),
        ".1f",
    ),
    ("sockets closed by server", lambda r: r.closed_by_server, "d"),
]


def stall_lines(stall: StallResult) -> list[str]:
    """The stalled-reader check: the healthy readers, how fast the server let go, each stalled."""
    gone = "not within 20 s" if stall.gone_after is None else f"{stall.gone_after:.1f} s"
    lines = [
        f"stalled readers (GroupChat): {stall.healthy} healthy + {stall.stalled} that never read,"
        f" {stall.messages} messages in {stall.seconds:.1f} s",
        f"  healthy receivers got {stall.healthy_delivered}/{stall.healthy * stall.messages}"
        f" ({100 * stall.healthy_fraction:.1f} %), p99 latency {stall.healthy_p99_ms:.0f} ms",
        f"  the server's end of every stalled connection gone {gone} after the last post",
    ]
    for number, (how, got, held) in enumerate(
        zip(stall.stalled_outcomes, stall.stalled_received, stall.server_held, strict=True), 1
    ):
        lines.append(
            f"  stalled #{number}: server side {held}; reading again: {got} messages, then {how}"
        )
    return lines


def idle_line(idle: IdleResult) -> str:
    return (
        f"idle sockets (GroupChat): {idle.opened:,}/{idle.sockets:,} opened and joined in "
        f"{idle.seconds:.1f} s, {idle.kib_per_socket:.1f} KiB each; one message reached "
        f"{idle.delivered:,} of them"
    )


def target_lines(run: Run) -> list[str]:
    """The issue's targets, each with the measured value and whether it was met."""
    gc, base, node = (run.results.get(n) for n in ("GroupChat", "websockets", "node ws"))
    assert gc is not None and base is not None
    checks = [
        ("fan-out per CPU-s >= 1.2x websockets", _div(gc.per_cpu_second, base.per_cpu_second), 1.2),
        (
            "p99 at 20 msg/s <= 1.2x websockets",
            _div(base.paced_ms(0.99), gc.paced_ms(0.99)),
            1 / 1.2,
        ),
        ("KiB per idle socket <= 1.0x websockets", _div(base.kib_per_socket, gc.kib_per_socket), 1),
    ]
    if node is not None:
        vs_node = _div(gc.per_cpu_second, node.per_cpu_second)
        checks.insert(1, ("fan-out per CPU-s >= 1.0x node ws", vs_node, 1.0))
    lines = ["targets:"]
    for label, value, floor in checks:
        lines.append(f"  {label}: {'met' if value >= floor else 'NOT met'}")
    if run.stall is not None:
        ok = run.stall.healthy_fraction == 1.0 and run.stall.gone_after is not None
        ok = ok and run.stall.gone_after <= STALL_GONE_TARGET_S  # type: ignore[operator]
        lines.append(
            f"  1 % stalled: healthy 100 %, stalled gone within 5 s: {'met' if ok else 'NOT met'}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run on uvloop when installed; servers are stopped on any exit (Ctrl-C, SIGTERM, error)."""
    return run_report("fanout", main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
