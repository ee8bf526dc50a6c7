"""Settings from the environment and an optional `.env` file, validated once at start-up.

Every problem is reported as one `ConfigError` line that names the variable, so a typo in a
deployment stops the server with a readable message instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

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

    @property
    def local_mode(self) -> bool:
        return self.oidc is None

    @property
    def signing_key(self) -> bytes:
        """The newest secret signs; older ones (rotation) still verify."""
        return self.secret_keys[0]


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse KEY=VALUE lines; `#` comments, optional `export ` and matching quotes."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ConfigError(f".env line {number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


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
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected {what}, got {value!r}") from None
    if not low <= number <= high:
        raise ConfigError(f"{name}: must be between {low} and {high}, got {number}")
    return number


def _parse_seconds(name: str, value: str, low: float, high: float) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name}: expected a number of seconds, got {value!r}") from None
    if not low <= seconds <= high:
        raise ConfigError(f"{name}: must be between {low} and {high} seconds, got {value}")
    return seconds


def _optional_days(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name, "").strip()
    if value in ("", "0", "off"):
        return None
    return _parse_int(name, value, 1, 36_500)


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


def _load_secret_keys(env: Mapping[str, str], data_dir: Path) -> tuple[bytes, ...]:
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


def load_settings(
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = Path(".env"),
    *,
    host: str | None = None,
    port: int | None = None,
) -> Settings:
    """Build settings: command-line values beat the environment, which beats `.env`."""
    env: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        env.update(parse_dotenv(dotenv_path.read_text()))
    env.update(os.environ if environ is None else environ)

    data_dir = Path(env.get("DATA_DIR", "data"))
    database_url = env.get("DATABASE_URL", "")
    database_path = (
        database_path_from_url(database_url) if database_url else data_dir / "priority_notify.db"
    )

    oidc = _oidc_settings(env)
    bind_host = host if host is not None else env.get("HOST", "127.0.0.1")
    bind_port = port if port is not None else _parse_port("PORT", env.get("PORT", "8000"))

    allowed_hosts = _split_list(env.get("ALLOWED_HOSTS", ",".join(DEFAULT_ALLOWED_HOSTS)))
    if not allowed_hosts:
        raise ConfigError("ALLOWED_HOSTS: must list at least one host name (or *)")
    cors_origins = [
        _parse_origin("CORS_ORIGINS", o) for o in _split_list(env.get("CORS_ORIGINS", ""))
    ]

    log_level = env.get("LOG_LEVEL", "INFO").upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    synchronous = env.get("DB_SYNCHRONOUS", "FULL").upper()
    if synchronous not in SYNCHRONOUS_MODES:
        raise ConfigError(
            f"DB_SYNCHRONOUS: expected one of {', '.join(SYNCHRONOUS_MODES)}, got {synchronous!r}"
        )

    public_url = env.get("PUBLIC_URL", "").rstrip("/")
    if public_url:
        public_url = _parse_origin("PUBLIC_URL", public_url)
    else:
        shown_host = "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host  # noqa: S104
        public_url = f"http://{shown_host}:{bind_port}"

    return Settings(
        data_dir=data_dir,
        database_path=database_path,
        secret_keys=_load_secret_keys(env, data_dir),
        host=bind_host,
        port=bind_port,
        allowed_hosts=frozenset(h.lower() for h in allowed_hosts),
        cors_origins=frozenset(cors_origins),
        log_level=log_level,
        public_url=public_url,
        synchronous=synchronous,
        bcrypt_rounds=_parse_int(
            "TOKEN_BCRYPT_ROUNDS", env.get("TOKEN_BCRYPT_ROUNDS", "12"), 4, 16
        ),
        oidc=oidc,
        sse_keepalive_seconds=_parse_seconds(
            "SSE_KEEPALIVE_SECONDS", env.get("SSE_KEEPALIVE_SECONDS", "15"), 0.05, 300.0
        ),
        sse_queue_limit=_parse_int(
            "SSE_QUEUE_LIMIT", env.get("SSE_QUEUE_LIMIT", "1000"), 10, 100_000
        ),
        metrics_token=_metrics_token(env.get("METRICS_TOKEN", "")),
        access_log=_parse_bool("ACCESS_LOG", env.get("ACCESS_LOG", "true")),
        auto_archive_after_days=_optional_days(env, "AUTO_ARCHIVE_AFTER_DAYS"),
        delete_archived_after_days=_optional_days(env, "DELETE_ARCHIVED_AFTER_DAYS"),
        tombstone_retention_days=_parse_int(
            "TOMBSTONE_RETENTION_DAYS", env.get("TOMBSTONE_RETENTION_DAYS", "90"), 1, 36_500
        ),
        retention_interval_seconds=_parse_seconds(
            "RETENTION_INTERVAL_SECONDS", env.get("RETENTION_INTERVAL_SECONDS", "600"), 0.05, 86_400
        ),
    )


def with_bound_port(settings: Settings, port: int) -> Settings:
    """The settings once the listening socket is bound (port 0 picks a free port)."""
    public_url = settings.public_url
    if public_url.endswith(f":{settings.port}") and port != settings.port:
        public_url = public_url[: -len(str(settings.port))] + str(port)
    return replace(settings, port=port, public_url=public_url)
