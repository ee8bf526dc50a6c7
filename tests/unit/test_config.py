"""Settings from the environment and `.env`, with errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from pnotify.config import ConfigError, database_path_from_url, load_settings
from pnotify.dotenv import DotenvError, parse_dotenv


def test_dotenv() -> None:
    text = '# comment\nexport A=1\nB="two words"\nC=three # trailing\n\nD=\n'
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "three", "D": ""}
    with pytest.raises(DotenvError, match="line 1"):
        parse_dotenv("not a pair")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite+aiosqlite:///./data/x.db", "data/x.db"),
        ("sqlite:////var/lib/pn.db", "/var/lib/pn.db"),
        ("sqlite:///rel.db", "rel.db"),
        ("/srv/pn.db", "/srv/pn.db"),
    ],
)
def test_database_url_forms(url: str, path: str) -> None:
    assert database_path_from_url(url) == Path(path)


@pytest.mark.parametrize("url", ["postgres://x/y", "sqlite:///:memory:", "sqlite://relative"])
def test_bad_database_url_names_the_variable(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^DATABASE_URL: "):
        database_path_from_url(url)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "LOUD"),
        ("DB_SYNCHRONOUS", "SOMETIMES"),
        ("CORS_ORIGINS", "not-an-origin"),
        ("SECRET_KEY", "short"),
        ("TOKEN_BCRYPT_ROUNDS", "40"),
        ("AUTHENTIK_CLIENT_ID", "only-this-one"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, name: str, value: str) -> None:
    env = {"DATA_DIR": str(tmp_path), name: value}
    with pytest.raises(ConfigError, match=f"^{name}: |^AUTHENTIK_"):
        load_settings(env, dotenv_path=None)


def test_defaults_and_generated_secret_is_kept(tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path / "d")}
    first = load_settings(env, dotenv_path=None)
    second = load_settings(env, dotenv_path=None)
    assert first.local_mode
    assert (first.host, first.port) == ("127.0.0.1", 8000)
    assert first.database_path == tmp_path / "d" / "priority_notify.db"
    assert first.secret_keys == second.secret_keys
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_dotenv_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9000\nLOG_LEVEL=debug\n")
    settings = load_settings({"DATA_DIR": str(tmp_path), "PORT": "9100"}, dotenv_path=dotenv)
    assert (settings.port, settings.log_level) == (9100, "DEBUG")
