"""Unit tests for the pure parts: routing, token format, validation, time and ids, config."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pnotify import clock, validation
from pnotify.auth.token_format import hash_secret, new_token, parse_token, secret_matches
from pnotify.config import ConfigError, database_path_from_url, load_settings, parse_dotenv
from pnotify.http import BadRequest, MethodNotAllowed, NotFound, Request, Response, ValidationError
from pnotify.ids import uuid7
from pnotify.routing import Route, Router


async def _handler(request: Request) -> Response:
    return Response.no_content()


ROUTER = Router(
    [
        Route("GET", "/api/notifications/", _handler),
        Route("POST", "/api/notifications/", _handler),
        Route("GET", "/api/notifications/{id}", _handler),
        Route("DELETE", "/api/notifications/{id}", _handler),
        Route("GET", "/api/me", _handler),
    ]
)


class TestRouting:
    def test_matches_method_and_captures_params(self) -> None:
        match = ROUTER.resolve("DELETE", "/api/notifications/abc-123")
        assert match.route.method == "DELETE"
        assert match.params == {"id": "abc-123"}

    def test_collection_without_trailing_slash_is_served(self) -> None:
        assert ROUTER.resolve("POST", "/api/notifications").route.pattern == "/api/notifications/"

    def test_head_is_served_by_get(self) -> None:
        assert ROUTER.resolve("HEAD", "/api/me").route.method == "GET"

    def test_wrong_method_is_405_with_allow(self) -> None:
        with pytest.raises(MethodNotAllowed) as caught:
            ROUTER.resolve("PUT", "/api/notifications/x")
        assert caught.value.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"

    def test_unknown_path_is_404(self) -> None:
        with pytest.raises(NotFound):
            ROUTER.resolve("GET", "/api/nothing")

    def test_param_does_not_cross_slashes(self) -> None:
        with pytest.raises(NotFound):
            ROUTER.resolve("GET", "/api/notifications/a/b")


class TestTokenFormat:
    def test_round_trip(self) -> None:
        plaintext, parsed = new_token()
        assert plaintext.startswith("pn_")
        assert parse_token(plaintext) == parsed
        assert len(parsed.lookup_id) == 12

    def test_tokens_are_unique(self) -> None:
        assert len({new_token()[0] for _ in range(200)}) == 200

    @pytest.mark.parametrize(
        "token",
        [
            "",
            "pn_",
            "xx_abcdefghijkl_" + "a" * 43,
            "pn_abcdefghijk_" + "a" * 43,  # lookup id too short
            "pn_abcdefghijkl_" + "a" * 42,  # secret too short
            "pn_abcdefghijkl_" + "a" * 43 + "!",
            "pn_abcdefghij-l_" + "a" * 43,
            "pn_abcdefghijkl_" + "a" * 43 + "\n",
        ],
    )
    def test_malformed_tokens_are_refused(self, token: str) -> None:
        assert parse_token(token) is None

    def test_bcrypt_hash_verifies_only_the_secret(self) -> None:
        _, parsed = new_token()
        stored = hash_secret(parsed.secret, 4)
        assert parsed.secret not in stored
        assert secret_matches(parsed.secret, stored)
        assert not secret_matches(parsed.secret[:-1] + "x", stored)


class TestValidation:
    def test_required_string(self) -> None:
        assert validation.required_string({"title": "hi"}, "title", 10) == "hi"
        for data, problem in [
            ({}, "title: is required"),
            ({"title": None}, "title: is required"),
            ({"title": 5}, "title: must be a string"),
            ({"title": "  "}, "title: must not be empty"),
            ({"title": "x" * 11}, "title: must be at most 10 characters"),
        ]:
            with pytest.raises(ValidationError) as caught:
                validation.required_string(data, "title", 10)
            assert caught.value.detail == problem
            assert caught.value.field == "title"

    def test_unknown_fields(self) -> None:
        with pytest.raises(ValidationError) as caught:
            validation.reject_unknown({"title": 1, "colour": 2}, ("title",))
        assert caught.value.field == "colour"

    def test_choice(self) -> None:
        assert validation.choice("low", "priority", ("low", "high")) == "low"
        with pytest.raises(ValidationError, match="priority: must be one of low, high"):
            validation.choice("urgent", "priority", ("low", "high"))

    def test_json_object(self) -> None:
        assert validation.json_object({"m": {"a": [1, "é"]}}, "m", 100) == '{"a":[1,"é"]}'
        with pytest.raises(ValidationError, match="m: must be a JSON object"):
            validation.json_object({"m": [1]}, "m", 100)
        with pytest.raises(ValidationError, match="at most 10 bytes"):
            validation.json_object({"m": {"a": "x" * 20}}, "m", 10)

    def test_int_param(self) -> None:
        assert validation.int_param({}, "limit", 50, 1, 200) == 50
        assert validation.int_param({"limit": "200"}, "limit", 50, 1, 200) == 200
        with pytest.raises(BadRequest, match="limit: expected a whole number"):
            validation.int_param({"limit": "ten"}, "limit", 50, 1, 200)
        with pytest.raises(ValidationError, match="limit: must be at most 200"):
            validation.int_param({"limit": "201"}, "limit", 50, 1, 200)
        with pytest.raises(ValidationError, match="limit: must be at least 1"):
            validation.int_param({"limit": "0"}, "limit", 50, 1, 200)

    def test_timestamp_param(self) -> None:
        utc = validation.timestamp_param({"since": "2026-01-02T03:04:05Z"}, "since")
        naive = validation.timestamp_param({"since": "2026-01-02T03:04:05"}, "since")
        shifted = validation.timestamp_param({"since": "2026-01-02T04:04:05+01:00"}, "since")
        assert utc == naive == shifted == 1_767_323_045_000_000
        with pytest.raises(BadRequest, match="since: expected an ISO 8601 timestamp"):
            validation.timestamp_param({"since": "yesterday"}, "since")


class TestClockAndIds:
    def test_iso_round_trip_keeps_microseconds(self) -> None:
        micros = 1_767_323_045_123_456
        text = clock.to_iso(micros)
        assert text == "2026-01-02T03:04:05.123456+00:00"
        assert clock.parse_iso(text) == micros

    def test_uuid7_is_version_7_and_time_ordered(self) -> None:
        ids = [uuid7() for _ in range(50)]
        parsed = [uuid.UUID(i) for i in ids]
        assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
        millis = [u.int >> 80 for u in parsed]
        assert millis == sorted(millis)


class TestConfig:
    def test_dotenv(self) -> None:
        text = '# comment\nexport A=1\nB="two words"\nC=three # trailing\n\nD=\n'
        assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "three", "D": ""}
        with pytest.raises(ConfigError, match="line 1"):
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
    def test_database_url_forms(self, url: str, path: str) -> None:
        assert database_path_from_url(url) == Path(path)

    @pytest.mark.parametrize("url", ["postgres://x/y", "sqlite:///:memory:", "sqlite://relative"])
    def test_bad_database_url_names_the_variable(self, url: str) -> None:
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
    def test_bad_values_name_the_variable(self, tmp_path: Path, name: str, value: str) -> None:
        env = {"DATA_DIR": str(tmp_path), name: value}
        with pytest.raises(ConfigError, match=f"^{name}: |^AUTHENTIK_"):
            load_settings(env, dotenv_path=None)

    def test_defaults_and_generated_secret_is_kept(self, tmp_path: Path) -> None:
        env = {"DATA_DIR": str(tmp_path / "d")}
        first = load_settings(env, dotenv_path=None)
        second = load_settings(env, dotenv_path=None)
        assert first.local_mode
        assert (first.host, first.port) == ("127.0.0.1", 8000)
        assert first.database_path == tmp_path / "d" / "priority_notify.db"
        assert first.secret_keys == second.secret_keys
        assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o777 == 0o600

    def test_dotenv_file_is_read_and_environment_wins(self, tmp_path: Path) -> None:
        dotenv = tmp_path / ".env"
        dotenv.write_text("PORT=9000\nLOG_LEVEL=debug\n")
        settings = load_settings({"DATA_DIR": str(tmp_path), "PORT": "9100"}, dotenv_path=dotenv)
        assert (settings.port, settings.log_level) == (9100, "DEBUG")
