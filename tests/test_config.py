"""Configuration: `groupchat check-config` refuses bad settings with exit code 2 and one line
naming the variable; the seed's variable names and URL forms are understood."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from groupchat.config import ConfigError, Settings, load_settings, normalize_database_url

SECRET = "a-perfectly-fine-secret-of-40-bytes-xxxx"


def check_config(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m groupchat check-config` in tmp_path with only PATH, HOME and `env`."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(Path.home())}
    return subprocess.run(
        [sys.executable, "-m", "groupchat", "check-config", *args],
        env={**base, "DATABASE_URL": f"sqlite:{tmp_path}/chat.db?mode=rwc", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_refused(done: subprocess.CompletedProcess[str], variable: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert variable in lines[0] and "Traceback" not in done.stderr
    assert "configuration OK" not in done.stdout


def configured(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


# ---------------------------------------------------------------- through the command
@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SEARCH_PROVIDER": "brave"}, "BRAVE_API_KEY"),
        ({"SEARCH_PROVIDER": "brave", "TAVILY_API_KEY": "tvly-x"}, "BRAVE_API_KEY"),
        ({"SEARCH_PROVIDER": "tavily"}, "TAVILY_API_KEY"),
        ({"SEARCH_PROVIDER": "tavily", "BRAVE_API_KEY": "b"}, "TAVILY_API_KEY"),
        ({"SEARCH_PROVIDER": "google"}, "SEARCH_PROVIDER"),
        ({"JWT_SECRET": "x" * 31}, "JWT_SECRET"),
        ({"JWT_SECRET": "é" * 15}, "JWT_SECRET"),  # 30 bytes
        ({"BIND_ADDR": "localhost"}, "BIND_ADDR"),
        ({"BIND_ADDR": "127.0.0.1:99999"}, "BIND_ADDR"),
        ({"BIND_ADDR": "127.0.0.1:http"}, "BIND_ADDR"),
        ({"BIND_ADDR": "0.0.0.0:-1"}, "BIND_ADDR"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "sqlite:"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://u@127.0.0.1:1/chat"}, "JWT_SECRET"),
        ({"DATABASE_URL": "postgresql+asyncpg://u@127.0.0.1:1/chat"}, "JWT_SECRET"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"RUST_LOG": "chatty"}, "RUST_LOG"),
        ({"BACKUP_KEEP": "0"}, "BACKUP_KEEP"),
        ({"MAX_JSON_BYTES": "lots"}, "MAX_JSON_BYTES"),
        ({"AI_NAME": "the bot"}, "AI_NAME"),
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v,
)
def test_bad_settings_are_refused_in_one_line(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    assert_refused(check_config(tmp_path, **env), variable)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"SEARCH_PROVIDER": "brave", "BRAVE_API_KEY": "b-key"},
        {"SEARCH_PROVIDER": "tavily", "TAVILY_API_KEY": "tvly-key"},
        {"SEARCH_PROVIDER": ""},
        {"JWT_SECRET": "x" * 32},
        {"JWT_SECRET": "é" * 16},  # 32 bytes
        {"BIND_ADDR": "127.0.0.1:3001"},
        {"BIND_ADDR": "[::1]:8080"},
        {"RUST_LOG": "debug"},
        {"RUST_LOG": "groupchat=warn"},
        {"RUST_LOG": "info,groupchat=debug,tower_http=trace"},
        {"RUST_LOG": "off"},
        {"LOG_LEVEL": "WARNING", "RUST_LOG": "chatty"},  # LOG_LEVEL wins
        {"DATABASE_URL": "postgres://u:p@127.0.0.1:1/chat", "JWT_SECRET": SECRET},
        {"SOME_UNRELATED_VARIABLE": "1", "OPENROUTER_API_KEY": "sk-or-test"},
    ],
    ids=lambda v: ",".join(f"{k}={x}" for k, x in v.items()) or "defaults",
)
def test_good_settings_pass(tmp_path: Path, env: dict[str, str]) -> None:
    done = check_config(tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stdout


def test_postgres_credentials_are_not_printed(tmp_path: Path) -> None:
    done = check_config(
        tmp_path, DATABASE_URL="postgres://chat:hunter2pass@db.internal/chat", JWT_SECRET=SECRET
    )
    assert done.returncode == 0, done.stderr
    assert "hunter2pass" not in done.stdout + done.stderr
    assert "db.internal/chat" in done.stdout


def test_a_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("JWT_SECRET=too-short\nSEARCH_PROVIDER=\n")
    assert_refused(check_config(tmp_path), "JWT_SECRET")
    done = check_config(tmp_path, JWT_SECRET=SECRET)
    assert done.returncode == 0, done.stderr
    other = tmp_path / "other.env"
    other.write_text(f"JWT_SECRET={SECRET}\n")
    done = check_config(tmp_path, "--env-file", str(other))
    assert done.returncode == 0, done.stderr


def test_check_config_without_jwt_secret_prepares_one_beside_the_database(
    tmp_path: Path,
) -> None:
    done = check_config(tmp_path)
    assert done.returncode == 0, done.stderr
    secret_file = tmp_path / "chat.db.jwt-secret"
    assert secret_file.is_file() and oct(secret_file.stat().st_mode & 0o777) == "0o600"
    first = secret_file.read_text()
    assert check_config(tmp_path).returncode == 0
    assert secret_file.read_text() == first


# ---------------------------------------------------------------- in process
@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("sqlite:chat.db?mode=rwc", "sqlite+aiosqlite:///chat.db"),
        ("sqlite:chat.db", "sqlite+aiosqlite:///chat.db"),
        ("sqlite:data/chat.db?mode=rwc", "sqlite+aiosqlite:///data/chat.db"),
        ("sqlite:/srv/chat.db?mode=rwc", "sqlite+aiosqlite:////srv/chat.db"),
        ("sqlite:///rel.db", "sqlite+aiosqlite:///rel.db"),
        ("sqlite:///dir/rel.db", "sqlite+aiosqlite:///dir/rel.db"),
        ("sqlite:////abs/chat.db", "sqlite+aiosqlite:////abs/chat.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("POSTGRES://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_url_forms_are_normalized(url: str, normalized: str) -> None:
    assert normalize_database_url(url) == normalized
    assert configured(database_url=url, jwt_secret=SECRET).sqlalchemy_url == normalized


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:chat.db?mode=rwc", Path("chat.db")),
        ("sqlite:///rel/chat.db", Path("rel/chat.db")),
        ("sqlite:////abs/chat.db", Path("/abs/chat.db")),
        ("postgres://u@h/db", None),
    ],
)
def test_the_sqlite_file_is_found_in_every_form(url: str, path: Path | None) -> None:
    s = configured(database_url=url, jwt_secret=SECRET)
    assert s.sqlite_path == path
    assert s.is_sqlite is (path is not None)


@pytest.mark.parametrize(
    ("log_level", "rust_log", "level"),
    [
        ("", "info", "INFO"),
        ("", "debug", "DEBUG"),
        ("", "trace", "DEBUG"),
        ("", "groupchat=warn", "WARNING"),
        ("", "error,groupchat=debug", "ERROR"),
        ("", "off", "CRITICAL"),
        ("warning", "debug", "WARNING"),
        ("DEBUG", "", "DEBUG"),
        ("", "", "INFO"),
    ],
)
def test_rust_log_and_log_level(log_level: str, rust_log: str, level: str) -> None:
    s = configured(log_level=log_level, rust_log=rust_log)
    assert s.effective_log_level == level


def test_load_settings_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^BRAVE_API_KEY"):
        load_settings(None, search_provider="brave", brave_api_key=None)
    with pytest.raises(ConfigError, match="BACKUP_KEEP"):
        load_settings(None, backup_keep=0)


def test_cors_origins_are_split_and_trimmed() -> None:
    s = configured(cors_origins=" https://a.example/ , https://b.example:8443,,")
    assert s.cors_origin_list == ["https://a.example", "https://b.example:8443"]
    assert configured(cors_origins="").cors_origin_list == []
