"""The async engine and its dialect quirks (SQLite pragmas, write serialization)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

WRITE_OPTION = "groupchat_write"
BUSY_TIMEOUT_MS = 5000


def sqlite_pragmas(synchronous: str = "normal") -> tuple[str, ...]:
    """Every SQLite connection's settings; `synchronous` is SQLITE_SYNCHRONOUS (normal or full)."""
    return (
        "PRAGMA journal_mode=WAL",
        "PRAGMA foreign_keys=ON",
        f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
        f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}",
    )


def connect_sqlite(path: str, synchronous: str) -> sqlite3.Connection:
    """A plain `sqlite3` connection (the post writer's) with the same settings as the engine's."""
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    for pragma in sqlite_pragmas(synchronous):
        conn.execute(pragma)
    return conn


class Database:
    """One engine; `read()` and `write()` hand out connections inside a transaction."""

    def __init__(self, url: str, *, echo: bool = False, sqlite_synchronous: str = "normal") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **_engine_args(url))
        # SQLite allows one writer: serializing our writers in-process avoids SQLITE_BUSY
        # on deferred transactions that upgrade to writes.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # How many write() blocks are waiting or running: the post writer's thread lets them
        # have the database first (SQLite's busy handler polls and would starve them).
        self.writers_waiting = 0
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine, sqlite_pragmas(sqlite_synchronous))

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for queries; its transaction is rolled back at the end."""
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction committed at the end (rolled back on error)."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        self.writers_waiting += 1
        try:
            async with self._write_lock, self.engine.connect() as conn:
                await conn.execution_options(**{WRITE_OPTION: True})
                async with conn.begin():
                    yield conn
        finally:
            self.writers_waiting -= 1

    async def ping(self) -> None:
        """Raise if the database does not answer."""
        async with self.read() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()


def _engine_args(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # A fixed set of connections: an aiosqlite connection is a thread, and the default
        # overflow opened and closed one per burst of concurrent requests (~1 ms each).
        return {"connect_args": {"timeout": 5}, "pool_size": 16, "max_overflow": 0}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}


def _install_sqlite_hooks(engine: AsyncEngine, pragmas: tuple[str, ...]) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN covers reads too
        # (SQLAlchemy's documented recipe for pysqlite/aiosqlite).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front, so a second process writing the same file
        # makes us wait (busy_timeout) instead of failing when a read upgrades to a write.
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
