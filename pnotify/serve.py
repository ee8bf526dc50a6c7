"""Serving: the listening socket, the connection limits, uvicorn, and a clean stop.

While it runs, the server records where it listens in a small runtime file beside the
database (`<database>.server.json`), so that `pnotify login-link` run from anywhere with the
same settings prints the running server's real URL. It is removed at stop.
"""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import json
import logging
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import uvicorn

from pnotify import backup, db
from pnotify.config import Settings, with_bound_port
from pnotify.connections import ConnectionLimits
from pnotify.protocol import protocol_class

log = logging.getLogger("pnotify")

LISTEN_BACKLOG = 2048  # uvicorn's default


class ServeError(Exception):
    """The server cannot start; the message says why."""


def runtime_file(database: Path) -> Path:
    return database.with_name(database.name + ".server.json")


@contextlib.contextmanager
def _runtime_record(settings: Settings) -> Iterator[None]:
    path = runtime_file(settings.database_path)
    path.write_text(json.dumps({"url": settings.public_url, "pid": os.getpid()}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def serve(settings: Settings) -> int:
    with backup.server_lock(settings.database_path):
        return _serve_locked(settings)


def _serve_locked(settings: Settings) -> int:
    from pnotify.app import create_app

    # Migrate before uvicorn starts, so a refused database is one clear line, not a traceback.
    db.open_and_migrate(settings.database_path, settings.synchronous).close()
    if settings.local_mode and not _is_loopback(settings.host):
        log.warning(
            "local mode on a non-loopback address: anyone who can reach %s can use the sign-in "
            "link; configure AUTHENTIK_* or bind 127.0.0.1",
            settings.host,
        )
    app = create_app(settings)
    limits = _connection_limits(settings)
    log.info("connection limits", extra={"max_connections": limits.max_connections})
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http=protocol_class(limits),
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    server.on_exit_requested = app.begin_shutdown
    try:
        sock = _listen_socket(settings.host, settings.port)
    except OSError as error:
        message = f"cannot listen on {settings.host}:{settings.port} ({error.strerror})"
        raise ServeError(message) from None
    app.settings = settings = with_bound_port(settings, sock.getsockname()[1])
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was installed before it; ours turns that into a normal exit with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_requested)
    log.info(
        "data", extra={"data_dir": str(settings.data_dir), "database": str(settings.database_path)}
    )
    _tune_garbage_collector()
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    with contextlib.suppress(_StopRequested), _runtime_record(settings):
        server.run(sockets=[sock])
    return 0 if server.started else 3


# Collect young garbage every 50,000 allocations instead of 700. Reference counting frees
# almost everything a request or an event makes; the cycle collector's runs were what made the
# tail: with a thousand open streams, delivery p99 fell from ~80 to ~37 ms (`make bench`).
GC_THRESHOLDS = (50_000, 50, 1_000)


# Another thread that wants the GIL (the search indexer's, a search's) waits at most this long
# for the busy loop to give it up (Python's default is 5 ms). Measured under `make bench`'s
# POST load, A/B in 3 pairs of rounds: ~2,480 → ~2,590 requests/s with 0.2 ms. While the
# writer's helper thread has a batch, it is 10 µs (writer.py: HELPER_SWITCH_SECONDS).
GIL_SWITCH_SECONDS = 0.000_2


def _tune_garbage_collector() -> None:
    """Everything made at start-up (modules, templates, the app) is long-lived: freeze it out
    of every future collection, and collect cycles less often (see GC_THRESHOLDS)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _connection_limits(settings: Settings) -> ConnectionLimits:
    """Open connections stay well below the descriptor limit (raised to its maximum first), so
    the database, the log and /healthz always have descriptors left."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    cap = settings.max_connections or max(32, soft * 9 // 10 - 64)
    return ConnectionLimits(
        head_timeout=settings.head_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        max_connections=min(cap, max(32, soft - 64)),
    )


def _listen_socket(host: str, port: int) -> socket.socket:
    """The listening socket, made here so that the process knows its port (0 picks one).

    Created with an explicit IPPROTO_TCP: asyncio turns Nagle's algorithm off only on
    connections whose socket says so, and uvicorn's own `bind_socket` leaves the protocol 0 —
    on the plain asyncio loop that meant a 40 ms delayed-ACK stall on every response.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    # Listening already, so a client that connects once the app has started is queued, not
    # refused, in the moment before uvicorn hands the socket to the event loop.
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app when a stop was asked for: uvicorn waits for open
    connections before the lifespan shutdown, so SSE streams must be ended first."""

    on_exit_requested: Callable[[], None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.on_exit_requested is not None:
            self.on_exit_requested()
        super().handle_exit(sig, frame)


class _StopRequested(Exception):
    pass


def _stop_requested(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
