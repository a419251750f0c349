"""Startup: every start backs the SQLite file up (10 kept), migrations build exactly tables.py
and are a no-op the second time, the CLI commands work, and a generated JWT secret survives
restarts."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conftest import (
    TEST_DATABASE_URL,
    Server,
    create_room,
    fresh_database,
    make_settings,
    start_server,
)
from groupchat.config import Settings
from groupchat.db.engine import Database
from groupchat.db.migrate import backup_sqlite, upgrade
from groupchat.db.tables import metadata, users

BACKUP_NAME = re.compile(r"^chat-(\d{8}T\d{9}Z)\.db$")
PASSWORD = "correct horse 1"
sqlite_only = pytest.mark.skipif(
    TEST_DATABASE_URL is not None, reason="SQLite backups and files: not on PostgreSQL"
)


def backups(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def count_users(db_file: Path) -> int:
    """Open a SQLite file the plain way (no app code) and count its users."""
    conn = sqlite3.connect(f"{db_file.resolve().as_uri()}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (count,) = conn.execute("SELECT count(*) FROM users").fetchone()
    finally:
        conn.close()
    return int(count)


def stamp_time(name: str) -> datetime:
    match = BACKUP_NAME.match(name)
    assert match, name
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


async def register(base_url: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        resp = await client.post(
            "/api/auth/register", json={"username": username, "password": PASSWORD}
        )
    assert resp.status_code == 201, resp.text
    token: str = resp.json()["token"]
    return token


async def me(base_url: str, token: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        return await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})


# ---------------------------------------------------------------- backups
@sqlite_only
async def test_eleven_restarts_keep_the_ten_newest_backups(settings: Settings) -> None:
    await fresh_database(settings)
    began = datetime.now(UTC) - timedelta(seconds=1)
    srv = await start_server(settings)  # a fresh database: nothing to back up yet
    await register(srv.base_url, "alice")
    await srv.stop()
    folder = settings.backup_dir
    assert backups(folder) == []

    made: list[str] = []
    for _ in range(11):
        before = set(backups(folder))
        srv = await start_server(settings)
        await srv.stop()
        new = set(backups(folder)) - before
        assert len(new) == 1  # one backup per start
        made.append(new.pop())
    ended = datetime.now(UTC) + timedelta(seconds=1)

    kept = backups(folder)
    assert len(kept) == 10
    assert kept == made[1:]  # the oldest went; names sort in the order they were made
    for name in kept:
        assert began <= stamp_time(name) <= ended
        assert count_users(folder / name) == 1
    assert sorted(kept, key=stamp_time) == kept


@sqlite_only
async def test_backups_within_one_millisecond_still_sort_by_time(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (id TEXT)")
    conn.execute("INSERT INTO users VALUES ('a')")
    conn.commit()
    conn.close()
    folder = tmp_path / "backups"
    made = [backup_sqlite(db, folder, keep=10) for _ in range(15)]  # faster than 1 per ms
    assert all(path is not None for path in made)
    assert len({str(p) for p in made}) == 15
    assert backups(folder) == [p.name for p in made[5:] if p is not None]
    assert all(count_users(folder / name) == 1 for name in backups(folder))


@sqlite_only
async def test_pruning_leaves_other_files_alone(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    sqlite3.connect(db).executescript("CREATE TABLE users (id TEXT);").close()
    folder = tmp_path / "backups"
    folder.mkdir()
    others = ["chat-before-upgrade.db", "notes.txt", "other-20200101T000000000Z.db"]
    for name in others:
        (folder / name).write_text("keep me")
    for _ in range(3):
        backup_sqlite(db, folder, keep=2)
    assert len([n for n in backups(folder) if BACKUP_NAME.match(n)]) == 2
    assert all((folder / name).read_text() == "keep me" for name in others)


@sqlite_only
async def test_no_backup_of_a_missing_or_empty_database(tmp_path: Path) -> None:
    assert backup_sqlite(tmp_path / "none.db", tmp_path / "b", keep=10) is None
    (tmp_path / "empty.db").touch()
    assert backup_sqlite(tmp_path / "empty.db", tmp_path / "b", keep=10) is None
    assert backups(tmp_path / "b") == []


@sqlite_only
async def test_a_backup_while_the_server_writes_has_the_latest_rows(
    http, server: Server, alice: Any, bob: Any, carol: Any
) -> None:
    await create_room(http, alice, name="committed just now")
    db_file = server.settings.sqlite_path
    assert db_file is not None
    plain = sqlite3.connect(db_file)
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        plain.close()
    assert Path(f"{db_file}-wal").stat().st_size > 0  # recent rows live in the WAL

    # another process (the operator's `groupchat backup`) while the server keeps the file open
    target = server.settings.backup_dir.parent / "manual-backups"
    result = await run_cli_async(
        ["backup"],
        {"DATABASE_URL": f"sqlite:///{db_file}", "BACKUP_DIR": str(target)},
        cwd=db_file.parent,
    )
    assert result[0] == 0, result
    names = backups(target)
    assert len(names) == 1 and BACKUP_NAME.match(names[0])
    assert str(target / names[0]) in result[1]
    assert count_users(target / names[0]) == 3
    copy = sqlite3.connect(target / names[0])
    try:
        rooms = copy.execute("SELECT name FROM rooms").fetchall()
    finally:
        copy.close()
    assert rooms == [("committed just now",)]
    # the server is still fine
    assert (await http.get("/api/auth/me", headers=alice.headers)).status_code == 200


# ---------------------------------------------------------------- migrations
def schema_diff(sync_conn: sa.Connection) -> list[Any]:
    opts: dict[str, Any] = {"compare_type": True}
    if sync_conn.dialect.name == "postgresql":
        # SQLite reflection reports a false difference for the '' default (alembic quirk)
        opts["compare_server_default"] = True
    opts["include_name"] = lambda name, kind, _: not _search_index(name or "")
    return list(compare_metadata(MigrationContext.configure(sync_conn, opts=opts), metadata))


def _search_index(name: str) -> bool:
    """Migrations 0007 and 0008's full-text index: FTS5 tables and the rowids waiting for them
    (SQLite) or a GIN expression index (PostgreSQL), not tables.py's."""
    return name.startswith("messages_fts") or name in ("search_pending", "ix_messages_search")


async def test_migrations_build_exactly_the_tables_of_tables_py(settings: Settings) -> None:
    await fresh_database(settings)
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.read() as conn:
            assert await conn.run_sync(lambda c: sa.inspect(c).get_table_names()) == []
        await upgrade(db)
        async with db.read() as conn:
            assert await conn.run_sync(schema_diff) == []
            names = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
            names = {name for name in names if not _search_index(name)}
            version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await db.dispose()
    assert names == set(metadata.tables) | {"alembic_version"}
    assert len(version) == 1


async def test_migrating_again_keeps_everything(settings: Settings) -> None:
    srv = await start_server(settings)
    token = await register(srv.base_url, "alice")
    await srv.stop()

    db = Database(settings.sqlalchemy_url)
    try:
        before = await snapshot(db)
        await upgrade(db)
        await upgrade(db)
        assert await snapshot(db) == before
        async with db.read() as conn:
            assert await conn.run_sync(schema_diff) == []
    finally:
        await db.dispose()

    srv = await start_server(settings)  # and a normal restart migrates (nothing) too
    try:
        resp = await me(srv.base_url, token)
        assert resp.status_code == 200 and resp.json()["username"] == "alice"
    finally:
        await srv.stop()


async def snapshot(db: Database) -> dict[str, Any]:
    """Version, table definitions and every users row."""
    async with db.read() as conn:
        version = (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all()
        rows = [tuple(r) for r in (await conn.execute(sa.select(users))).all()]
        tables = await conn.run_sync(_columns)
    return {"version": version, "rows": rows, "tables": tables}


def _columns(sync_conn: sa.Connection) -> dict[str, list[str]]:
    inspector = sa.inspect(sync_conn)
    return {
        name: [f"{c['name']} {c['type']} {c['nullable']}" for c in inspector.get_columns(name)]
        + [str(sorted(i["column_names"])) for i in inspector.get_indexes(name)]
        for name in sorted(inspector.get_table_names())
    }


# ---------------------------------------------------------------- the CLI
def cli_env(**env: str) -> dict[str, str]:
    """A minimal environment: nothing from this process leaks into the command."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home()), **env}


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "groupchat", *args],
        env=cli_env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def run_cli_async(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    """Like run_cli, without blocking the event loop (a server may be running in it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "groupchat",
        *args,
        env=cli_env(**env),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def sqlite_tables(db_file: Path) -> set[str]:
    conn = sqlite3.connect(db_file)
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    return {name for (name,) in rows if not _search_index(name)}


@sqlite_only
@pytest.mark.parametrize(
    ("url", "where", "normalized"),
    [
        ("sqlite:///{tmp}/data/chat.db", "data/chat.db", "sqlite+aiosqlite:///{tmp}/data/chat.db"),
        ("sqlite:{tmp}/chat.db?mode=rwc", "chat.db", "sqlite+aiosqlite:///{tmp}/chat.db"),
        ("sqlite:chat.db?mode=rwc", "chat.db", "sqlite+aiosqlite:///chat.db"),
        ("sqlite:///rel/chat.db", "rel/chat.db", "sqlite+aiosqlite:///rel/chat.db"),
    ],
)
def test_cli_migrate_creates_the_database_any_url_names(
    tmp_path: Path, url: str, where: str, normalized: str
) -> None:
    env = {"DATABASE_URL": url.format(tmp=tmp_path)}
    done = run_cli(["migrate"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert sqlite_tables(tmp_path / where) == set(metadata.tables) | {"alembic_version"}

    done = run_cli(["check-config"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"configuration OK: database {normalized.format(tmp=tmp_path)}\n" in done.stdout


@sqlite_only
def test_cli_backup_and_a_second_migrate(tmp_path: Path) -> None:
    env = {"DATABASE_URL": "sqlite:chat.db?mode=rwc", "BACKUP_DIR": str(tmp_path / "bk")}
    done = run_cli(["backup"], env, tmp_path)  # nothing there yet: said, not failed
    assert done.returncode == 0 and "nothing to back up" in done.stdout, done.stderr
    assert run_cli(["migrate"], env, tmp_path).returncode == 0

    done = run_cli(["backup"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    (name,) = backups(tmp_path / "bk")
    assert BACKUP_NAME.match(name) and name in done.stdout
    assert count_users(tmp_path / "bk" / name) == 0

    done = run_cli(["migrate"], env, tmp_path)  # again: backs up first, changes nothing
    assert done.returncode == 0, done.stderr
    assert len(backups(tmp_path / "bk")) == 2
    assert sqlite_tables(tmp_path / "chat.db") == set(metadata.tables) | {"alembic_version"}


@pytest.mark.skipif(TEST_DATABASE_URL is None, reason="needs TEST_DATABASE_URL (PostgreSQL)")
async def test_cli_migrate_on_postgres(settings: Settings, tmp_path: Path) -> None:
    assert TEST_DATABASE_URL is not None
    env = {"DATABASE_URL": TEST_DATABASE_URL, "JWT_SECRET": "s" * 40}
    code, _, err = await run_cli_async(["migrate"], env, tmp_path)
    assert code == 0, err
    db = Database(settings.sqlalchemy_url)
    try:
        async with db.read() as conn:
            assert await conn.run_sync(schema_diff) == []
    finally:
        await db.dispose()
    code, _, err = await run_cli_async(["backup"], env, tmp_path)
    assert code == 2 and "DATABASE_URL" in err  # pg_dump's job, said in one line
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- generated JWT secret
@sqlite_only
async def test_a_generated_jwt_secret_is_kept_beside_the_database(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, jwt_secret=None)
    srv = await start_server(settings)
    token = await register(srv.base_url, "alice")
    await srv.stop()

    secret_file = tmp_path / "chat.db.jwt-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert len(secret.encode()) >= 32

    srv = await start_server(settings)
    try:
        resp = await me(srv.base_url, token)  # a token from before the restart
        assert resp.status_code == 200 and resp.json()["username"] == "alice"
    finally:
        await srv.stop()
    assert secret_file.read_text().strip() == secret


@sqlite_only
async def test_a_weak_secret_file_is_replaced_and_locked_down(tmp_path: Path) -> None:
    secret_file = tmp_path / "chat.db.jwt-secret"
    secret_file.write_text("short\n")
    secret_file.chmod(0o644)
    srv = await start_server(make_settings(tmp_path, jwt_secret=None))
    await srv.stop()
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert len(secret_file.read_text().strip()) >= 32


@sqlite_only
async def test_an_explicit_jwt_secret_writes_no_file(settings: Settings, tmp_path: Path) -> None:
    srv = await start_server(settings)
    await srv.stop()
    assert not (tmp_path / "chat.db.jwt-secret").exists()


# ---------------------------------------------------------------- `groupchat serve`
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_up(base_url: str, proc: asyncio.subprocess.Process) -> None:
    """Poll /healthz while the process starts (bounded; fails if it exits)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as client:
        for _ in range(300):
            if proc.returncode is not None:
                raise AssertionError(f"server exited with {proc.returncode}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("server did not start")


async def test_serve_runs_the_server_and_keeps_tokens_out_of_its_logs(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "DATABASE_URL": TEST_DATABASE_URL or f"sqlite:{tmp_path}/chat.db?mode=rwc",
        "JWT_SECRET": "serve-test-secret-" + "z" * 30,
        "BIND_ADDR": f"127.0.0.1:{port}",
        "LOG_LEVEL": "info",
        "UPLOAD_DIR": str(tmp_path / "up"),
        "REGISTRATION_MODE": "open",  # test_signup.py covers the setup URL of a fresh server
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "groupchat",
        "serve",
        env=cli_env(**env),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_up(base, proc)
        token = await register(base, "alice")
        resp = await me(base, token)
        assert resp.status_code == 200 and "server" not in resp.headers
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws?token={token}") as ws:
            await ws.send('{"type": "ping"}')
            assert await asyncio.wait_for(ws.recv(), 5) == '{"type":"pong"}'
        async with httpx.AsyncClient(base_url=base) as client:
            await client.get(f"/api/auth/me?token={token}")
    finally:
        proc.terminate()
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    logs = out.decode() + err.decode()
    # /ws is served by the protocol (no access line); the HTTP access line is redacted
    assert "/api/auth/me?token=[redacted]" in logs, logs[-2000:]
    assert token not in logs and token.split(".")[2] not in logs
    assert (tmp_path / "up" / "avatars").is_dir()


async def test_a_started_server_takes_what_lives_for_good_out_of_full_gc_passes(
    settings: Settings,
) -> None:
    """`groupchat serve`'s Server freezes what exists once started (serving.py): the app and its
    services are then never walked by the garbage collector's full passes; and its young
    generation is larger, so frames in flight are not promoted to the old one."""
    import gc

    from groupchat.app import create_app
    from groupchat.serving import Server, uvicorn_config

    server = Server(uvicorn_config(create_app(settings), settings, "127.0.0.1", 0, lifespan="on"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    gc.unfreeze()
    thresholds = gc.get_threshold()
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 10_000
        assert gc.get_threshold() == (5000, *thresholds[1:])  # a larger young generation
    finally:
        gc.unfreeze()  # the other tests' garbage must stay collectable
        gc.set_threshold(*thresholds)
        server.should_exit = True
        await asyncio.wait_for(task, 10)
