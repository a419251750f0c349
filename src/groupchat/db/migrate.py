"""Startup storage steps: back up the SQLite file (online backup API), then apply migrations."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from groupchat.db.engine import Database
from groupchat.ids import format_ts, utc_now

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def backup_sqlite(db_path: Path, backup_dir: Path, keep: int) -> Path | None:
    """Copy the database to `backup_dir/<stem>-<UTC timestamp>.db`; keep the newest `keep`."""
    if not db_path.is_file() or db_path.stat().st_size == 0:
        return None
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = format_ts(utc_now()).replace("-", "").replace(":", "").replace(".", "")
    target = backup_dir / f"{db_path.stem}-{stamp}.db"
    counter = 1
    while target.exists():  # two backups within one millisecond
        target = backup_dir / f"{db_path.stem}-{stamp}-{counter}.db"
        counter += 1
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)  # consistent even while another process writes (WAL)
        finally:
            dest.close()
    finally:
        source.close()
    prune_backups(backup_dir, db_path.stem, keep)
    log.info("backed up %s to %s", db_path, target)
    return target


def prune_backups(backup_dir: Path, stem: str, keep: int) -> None:
    """Delete all but the `keep` newest backups of `stem` (names sort by time)."""
    backups = sorted(backup_dir.glob(f"{stem}-*.db"))
    for old in backups[: max(0, len(backups) - keep)]:
        old.unlink(missing_ok=True)


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations shipped inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


async def upgrade(db: Database) -> None:
    """Apply every pending migration (forward only)."""

    def run(sync_conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, "head")

    async with db.write() as conn:
        await conn.run_sync(run)
