"""Server subprocesses for the benchmark: start, probe, measure (/proc) and always stop."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path

from rawws import HttpClient, open_ws

HOST = "127.0.0.1"
BENCH_DIR = Path(__file__).resolve().parent
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_RUNNING: set[subprocess.Popen[bytes]] = set()


def free_port() -> int:
    """A port the kernel says is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if the benchmark itself is killed (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ServerProcess:
    """One server subprocess in its own session (Ctrl-C reaches only us; we stop it)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name, self.port = name, 0
        self.log_path = workdir / f"{name}.log"
        if "PYTHONPATH" in os.environ:  # e.g. another checkout's src/, to compare two versions
            env = {**env, "PYTHONPATH": os.environ["PYTHONPATH"]}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _RUNNING.add(self.proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pin(self, cpus: set[int]) -> None:
        """Run every thread of the server on `cpus` (sched_setaffinity on the pid alone moves
        the main thread only: GroupChat's post writer and checkpoint threads run already)."""
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except ProcessLookupError:  # a thread that ended meanwhile
                continue

    def rss_kib(self) -> int:
        """VmRSS of the server process, in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError(f"no VmRSS for {self.name}")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (all its threads)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        stop_process(self.proc)


def cpu_pressure_us() -> int:
    """System-wide microseconds during which some runnable task waited for a CPU (PSI), or 0."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return int(first.rpartition("total=")[2])
    except (OSError, IndexError, ValueError):
        return 0


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate one process we started (by its id), then reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    _RUNNING.discard(proc)


@atexit.register
def _stop_all() -> None:
    for proc in list(_RUNNING):
        stop_process(proc)


def groupchat_env(workdir: Path, port: int) -> dict[str, str]:
    """A minimal environment: nothing from ours leaks in (no .env: the cwd is the tmpdir).
    Limits meant for real users (per-user sockets and posts, per-address connections,
    registration) are off: one process plays hundreds of users from one address."""
    return {
        "BIND_ADDR": f"{HOST}:{port}",
        "DATABASE_URL": f"sqlite:///{workdir}/chat.db",
        "UPLOAD_DIR": str(workdir / "uploads"),
        "BACKUP_DIR": str(workdir / "backups"),
        "JWT_SECRET": secrets.token_hex(32),
        "LOG_LEVEL": "warning",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "8192",
        "AUTH_RATE_PER_MINUTE": "0",
        "REGISTRATION_MODE": "open",
        "WS_CONNECTIONS_PER_USER": "0",
        "WS_MESSAGES_PER_SECOND": "0",
        "MAX_CONNECTIONS_PER_IP": "0",
    }


async def start_groupchat(workdir: Path) -> ServerProcess:
    """`python -m groupchat serve` on a free port, ready when /healthz answers 200."""
    port = free_port()
    argv = [sys.executable, "-m", "groupchat", "serve"]
    server = ServerProcess("groupchat", argv, groupchat_env(workdir, port), workdir)
    server.port = port
    await _wait_ready(server, _healthz)
    return server


async def start_baseline(workdir: Path) -> ServerProcess:
    """bench/baseline_server.py on a free port, ready when a WebSocket handshake succeeds."""
    port = free_port()
    argv = [sys.executable, str(BENCH_DIR / "baseline_server.py"), str(port)]
    server = ServerProcess("baseline", argv, {}, workdir)
    server.port = port
    await _wait_ready(server, _handshake)
    return server


def node_missing() -> str | None:
    """Why the Node `ws` relay cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (BENCH_DIR / "node_modules" / "ws").is_dir():
        return "Node's ws is not installed: run `npm install` in bench/"
    return None


async def start_node(workdir: Path) -> ServerProcess:
    """bench/node_ws_server.js (Node's `ws`) on a free port."""
    port = free_port()
    node = shutil.which("node") or "node"
    argv = [node, str(BENCH_DIR / "node_ws_server.js"), str(port)]
    server = ServerProcess("node-ws", argv, {"PATH": os.environ.get("PATH", "")}, workdir)
    server.port = port
    await _wait_ready(server, _handshake)
    return server


async def _healthz(port: int) -> None:
    client = HttpClient(HOST, port)
    try:
        status, _ = await client.request("GET", "/healthz")
        if status != 200:
            raise ConnectionError(f"/healthz answered {status}")
    finally:
        client.close()


async def _handshake(port: int) -> None:
    (await open_ws(HOST, port, "/probe", None)).close()


async def _wait_ready(
    server: ServerProcess, probe: Callable[[int], Awaitable[None]], wait_s: float = 60
) -> None:
    """Probe every 0.1 s until it passes; fail early if the process exits."""
    async with asyncio.timeout(wait_s):
        for _ in range(int(wait_s * 10)):
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
            try:
                await probe(server.port)
                return
            except (OSError, EOFError):
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{server.name} did not become ready:\n{server.log_tail()}")


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """Sample `pid` with `py-spy record` (GIL-holding stacks, raw format) while the block runs."""
    if out is None:
        yield
        return
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        raise RuntimeError("--py-spy needs py-spy: .venv/bin/pip install py-spy")
    # Blocking mode (the default) pauses the server for each sample: consistent stacks, a few
    # per cent slower, so profiled runs are for the shares, not for the table.
    argv = [exe, "record", "--pid", str(pid), "--rate", "200", "--gil"]
    proc = subprocess.Popen(
        [*argv, "--format", "raw", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _RUNNING.add(proc)
    time.sleep(0.5)  # let it attach before the measured phase starts
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            proc.wait(15)
        finally:
            stop_process(proc)


def run_report(name: str, report: Coroutine[object, object, str]) -> int:
    """Run a benchmark's coroutine on uvloop when installed and print its report; servers are
    stopped on any exit (Ctrl-C, SIGTERM, error). The exit status: 0, 1 on error, 130 stopped."""
    factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            print(runner.run(report))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: servers stopped", file=sys.stderr)
        return 130
    except (RuntimeError, OSError) as exc:
        print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0
