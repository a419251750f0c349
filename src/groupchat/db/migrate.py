"""Startup storage steps: back up the SQLite file (online backup API), then apply migrations."""

from __future__ import annotations

import logging
import re
import sqlite3
from datetime import timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from groupchat.db.engine import Database
from groupchat.ids import format_ts, utc_now

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_xact_lock key: any constant shared by every process of this product ("GCMIGRAT")
MIGRATION_LOCK_KEY = 0x4743_4D49_4752_4154


def backup_sqlite(db_path: Path, backup_dir: Path, keep: int) -> Path | None:
    """Copy the database to `backup_dir/<stem>-<UTC timestamp>.db`; keep the newest `keep`."""
    if not db_path.is_file() or db_path.stat().st_size == 0:
        return None
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = _new_backup_path(backup_dir, db_path.stem)
    # as_uri() escapes `?`, `#` and `%` that a plain `file:` URI would misread
    source = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)  # consistent even while another process writes (WAL)
            # one self-contained file: opening a WAL-mode copy would litter -wal/-shm beside it
            dest.execute("PRAGMA journal_mode=DELETE")
        finally:
            dest.close()
    finally:
        source.close()
    prune_backups(backup_dir, db_path.stem, keep)
    log.info("backed up %s to %s", db_path, target)
    return target


def _new_backup_path(backup_dir: Path, stem: str) -> Path:
    """An unused `<stem>-<UTC timestamp>.db`."""
    # Two backups in one millisecond: the stamp moves on by 1 ms. A counter suffix would sort
    # before the older name, and pruning would delete the newer backup first.
    when = utc_now()
    while True:
        stamp = format_ts(when).replace("-", "").replace(":", "").replace(".", "")
        target = backup_dir / f"{stem}-{stamp}.db"
        if not target.exists():
            return target
        when += timedelta(milliseconds=1)


def prune_backups(backup_dir: Path, stem: str, keep: int) -> None:
    """Delete all but the `keep` newest backups of `stem` (names sort by time)."""
    pattern = re.compile(re.escape(stem) + r"-\d{8}T\d{9}Z\.db")
    backups = sorted(p for p in backup_dir.iterdir() if pattern.fullmatch(p.name))
    for old in backups[: max(0, len(backups) - keep)]:
        old.unlink(missing_ok=True)


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


async def upgrade(db: Database) -> None:
    """Apply every pending migration (forward only), one process at a time.

    PostgreSQL: a transaction-scoped advisory lock, so processes started together wait for the
    first one and then find nothing left to do. SQLite: `db.write()` begins IMMEDIATE, which
    holds the file's write lock for the whole upgrade (another process waits in busy_timeout).
    """

    def run(sync_conn: Connection) -> None:
        if sync_conn.dialect.name == "postgresql":
            sync_conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")

    async with db.write() as conn:
        await conn.run_sync(run)
