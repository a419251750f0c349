"""The `groupchat` command: serve, migrate, backup, check-config, admin create|grant."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys

from groupchat.config import ConfigError, Settings, load_settings, resolve_jwt_secret
from groupchat.errors import AppError

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
    from groupchat.app import create_app
    from groupchat.serving import Server, uvicorn_config

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
        # SIGTERM: stop accepting, close sockets with 1012, let requests end; then the lifespan
        timeout_graceful_shutdown=settings.shutdown_timeout / 2,
    )
    Server(config).run()


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


async def _admin(settings: Settings, action: str, username: str) -> str:
    """`admin create USERNAME` (password on stdin) or `admin grant USERNAME`; works before the
    first serve: the database is created and migrated first."""
    from groupchat.actions.admin import create_first_admin, grant_admin
    from groupchat.db.engine import Database

    password = _read_password() if action == "create" else ""
    await _migrate(settings)
    db = Database(settings.sqlalchemy_url)
    try:
        if action == "create":
            await create_first_admin(db, settings, username, password)
            return f"created server admin {username}"
        await grant_admin(db, username)
        return f"{username} is now a server admin"
    finally:
        await db.dispose()


def _read_password() -> str:
    """The password: typed at a terminal (not echoed), else the first line of standard input."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Password: ")
    return sys.stdin.readline().rstrip("\r\n")


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
        choices=["serve", "migrate", "backup", "check-config", "admin"],
    )
    parser.add_argument("action", nargs="?", choices=["create", "grant"], help="admin: what")
    parser.add_argument("username", nargs="?", help="admin: whose account")
    parser.add_argument("--env-file", default=".env", help="dotenv file to load (default .env)")
    args = parser.parse_args(argv)
    if (args.command == "admin") != bool(args.action and args.username):
        parser.error("usage: groupchat admin create|grant USERNAME")
    try:
        settings = load_settings(args.env_file)
        configure_logging(settings)
        if args.command == "serve":
            serve(settings)
        elif args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "backup":
            backup(settings)
        elif args.command == "admin":
            print(asyncio.run(_admin(settings, args.action, args.username)))
        else:
            check_config(settings)
    except ConfigError as exc:
        print(f"groupchat: configuration error: {exc}", file=sys.stderr)
        return 2
    except AppError as exc:  # admin create|grant refused (taken, unknown, bad password)
        print(f"groupchat: {exc.detail}", file=sys.stderr)
        return 1
    return 0
