"""Every setting of the server, read from the environment (and `.env`) in one place."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

MiB = 1024 * 1024


class ConfigError(Exception):
    """A setting is invalid; the message names the variable."""


class Settings(BaseSettings):
    """Server configuration; each field is the upper-cased environment variable."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # --- the seed's variables
    bind_addr: str = Field("0.0.0.0:3001", description="host:port to listen on")
    log_level: str = Field("", description="debug, info, warning, error (RUST_LOG accepted too)")
    rust_log: str = Field("info", description="the seed's name for LOG_LEVEL")
    database_url: str = Field("sqlite:chat.db?mode=rwc", description="sqlite:… or postgresql://…")
    jwt_secret: str | None = Field(None, description="HS256 key, >= 32 bytes; generated if unset")
    openrouter_api_key: str | None = Field(None, description="enables the AI participant")
    search_provider: Literal["tavily", "brave"] | None = Field(None, description="web search")
    tavily_api_key: str | None = None
    brave_api_key: str | None = None
    static_dir: Path | None = Field(None, description="client build to serve instead of ours")

    # --- storage and tokens
    upload_dir: Path = Path("uploads")
    backup_dir: Path = Path("backups")
    backup_keep: int = Field(10, ge=1, le=1000)
    jwt_ttl_hours: float = Field(168, gt=0, le=24 * 365)
    cors_origins: str = Field("", description="comma-separated origins allowed besides our own")
    redis_url: str | None = Field(None, description="redis://… to share events between processes")
    shutdown_timeout: float = Field(
        10, gt=0, le=600, description="seconds a stopping process takes at most (SIGTERM)"
    )
    auth_rate_per_minute: int = Field(
        30, ge=0, description="sign-in calls per client address per minute (0: no limit)"
    )
    registration_mode: Literal["invite", "open", "closed"] = Field(
        "invite", description="who may create an account: invite, open or closed"
    )
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal", description="SQLite fsync: normal survives crashes, full also power loss"
    )
    group_commit: bool = Field(
        True, description="posts stored in batches by one writer (false: one transaction each)"
    )
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19_456, ge=8_192)
    argon2_parallelism: int = Field(1, ge=1)

    # --- limits
    max_message_chars: int = Field(8000, ge=1)
    message_edit_seconds: int = Field(0, ge=0, description="0: messages stay editable")
    max_json_bytes: int = Field(1 * MiB, ge=1024)
    max_avatar_bytes: int = Field(2 * MiB, ge=1024)
    max_image_bytes: int = Field(5 * MiB, ge=1024)
    max_image_pixels: int = Field(25_000_000, ge=1, description="pixels of a chat image")
    max_avatar_pixels: int = Field(16_000_000, ge=1, description="pixels of an avatar upload")
    image_workers: int = Field(2, ge=1, le=64, description="images decoded at once; others wait")
    upload_rate_per_minute: int = Field(
        20, ge=0, description="uploads per user per minute, bursts as large (0: no limit)"
    )
    upload_quota_bytes: int = Field(
        0, ge=0, description="stored bytes per user, chat images and avatars (0: none)"
    )
    http_header_timeout: float = Field(
        10, gt=0, le=3600, description="seconds a client may take to send a request head"
    )
    max_connections_per_ip: int = Field(
        500, ge=0, description="open connections per client address (0: no limit)"
    )
    max_ws_frame_bytes: int = Field(64 * 1024, ge=1024)
    ws_send_buffer_bytes: int = Field(
        4 * MiB, ge=64 * 1024, description="bytes waiting for one socket before it is closed (1013)"
    )
    ws_stall_seconds: float = Field(
        3, gt=0, le=60, description="a socket whose kernel takes no bytes this long is aborted"
    )
    ws_kernel_send_buffer: int = Field(
        0, ge=0, description="SO_SNDBUF of each WebSocket (0: the kernel's autotuning)"
    )
    ws_connections_per_user: int = Field(
        20, ge=0, description="open WebSockets per user and process (0: no limit)"
    )
    ws_messages_per_second: float = Field(
        5, ge=0, allow_inf_nan=False, description="posts per user per second, REST and WS (0: none)"
    )
    ws_message_burst: int = Field(
        30, ge=0, description="posts a user may make at once before the rate applies (0: none)"
    )

    # --- the AI participant
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    public_url: str | None = Field(None, description="sent to OpenRouter as HTTP-Referer")
    ai_default_model: str = "openai/gpt-4o-mini"
    ai_name: str = Field("ai", pattern=r"^[A-Za-z0-9_]{1,32}$")
    ai_history_limit: int = Field(30, ge=1, le=500)
    ai_max_tool_rounds: int = Field(5, ge=0, le=20)
    ai_queue_limit: int = Field(10, ge=1)
    ai_lease_seconds: float = Field(
        10, ge=0.5, le=300, description="a question's claim; another process takes it over after"
    )
    ai_system_prompt: str | None = None
    ai_connect_timeout: float = Field(10, gt=0)
    ai_first_token_timeout: float = Field(60, gt=0)
    ai_idle_timeout: float = Field(60, gt=0)
    ai_total_timeout: float = Field(300, gt=0)
    ai_models_cache_seconds: float = Field(3600, ge=0)
    tavily_base_url: str = "https://api.tavily.com"
    brave_base_url: str = "https://api.search.brave.com"
    fetch_allow_private: bool = Field(False, description="tests only: let fetch_page reach LANs")

    # --- AI spending limits and metrics (v2)
    ai_budget_period: Literal["day", "week", "month"] = Field(
        "day", description="calendar period (UTC) the AI budgets apply to; weeks start Monday"
    )
    ai_budget_server_usd: float = Field(
        0, ge=0, allow_inf_nan=False, description="AI spending per period (0: none)"
    )
    ai_budget_user_usd: float = Field(
        0, ge=0, allow_inf_nan=False, description="per triggering user (0: none)"
    )
    ai_budget_room_usd: float = Field(
        0, ge=0, allow_inf_nan=False, description="per room (0: none)"
    )
    ai_answers_per_user_hour: int = Field(0, ge=0, description="AI answers per user (0: none)")
    metrics_token: str | None = Field(None, description="bearer token for GET /metrics")

    @field_validator("search_provider", "metrics_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "ai_budget_server_usd",
        "ai_budget_user_usd",
        "ai_budget_room_usd",
        "ai_answers_per_user_hour",
        mode="before",
    )
    @classmethod
    def _blank_is_zero(cls, value: object) -> object:
        return 0 if isinstance(value, str) and not value.strip() else value

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value: object) -> object:
        """Blank is unset; else an http(s) URL with a host name (the Host check relies on it)."""
        if not isinstance(value, str):
            return value
        if not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL, got {value!r}")
        return value.strip()

    @field_validator("sqlite_synchronous", "registration_mode", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_combinations(self) -> Settings:
        if self.search_provider == "tavily" and not self.tavily_api_key:
            raise ValueError("TAVILY_API_KEY is required when SEARCH_PROVIDER=tavily")
        if self.search_provider == "brave" and not self.brave_api_key:
            raise ValueError("BRAVE_API_KEY is required when SEARCH_PROVIDER=brave")
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < 32:
            raise ValueError("JWT_SECRET must be at least 32 bytes long")
        self.bind_host_port  # noqa: B018 - validates BIND_ADDR
        self.sqlalchemy_url  # noqa: B018 - validates DATABASE_URL
        self.effective_log_level  # noqa: B018 - validates LOG_LEVEL / RUST_LOG
        return self

    @property
    def bind_host_port(self) -> tuple[str, int]:
        """BIND_ADDR split into host and port."""
        host, sep, port = self.bind_addr.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError(f"BIND_ADDR must be host:port, got {self.bind_addr!r}")
        return host.strip("[]") or "0.0.0.0", int(port)

    @property
    def effective_log_level(self) -> str:
        """LOG_LEVEL, else the level part of RUST_LOG (`info`, `groupchat=debug,…`)."""
        name, raw = ("LOG_LEVEL", self.log_level) if self.log_level else ("RUST_LOG", self.rust_log)
        level = (raw or "info").split(",")[0].rpartition("=")[2].strip().upper()
        level = {"TRACE": "DEBUG", "WARN": "WARNING", "OFF": "CRITICAL"}.get(level, level)
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"{name} must be debug, info, warning, error or off, got {raw!r}")
        return level

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL in SQLAlchemy's async form (the seed's `sqlite:` form accepted)."""
        return normalize_database_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, or None for PostgreSQL or an in-memory database."""
        if not self.is_sqlite:
            return None
        path = self.sqlalchemy_url.removeprefix("sqlite+aiosqlite:///").split("?")[0]
        return Path(path) if path and path != ":memory:" else None

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def ai_enabled(self) -> bool:
        return bool(self.openrouter_api_key)


def normalize_database_url(url: str) -> str:
    """Map `sqlite:chat.db?mode=rwc`, `sqlite:///x.db`, `postgres://…` to async SQLAlchemy URLs."""
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme in {"postgres", "postgresql"}:
        return "postgresql+asyncpg:" + rest
    if scheme in {"postgresql+asyncpg", "sqlite+aiosqlite"}:
        return url
    if scheme != "sqlite":
        raise ValueError(f"DATABASE_URL must start with sqlite: or postgresql://, got {scheme!r}")
    if rest.startswith("//"):  # SQLAlchemy form: sqlite:///relative.db, sqlite:////abs.db
        path = rest[3:] if rest.startswith("///") else rest[2:]
    else:  # the seed's sqlx form: sqlite:chat.db?mode=rwc
        path = rest
    path = path.split("?")[0]
    if not path:
        raise ValueError("DATABASE_URL names no SQLite file")
    return "sqlite+aiosqlite:///" + path


def load_settings(env_file: str | None = ".env", **overrides: object) -> Settings:
    """Read `.env` (if present) and the environment; raise ConfigError with one clear line."""
    if env_file and Path(env_file).is_file():
        from dotenv import load_dotenv

        load_dotenv(env_file, override=False)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    name = ".".join(str(p) for p in err["loc"]).upper()
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{name}: {msg}" if name else msg


def resolve_jwt_secret(settings: Settings) -> str:
    """JWT_SECRET, else a secret generated once and kept beside the SQLite database."""
    if settings.jwt_secret:
        return settings.jwt_secret
    db_path = settings.sqlite_path
    if db_path is None:
        raise ConfigError("JWT_SECRET: required when DATABASE_URL is not a SQLite file")
    secret_file = db_path.with_name(db_path.name + ".jwt-secret")
    if secret_file.is_file():
        secret = secret_file.read_text().strip()
        if len(secret.encode()) >= 32:
            return secret
    secret = secrets.token_hex(32)
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode does not apply to a file that already existed
    with os.fdopen(fd, "w") as handle:
        handle.write(secret + "\n")
    log.warning("JWT_SECRET is not set: generated one and saved it in %s", secret_file)
    return secret


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, for Origin comparisons."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
