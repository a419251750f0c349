"""The `groupchat` command: serve, migrate, backup, check-config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys

from groupchat.config import ConfigError, Settings, load_settings, resolve_jwt_secret

log = logging.getLogger("groupchat")


class RedactTokens(logging.Filter):
    """Access logs print query strings, and /ws?token=… carries a JWT: mask it."""

    _pattern = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                self._pattern.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        record.msg = self._pattern.sub(r"\1[redacted]", str(record.msg))
        return True


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.effective_log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactTokens())
    if settings.effective_log_level != "DEBUG":  # migration chatter on every start
        logging.getLogger("alembic").setLevel(logging.WARNING)


def serve(settings: Settings) -> None:
    """Start uvicorn with the settings DESIGN.md measured best for fan-out."""
    import uvicorn

    from groupchat.app import create_app
    from groupchat.serving import uvicorn_config

    resolve_jwt_secret(settings)  # fail (or generate the secret) before binding
    host, port = settings.bind_host_port
    log.info("GroupChat listening on http://%s:%d", host, port)
    config = uvicorn_config(
        create_app(settings),
        settings,
        host,
        port,
        log_config=None,
        log_level=settings.effective_log_level.lower(),
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()


async def _migrate(settings: Settings) -> None:
    from groupchat.db.engine import Database
    from groupchat.db.migrate import backup_sqlite, upgrade

    if settings.sqlite_path is not None:
        backup_sqlite(settings.sqlite_path, settings.backup_dir, settings.backup_keep)
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


def backup(settings: Settings) -> None:
    from groupchat.db.migrate import backup_sqlite

    if settings.sqlite_path is None:
        raise ConfigError("DATABASE_URL: backup works on SQLite; use pg_dump for PostgreSQL")
    target = backup_sqlite(settings.sqlite_path, settings.backup_dir, settings.backup_keep)
    print(target if target else f"nothing to back up: {settings.sqlite_path} does not exist")


def check_config(settings: Settings) -> None:
    resolve_jwt_secret(settings)
    if not settings.ai_enabled:
        print("warning: OPENROUTER_API_KEY is not set: the AI participant is off")
    print(f"configuration OK: database {settings.sqlalchemy_url.split('@')[-1]}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="groupchat", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "backup", "check-config"],
    )
    parser.add_argument("--env-file", default=".env", help="dotenv file to load (default .env)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.env_file)
        configure_logging(settings)
        if args.command == "serve":
            serve(settings)
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "backup":
            backup(settings)
        else:
            check_config(settings)
    except ConfigError as exc:
        print(f"groupchat: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0
