"""Memory of a server process under a burst of worst-case image uploads.

Starts `python -m groupchat serve` (a fresh SQLite database in a temporary folder), signs up
`--users` people, then has each upload the same small-but-huge PNG at once: a flat picture of
`--side` × `--side` pixels with an embedded ICC profile, about 100 KB on the wire. It reports the
server's resident memory before, its peak (VmHWM) during the burst, and its resident memory a
few seconds after, plus what each upload answered.

    .venv/bin/python bench/uploads.py                      # 8 uploads of 5000x5000 (the 25 MP cap)
    .venv/bin/python bench/uploads.py --side 5600 --env MAX_IMAGE_PIXELS=32000000
    .venv/bin/python bench/uploads.py --pythonpath /tmp/old/src   # another checkout's code

Everything stays on 127.0.0.1; the server is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import secrets
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from PIL import Image, ImageCms
from servers import HOST, ServerProcess, free_port, groupchat_env


def worst_case_png(side: int) -> bytes:
    """A flat side×side RGB PNG with an ICC profile: tiny to send, costly to decode."""
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (90, 140, 200)).save(buf, "PNG", icc_profile=icc)
    return buf.getvalue()


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


async def start_server(
    workdir: Path, env_extra: dict[str, str], pythonpath: str | None
) -> ServerProcess:
    port = free_port()
    env = groupchat_env(workdir, port) | env_extra
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    server = ServerProcess("groupchat", [sys.executable, "-m", "groupchat", "serve"], env, workdir)
    server.port = port
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}") as http:
        for _ in range(300):
            if server.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + server.log_tail())
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not start:\n" + server.log_tail())


async def sign_up(http: httpx.AsyncClient, index: int) -> str:
    body = {"username": f"user{index}", "password": secrets.token_hex(8)}
    resp = await http.post("/api/auth/register", json=body)
    resp.raise_for_status()
    token: str = resp.json()["token"]
    return token


async def burst(base_url: str, tokens: list[str], data: bytes) -> tuple[Counter[int], float]:
    """Every user uploads `data` at once; answers by status, and the seconds the burst took."""
    async with httpx.AsyncClient(base_url=base_url, timeout=300) as http:
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(
                http.post(
                    "/api/upload",
                    files={"file": ("big.png", data, "image/png")},
                    headers={"Authorization": f"Bearer {token}"},
                )
                for token in tokens
            )
        )
        return Counter(r.status_code for r in answers), time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    env_extra = dict(item.split("=", 1) for item in args.env)
    data = worst_case_png(args.side)
    with tempfile.TemporaryDirectory(prefix="bench-uploads-") as tmp:
        server = await start_server(Path(tmp), env_extra, args.pythonpath)
        try:
            base = f"http://{HOST}:{server.port}"
            async with httpx.AsyncClient(base_url=base) as http:
                tokens = [await sign_up(http, i) for i in range(args.users)]
            await asyncio.sleep(1)
            before = status_kib(server.pid, "VmRSS")
            statuses, seconds = await burst(base, tokens, data)
            peak = status_kib(server.pid, "VmHWM")
            await asyncio.sleep(args.settle)
            after = status_kib(server.pid, "VmRSS")
        finally:
            server.stop()
    mib = 1024
    print(
        f"{args.users} uploads of a {len(data) // 1024} KB {args.side}x{args.side} PNG with ICC"
        f" ({' '.join(f'{k}={v}' for k, v in env_extra.items()) or 'default settings'}):"
        f" answers {dict(statuses)} in {seconds:.2f} s; RSS before {before / mib:.0f} MiB,"
        f" peak {peak / mib:.0f} MiB, {args.settle:.0f} s after {after / mib:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="concurrent uploads (one per user)")
    parser.add_argument("--side", type=int, default=5000, help="picture width and height")
    parser.add_argument("--settle", type=float, default=3, help="seconds before the last sample")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    parser.add_argument("--pythonpath", help="run the server from another source tree")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
