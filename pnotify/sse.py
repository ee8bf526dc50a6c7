"""Server-Sent Events framing: pure functions from values to the bytes on the wire.

As in sse-starlette's `event.py`: multi-line data becomes several `data:` lines, and carriage
returns and newlines are stripped from `event` and `id`, which must stay on one line.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _single_line(value: str) -> str:
    return _LINE_BREAK.sub("", value)


def event(data: str, *, name: str | None = None, event_id: str | int | None = None) -> bytes:
    lines: list[str] = []
    if event_id is not None:
        lines.append(f"id: {_single_line(str(event_id))}")
    if name is not None:
        lines.append(f"event: {_single_line(name)}")
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return ("\n".join(lines) + "\n\n").encode()


def comment(text: str = "") -> bytes:
    """A `:` line, ignored by clients: keepalive that also defeats proxy idle time-outs."""
    return (
        "".join(f": {line}\n" if line else ":\n" for line in _LINE_BREAK.split(text)).encode()
        + b"\n"
    )


def retry(milliseconds: int) -> bytes:
    return f"retry: {int(milliseconds)}\n\n".encode()
