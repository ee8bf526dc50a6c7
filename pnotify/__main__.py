"""`python -m pnotify`: the server (default), and the operator's commands.

python -m pnotify [serve] [--host H] [--port P]
python -m pnotify migrate
python -m pnotify token create --name N [--device-type T] [--scope S] [--expires-in DAYS]
python -m pnotify token list
python -m pnotify token revoke ID
python -m pnotify new-migration NAME
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import resource
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

import apsw
import uvicorn

from pnotify import backup, db, logs, migrate
from pnotify.clock import now_us, to_iso
from pnotify.config import ConfigError, Settings, load_settings, with_bound_port
from pnotify.protocol import ConnectionLimits, protocol_class
from pnotify.storage import client_tokens as token_store
from pnotify.storage import sessions as session_store
from pnotify.storage import users

log = logging.getLogger("pnotify")


LISTEN_BACKLOG = 2048  # uvicorn's default


class CommandError(Exception):
    """A command cannot do what was asked; the message says why."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pnotify", description="priority-notify server")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the server (the default)")
    for target in (parser, serve):
        target.add_argument("--host", help="address to bind (default 127.0.0.1, env HOST)")
        target.add_argument(
            "--port", type=int, help="port to bind (default 8000, env PORT; 0 = any)"
        )

    commands.add_parser("migrate", help="apply pending database migrations")
    commands.add_parser("login-link", help="print a one-time sign-in link (local mode)")
    backup_command = commands.add_parser("backup", help="copy the database while the server runs")
    backup_command.add_argument("path", type=Path)
    restore_command = commands.add_parser("restore", help="replace the database with a backup")
    restore_command.add_argument("path", type=Path)
    new_migration = commands.add_parser(
        "new-migration", help="create the next empty sql/NNNN_name.sql"
    )
    new_migration.add_argument("name")

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="mint a token and print it once")
    create.add_argument("--name", required=True, help="a label, e.g. 'Pixel 8' or 'backup cron'")
    create.add_argument("--device-type", choices=token_store.DEVICE_TYPES, default="other")
    create.add_argument("--scope", choices=token_store.SCOPES, default="full")
    create.add_argument("--expires-in", type=int, metavar="DAYS", help="expire after DAYS days")
    token_list = token_commands.add_parser("list", help="list tokens (never their secrets)")
    revoke = token_commands.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("id")
    for target in (create, token_list, revoke):
        target.add_argument("--user", help="the user's e-mail or id (required with OIDC)")
    return parser


def _user_for_command(conn: apsw.Connection, settings: Settings, who: str | None) -> users.User:
    if who is None:
        if settings.local_mode:
            return users.local_user(conn)
        raise CommandError("OIDC is configured: name the user with --user EMAIL (or user id)")
    found = users.get(conn, who)
    if found is not None:
        return found
    matches = users.find_by_email(conn, who)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CommandError(f"several users have e-mail {who}; use the user id")
    raise CommandError(f"no user {who!r}; users appear after their first sign-in")


def _token_command(args: argparse.Namespace, settings: Settings) -> None:
    conn = db.open_and_migrate(settings.database_path, settings.synchronous)
    try:
        user = _user_for_command(conn, settings, args.user)
        if args.token_command == "create":
            try:
                name = token_store.checked_name(args.name)
            except token_store.TokenRuleError as error:
                raise CommandError(f"--name {error}") from None
            try:
                expires_at = token_store.expiry_after_days(args.expires_in, now_us())
            except token_store.TokenRuleError as error:
                raise CommandError(f"--expires-in {error}") from None
            new = token_store.create(
                conn,
                user.id,
                name,
                device_type=args.device_type,
                scope=args.scope,
                expires_at=expires_at,
                rounds=settings.bcrypt_rounds,
            )
            print(new.plaintext)
            print(
                f"token {new.row.id} ({new.row.scope}) created; this is the only time it is shown",
                file=sys.stderr,
            )
        elif args.token_command == "list":
            rows = token_store.list_for_user(conn, user.id)
            print(f"{'ID':36}  {'NAME':20}  {'DEVICE':7}  {'SCOPE':7}  {'LAST USED':25}  EXPIRES")
            for row in rows:
                used = to_iso(row.last_used_at) if row.last_used_at else "never"
                expires = to_iso(row.expires_at) if row.expires_at else "never"
                print(
                    f"{row.id:36}  {row.name[:20]:20}  {row.device_type:7}  {row.scope:7}  "
                    f"{used:25}  {expires}"
                )
        elif args.token_command == "revoke":
            with conn:
                if not token_store.revoke(conn, user.id, args.id):
                    raise CommandError(f"no token {args.id} for this user")
            print(f"token {args.id} revoked", file=sys.stderr)
    finally:
        conn.close()


def _login_link(settings: Settings) -> None:
    if not settings.local_mode:
        raise CommandError("sign-in links are for local mode; this server signs in with OIDC")
    conn = db.open_and_migrate(settings.database_path, settings.synchronous)
    try:
        with conn:
            code = session_store.create_login_link_code(conn)
    finally:
        conn.close()
    print(f"{settings.public_url}/auth/local?code={code}")
    print(
        f"one-time link, valid {session_store.LOGIN_LINK_TTL_SECONDS // 60} minutes",
        file=sys.stderr,
    )


def _serve(settings: Settings) -> int:
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
        raise CommandError(message) from None
    app.settings = with_bound_port(settings, sock.getsockname()[1])
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to the handler
    # that was installed before it; ours turns that into a normal exit with status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_requested)
    with contextlib.suppress(_StopRequested):
        server.run(sockets=[sock])
    return 0 if server.started else 3


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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "new-migration":
            path = migrate.next_migration_path(args.name)
            path.write_text(f"-- {path.name}\n")
            print(path)
            return 0
        host = getattr(args, "host", None)
        port = getattr(args, "port", None)
        settings = load_settings(host=host, port=port)
        logs.configure(settings.log_level)
        if args.command == "migrate":
            conn = db.open_and_migrate(settings.database_path, settings.synchronous)
            conn.close()
            print(f"database {settings.database_path} is up to date", file=sys.stderr)
            return 0
        if args.command == "token":
            _token_command(args, settings)
            return 0
        if args.command == "backup":
            backup.backup(settings.database_path, args.path)
            print(f"backed up {settings.database_path} to {args.path}", file=sys.stderr)
            return 0
        if args.command == "restore":
            backup.restore(args.path, settings.database_path)
            print(f"restored {settings.database_path} from {args.path}", file=sys.stderr)
            return 0
        if args.command == "login-link":
            _login_link(settings)
            return 0
        return _serve(settings)
    except (
        ConfigError,
        migrate.MigrationError,
        db.DatabaseError,
        CommandError,
        backup.BackupError,
    ) as error:
        print(f"pnotify: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
