"""stdlib logging with one JSON object per line (and a plain form for a terminal)."""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from pnotify.jsontext import encoder

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


# Built once: json.dumps with options builds a new encoder on every call (+2 µs a line).
_LINE = encoder((", ", ": "), allow_nan=True, default=str)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["trace"] = self.formatException(record.exc_info)
        return _LINE(entry)


class TerminalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items() if k != "trace")
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}" + (
            f"  {extras}" if extras else ""
        )
        trace = record.__dict__.get("trace")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif trace:
            line += "\n" + str(trace)
        return line


def _skip_unused_record_fields() -> None:
    """Neither format shows where a call came from, nor thread or process: don't work them out
    for every record (the logging HOWTO's "Optimization"). Finding the caller walks the stack:
    49 → 41 µs a record here, and each stream that opens and closes logs two."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure(level: str, stream: TextIO | None = None, *, force_json: bool = False) -> None:
    _skip_unused_record_fields()
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    plain = stream.isatty() and not force_json
    handler.setFormatter(TerminalFormatter() if plain else JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class FrequentLines:
    """The lines logged at a request's or a stream's pace (one per request; a stream's opening
    and closing), gathered and written in batches.

    Deliberately beside `logging` rather than through it: at several thousand requests a second
    a LogRecord, a handler lock and a write per line cost a quarter of the server's throughput
    here (measured with `make bench`); a dict, one `json.dumps` and a write every few hundred
    milliseconds cost a few percent (opening a thousand streams: 630 → ~500 µs each). The lines
    have the same shape as the JSON log's, and are flushed at shutdown.
    """

    def __init__(self, stream: TextIO | None = None, *, plain: bool | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._plain = self._stream.isatty() if plain is None else plain
        self._lines: list[str] = []
        self._heads: dict[tuple[str, str], str] = {}  # (logger, event) → its fields, encoded
        self._second = -1
        self._stamp = ""  # that second, formatted

    def request(self, entry: dict[str, Any]) -> None:
        self.write("pnotify.access", "request", entry)

    def write(self, logger: str, event: str, entry: dict[str, Any]) -> None:
        if self._plain:
            details = " ".join(f"{k}={v}" for k, v in entry.items())
            self._lines.append(f"{time.strftime('%H:%M:%S')} INFO    {event}  {details}")
        else:
            # The JSON log's shape, put together from parts (a line per request: 12.5 → 8 µs).
            head = self._heads.get((logger, event))
            if head is None:
                fields = {"level": "info", "logger": logger, "event": event}
                head = self._heads[(logger, event)] = _LINE(fields)[1:-1]
            rest = ", " + _LINE(entry)[1:] if entry else "}"
            self._lines.append(f'{{"time": "{self._utc_now()}", {head}{rest}')
        if len(self._lines) >= 512:
            self.flush()

    def _utc_now(self) -> str:
        """Now, as `datetime.isoformat(timespec="milliseconds")` writes it in UTC."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}+00:00"

    def flush(self) -> None:
        if not self._lines:
            return
        lines, self._lines = self._lines, []
        try:
            self._stream.write("\n".join(lines) + "\n")
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken log stream must not break requests
