"""Settings from the environment and an optional `.env` file, validated once at start-up.

Every problem is reported as one `ConfigError` line that names the variable, so a typo in a
deployment stops the server with a readable message instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from pnotify.dotenv import DotenvError, parse_dotenv

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "[::1]")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class OIDCSettings:
    issuer_url: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_path: Path
    database_setting: str  # which variable chose the database's place, for error messages
    secret_keys: tuple[bytes, ...]
    host: str
    port: int
    allowed_hosts: frozenset[str]
    cors_origins: frozenset[str]
    log_level: str
    public_url: str
    synchronous: str
    bcrypt_rounds: int
    oidc: OIDCSettings | None
    sse_keepalive_seconds: float = 15.0
    sse_queue_limit: int = 1000
    metrics_token: str | None = None
    access_log: bool = True
    auto_archive_after_days: int | None = None
    delete_archived_after_days: int | None = None
    tombstone_retention_days: int = 90
    retention_interval_seconds: float = 600.0
    read_time_limit_ms: float = 1000.0
    sse_streams_per_token: int = 16
    token_rate_limit: float = 50.0
    head_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections: int = 0  # 0: nine tenths of the descriptor limit

    @property
    def local_mode(self) -> bool:
        return self.oidc is None

    @property
    def signing_key(self) -> bytes:
        """The newest secret signs; older ones (rotation) still verify."""
        return self.secret_keys[0]


def default_data_dir(env: Mapping[str, str]) -> Path:
    """Where an installed server keeps its data without DATA_DIR: the platform's place for
    user data ($XDG_DATA_HOME/priority-notify). `make run` sets ./data; the container /data."""
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local/share")
    return Path(base) / "priority-notify"


def database_path_from_url(url: str) -> Path:
    """Accept `sqlite+aiosqlite:///path`, `sqlite:///path` or a plain path."""
    for prefix in ("sqlite+aiosqlite://", "sqlite+apsw://", "sqlite://"):
        if url.startswith(prefix):
            rest = url[len(prefix) :]
            if not rest.startswith("/"):
                raise ConfigError(f"DATABASE_URL: expected {prefix}/path, got {url!r}")
            # sqlite:///relative.db is relative; sqlite:////abs.db is absolute.
            rest = rest[1:]
            if not rest or rest == ":memory:":
                raise ConfigError("DATABASE_URL: a file path is required (no in-memory database)")
            return Path(rest)
    if "://" in url:
        raise ConfigError(f"DATABASE_URL: unsupported scheme in {url!r}; use sqlite:///path")
    if not url.strip():
        raise ConfigError("DATABASE_URL: must not be empty")
    return Path(url)


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse_port(name: str, value: str) -> int:
    return _parse_int(name, value, 0, 65535, what="a port number")


def _parse_int(name: str, value: str, low: int, high: int, *, what: str = "a whole number") -> int:
    return int(_bounded(name, value, low, high, int, f"expected {what}", ""))


def _parse_number(name: str, value: str, low: float, high: float, unit: str) -> float:
    return _bounded(name, value, low, high, float, f"expected a number of {unit}", f" {unit}")


def _bounded(
    name: str,
    value: str,
    low: float,
    high: float,
    parse: Callable[[str], float],
    expected: str,
    unit: str,
) -> float:
    try:
        number = parse(value)
    except ValueError:
        raise ConfigError(f"{name}: {expected}, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}: must be between {low:g} and {high:g}{unit}, got {value}")
    return number


def _seconds(name: str, value: str, high: float = 86_400) -> float:
    return _parse_number(name, value, 0.05, high, "seconds")


def _milliseconds(name: str, value: str) -> float:
    return _parse_number(name, value, 1, 600_000, "milliseconds")


def _count(name: str, value: str) -> int:
    return _parse_int(name, value, 0, 1_000_000)


def _rate(name: str, value: str) -> float:
    return _parse_number(name, value, 0, 1_000_000, "requests a second")


def _days(name: str, value: str) -> int:
    return _parse_int(name, value, 1, 36_500)


def _optional_days(name: str, value: str) -> int | None:
    return None if value in ("", "0", "off") else _days(name, value)


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {value!r}")


def _metrics_token(value: str) -> str | None:
    if not value:
        return None
    if len(value) < 16:
        raise ConfigError("METRICS_TOKEN: must be at least 16 characters")
    return value


def _parse_origin(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise ConfigError(f"{name}: expected an origin like https://example.com, got {value!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def _load_secret_keys(env: Mapping[str, str], data_dir: Path, generate: bool) -> tuple[bytes, ...]:
    configured = env.get("SECRET_KEY", "")
    if configured:
        keys = _split_list(configured)
        for key in keys:
            if len(key) < 16:
                raise ConfigError("SECRET_KEY: each key must be at least 16 characters")
        return tuple(key.encode() for key in keys)
    # No key configured: generate one once and keep it, so sessions and the token cache key
    # survive restarts without the user having to invent a secret.
    key_file = data_dir / "secret_key"
    if key_file.exists():
        key = key_file.read_text().strip()
        if len(key) < 16:
            raise ConfigError(f"SECRET_KEY: {key_file} is too short; delete it to regenerate")
        return (key.encode(),)
    if not generate:
        return ()  # a command that signs nothing must not create files on its way
    key = secrets.token_urlsafe(48)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
    except OSError as error:
        raise ConfigError(f"DATA_DIR: cannot write {key_file} ({error.strerror})") from None
    return (key.encode(),)


def _oidc_settings(env: Mapping[str, str]) -> OIDCSettings | None:
    names = (
        "AUTHENTIK_ISSUER_URL",
        "AUTHENTIK_CLIENT_ID",
        "AUTHENTIK_CLIENT_SECRET",
        "AUTHENTIK_REDIRECT_URI",
    )
    present = {name: env.get(name, "").strip() for name in names}
    if not any(present.values()):
        return None
    for name, value in present.items():
        if not value:
            raise ConfigError(f"{name}: required when any AUTHENTIK_* variable is set")
    for name in ("AUTHENTIK_ISSUER_URL", "AUTHENTIK_REDIRECT_URI"):
        parts = urlsplit(present[name])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{name}: expected an http(s) URL, got {present[name]!r}")
    return OIDCSettings(
        issuer_url=present["AUTHENTIK_ISSUER_URL"],
        client_id=present["AUTHENTIK_CLIENT_ID"],
        client_secret=present["AUTHENTIK_CLIENT_SECRET"],
        redirect_uri=present["AUTHENTIK_REDIRECT_URI"],
    )


# Settings that are one variable each: (field, variable, default, parse).
_TUNABLES: tuple[tuple[str, str, str, Callable[[str, str], object]], ...] = (
    ("bcrypt_rounds", "TOKEN_BCRYPT_ROUNDS", "12", lambda n, v: _parse_int(n, v, 4, 16)),
    ("sse_keepalive_seconds", "SSE_KEEPALIVE_SECONDS", "15", lambda n, v: _seconds(n, v, 300)),
    ("sse_queue_limit", "SSE_QUEUE_LIMIT", "1000", lambda n, v: _parse_int(n, v, 10, 100_000)),
    ("metrics_token", "METRICS_TOKEN", "", lambda n, v: _metrics_token(v)),
    ("access_log", "ACCESS_LOG", "true", _parse_bool),
    ("auto_archive_after_days", "AUTO_ARCHIVE_AFTER_DAYS", "", _optional_days),
    ("delete_archived_after_days", "DELETE_ARCHIVED_AFTER_DAYS", "", _optional_days),
    ("tombstone_retention_days", "TOMBSTONE_RETENTION_DAYS", "90", _days),
    ("retention_interval_seconds", "RETENTION_INTERVAL_SECONDS", "600", _seconds),
    ("read_time_limit_ms", "READ_TIME_LIMIT_MS", "1000", _milliseconds),
    ("sse_streams_per_token", "SSE_STREAMS_PER_TOKEN", "16", _count),
    ("token_rate_limit", "TOKEN_RATE_LIMIT", "50", _rate),
    ("head_timeout_seconds", "HEAD_TIMEOUT_SECONDS", "10", lambda n, v: _seconds(n, v, 600)),
    ("body_timeout_seconds", "BODY_TIMEOUT_SECONDS", "30", lambda n, v: _seconds(n, v, 3600)),
    ("max_connections", "MAX_CONNECTIONS", "0", _count),
)


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = Path(".env"),
    *,
    host: str | None = None,
    port: int | None = None,
    generate_secret: bool = True,
) -> Settings:
    """Build settings: command-line values beat the environment, which beats `.env`.

    Without SECRET_KEY, one is generated into DATA_DIR the first time (`generate_secret`);
    commands that sign nothing pass False, so that they create nothing.
    """
    env: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        try:
            env.update(parse_dotenv(dotenv_path.read_text()))
        except DotenvError as error:
            raise ConfigError(str(error)) from None
    env.update(os.environ if environ is None else environ)

    data_dir = Path(env.get("DATA_DIR") or default_data_dir(env))
    database_url = env.get("DATABASE_URL", "")
    database_path = (
        database_path_from_url(database_url) if database_url else data_dir / "priority_notify.db"
    )
    bind_host = host if host is not None else env.get("HOST", "127.0.0.1")
    bind_port = port if port is not None else _parse_port("PORT", env.get("PORT", "8000"))
    tunables = {
        field: parse(name, env.get(name, default).strip())
        for field, name, default, parse in _TUNABLES
    }
    return Settings(
        data_dir=data_dir,
        database_path=database_path,
        database_setting="DATABASE_URL" if database_url else "DATA_DIR",
        secret_keys=_load_secret_keys(env, data_dir, generate_secret),
        host=bind_host,
        port=bind_port,
        allowed_hosts=_allowed_hosts(env),
        cors_origins=frozenset(
            _parse_origin("CORS_ORIGINS", o) for o in _split_list(env.get("CORS_ORIGINS", ""))
        ),
        log_level=_choice(env, "LOG_LEVEL", "INFO", LOG_LEVELS),
        public_url=_public_url(env, bind_host, bind_port),
        synchronous=_choice(env, "DB_SYNCHRONOUS", "FULL", SYNCHRONOUS_MODES),
        oidc=_oidc_settings(env),
        **tunables,  # type: ignore[arg-type]
    )


def _allowed_hosts(env: Mapping[str, str]) -> frozenset[str]:
    allowed = _split_list(env.get("ALLOWED_HOSTS", ",".join(DEFAULT_ALLOWED_HOSTS)))
    if not allowed:
        raise ConfigError("ALLOWED_HOSTS: must list at least one host name (or *)")
    return frozenset(host.lower() for host in allowed)


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, default).upper()
    if value not in choices:
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
    return value


def _public_url(env: Mapping[str, str], bind_host: str, bind_port: int) -> str:
    public_url = env.get("PUBLIC_URL", "").rstrip("/")
    if public_url:
        return _parse_origin("PUBLIC_URL", public_url)
    shown_host = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host  # noqa: S104
    return f"http://{shown_host}:{bind_port}"


def with_bound_port(settings: Settings, port: int) -> Settings:
    """The settings once the listening socket is bound (port 0 picks a free port)."""
    public_url = settings.public_url
    if public_url.endswith(f":{settings.port}") and port != settings.port:
        public_url = public_url[: -len(str(settings.port))] + str(port)
    return replace(settings, port=port, public_url=public_url)
