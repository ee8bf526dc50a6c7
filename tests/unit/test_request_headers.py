"""A request's headers, looked up by name, and a response's headers, encoded for the wire."""

from __future__ import annotations

import pytest

from pnotify.http import Message, Request
from pnotify.responses import Response, constant_headers, header_line


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


def _request(*headers: tuple[bytes, bytes], query: bytes = b"") -> Request:
    return Request({"type": "http", "headers": list(headers), "query_string": query}, _nothing)


def test_a_repeated_header_gives_its_last_value() -> None:
    request = _request((b"accept", b"a"), (b"host", b"one"), (b"accept", b"b"))
    assert request.header("accept") == "b"
    assert request.header("host") == "one"
    assert request.header("origin") is None


def test_repeats_names_only_the_header_that_comes_twice() -> None:
    request = _request((b"accept", b"a"), (b"host", b"one"), (b"accept", b"b"))
    assert request.repeats("accept")
    assert not request.repeats("host")
    assert not _request((b"host", b"one"), (b"accept", b"a")).repeats("host")
    assert _request((b"host", b"one"), (b"host", b"two")).repeats("host")


def test_header_values_are_latin_1() -> None:
    assert _request((b"x-name", "café".encode("latin-1"))).header("x-name") == "café"


def test_the_media_type_is_the_content_type_without_parameters_in_lower_case() -> None:
    request = _request((b"content-type", b" Application/JSON ; charset=utf-8"))
    assert request.media_type == "application/json"
    assert request.media_type == "application/json"  # kept, and the same
    assert _request().media_type == ""


def test_query_parameters_keep_the_last_value_and_no_query_is_empty() -> None:
    assert _request(query=b"a=1&b=&a=2").query == {"a": "2", "b": ""}
    assert _request().query == {}


def test_constant_and_other_headers_encode_alike() -> None:
    (declared,) = constant_headers(("x-test-constant", "yes"))
    response = Response(200, b"", [declared, ("x-test-other", "caf\u00e9")])
    assert response.raw_headers() == [(b"x-test-constant", b"yes"), (b"x-test-other", b"caf\xe9")]


def test_head_lines_hold_constant_and_other_headers_alike_with_the_length() -> None:
    (declared,) = constant_headers(("x-test-line", "yes"))
    response = Response(201, b"{}", [declared, ("x-test-other", "caf\u00e9")])
    assert (
        response.head_lines()
        == b"x-test-line: yes\r\nx-test-other: caf\xe9\r\ncontent-length: 2\r\n"
    )


@pytest.mark.parametrize(
    "pair",
    [
        ("location", "/x\r\nset-cookie: stolen=1"),
        ("x-test", "a\nb"),
        ("x-test", "nul\x00"),
        ("bad name", "v"),
        ("x:test", "v"),
    ],
)
def test_a_header_that_could_split_the_response_is_refused(pair: tuple[str, str]) -> None:
    with pytest.raises(RuntimeError, match="Invalid HTTP header"):
        Response(200, b"", [pair]).head_lines()


def test_a_tab_in_a_value_is_allowed_as_uvicorn_allows_it() -> None:
    assert header_line((b"x-test", b"a\tb")) == b"x-test: a\tb\r\n"


def test_a_name_checked_before_does_not_let_a_bad_value_through() -> None:
    """Names are checked once each (they are the code's words); values every time."""
    assert header_line((b"x-request-id", b"abc")) == b"x-request-id: abc\r\n"
    with pytest.raises(RuntimeError, match="Invalid HTTP header"):
        header_line((b"x-request-id", b"abc\r\nset-cookie: stolen=1"))
    with pytest.raises(RuntimeError, match="Invalid HTTP header"):
        header_line((b"x-request-id\r\nx", b"abc"))  # a bad name is never kept as good
    with pytest.raises(RuntimeError, match="Invalid HTTP header"):
        header_line((b"x-request-id\r\nx", b"abc"))
