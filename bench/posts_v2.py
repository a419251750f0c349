"""Posting cost with chain v2 entries, compared with the code before them.

Runs bench/posts.py's measurement (64 posters, one room each, SQLite, group commit) against
two source trees in alternation: AFTER (a commit, default this working tree) and BEFORE (a
commit, default the one before chain v2). A commit is unpacked with `git archive` into a
temporary directory and put first on the server's PYTHONPATH. Reports each round and the
median server CPU per post of each tree.
Results: docs/benchmarks.md, "Posting".

    .venv/bin/python bench/posts_v2.py --before a7fa832^ --after HEAD --rounds 7
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import posts

ROOT = Path(__file__).resolve().parent.parent


def unpack(commit: str, into: Path) -> Path:
    """The `src/` tree of `commit`, read with git archive (the working tree is not touched)."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "archive", commit, "src"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def leave_out_search_index(source: Path) -> None:
    """Migration 0007 without its FTS5 table and triggers (the read markers stay), and 0008
    (where the tree has it) with its empty search_pending table only."""
    versions = source / "groupchat/db/migrations/versions"
    first = versions / "0007_catching_up.py"
    _replace(first, "for statement in SQLITE_FTS:", "for statement in ():")
    later = versions / "0008_search_index_later.py"
    if later.exists():
        _replace(later, "for statement in UPGRADE:", "for statement in UPGRADE[:1]:")


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, path
    path.write_text(text.replace(old, new))


_BASE_ENV = posts.server_env


def with_source(source: Path | None) -> None:
    """Make posts.start() run the server from `source` (None: this working tree)."""

    def server_env(*args: Any) -> dict[str, str]:
        env = _BASE_ENV(*args)
        if source is not None:
            env["PYTHONPATH"] = str(source)
        return env

    posts.server_env = server_env


async def rounds(
    args: argparse.Namespace, before_src: Path, after_src: Path | None
) -> list[tuple[str, posts.Result]]:
    found = []
    for n in range(args.rounds):
        for name, source in (("before", before_src), ("v2", after_src)):
            with_source(source)
            label = f"{name}, {args.via.upper()}, round {n + 1}"
            result = await posts.run_one(args, label, "", True, args.via)
            print(f"  {label}: {result.cpu_us:,.0f} µs CPU per post", file=sys.stderr)
            found.append((name, result))
    return found


def report(args: argparse.Namespace, found: list[tuple[str, posts.Result]]) -> str:
    lines = [
        f"{args.posters} posters, {args.seconds:g} s per run, SQLite, group commit, {args.via}",
        "| run | posts/s | server CPU µs per post |",
        "| --- | ---: | ---: |",
    ]
    lines += [f"| {r.label} | {r.rate:,.0f} | {r.cpu_us:,.0f} |" for _, r in found]
    medians = {
        name: statistics.median(r.cpu_us for n, r in found if n == name)
        for name in ("before", "v2")
    }
    change = (medians["v2"] / medians["before"] - 1) * 100
    lines.append(
        f"median CPU per post: before {medians['before']:,.0f} µs, v2 {medians['v2']:,.0f} µs"
        f" ({change:+.1f} %)"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="a7fa832^", help="the commit to compare with")
    parser.add_argument("--after", help="a commit to measure instead of the working tree")
    parser.add_argument(
        "--without-search-index",
        action="store_true",
        help="AFTER without the SQLite full-text index's triggers (migration 0007, another"
        " issue's cost per post), to measure chain v2 alone",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--via", choices=("ws", "rest"), default="ws")
    parser.add_argument("--posters", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=6)
    args = parser.parse_args()
    args.synchronous, args.no_pin = "normal", False
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        before_src = unpack(args.before, Path(tmp) / "before")
        after_src = unpack(args.after, Path(tmp) / "after") if args.after else None
        if args.without_search_index:
            assert after_src is not None, "--without-search-index needs --after"
            leave_out_search_index(after_src)
        found = asyncio.run(rounds(args, before_src, after_src))
    print(report(args, found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
