"""SSE framing, and the body chunks that carry it, are pure functions: check the exact bytes."""

from __future__ import annotations

from pnotify import protocol, sse


def test_event_with_id_and_name() -> None:
    assert sse.event('{"a":1}', name="notification", event_id=7) == (
        b'id: 7\nevent: notification\ndata: {"a":1}\n\n'
    )


def test_multi_line_data_becomes_several_data_lines() -> None:
    assert sse.event("one\ntwo\r\nthree\rfour") == (
        b"data: one\ndata: two\ndata: three\ndata: four\n\n"
    )


def test_line_breaks_are_stripped_from_id_and_name() -> None:
    framed = sse.event("x", name="a\nevent: injected", event_id="1\r\ndata: forged")
    assert framed == b"id: 1data: forged\nevent: aevent: injected\ndata: x\n\n"
    assert framed.count(b"\n\n") == 1


def test_empty_data_is_still_one_data_line() -> None:
    assert sse.event("") == b"data: \n\n"


def test_comment_and_retry() -> None:
    assert sse.comment() == b":\n\n"
    assert sse.comment("keep\nalive") == b": keep\n: alive\n\n"
    assert sse.retry(3000) == b"retry: 3000\n\n"


def test_a_chunk_of_the_body_is_framed_once_for_every_stream() -> None:
    event = sse.event("x", event_id=1)
    framed = protocol.chunked(event)
    assert framed == b"%x\r\n" % len(event) + event + b"\r\n"
    assert protocol.chunked(event) is framed  # the next stream of the fan-out: not framed again
    other = sse.event("y", event_id=2)
    assert protocol.chunked(other) == b"%x\r\n" % len(other) + other + b"\r\n"


def test_an_empty_chunk_ends_the_body() -> None:
    assert protocol.chunked(b"") == b"0\r\n\r\n"
    assert protocol.chunked(sse.comment()) == b"3\r\n:\n\n\r\n"
    assert protocol.chunked(b"") == b"0\r\n\r\n"
