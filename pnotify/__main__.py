"""`pnotify` (or `python -m pnotify`): the server by default, the operator's commands, and the
`send` / `subscribe` client commands. Every error is one line on stderr and a non-zero exit,
never a traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pnotify import backup, client_cli, commands, db, logs, migrate
from pnotify.config import ConfigError, load_settings
from pnotify.serve import ServeError, serve
from pnotify.storage import client_tokens as token_store


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default where there is one worth showing (not None, not a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"pnotify: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected a port from 1 to 65535 (0: any free one), got {text!r}"
        )
    return int(text)


class _Version(argparse.Action):
    """`--version`, looked up only when asked for: importlib.metadata costs every start ~60 ms."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("priority-notify")
        except PackageNotFoundError:
            found = "unknown (not installed)"
        print(f"{parser.prog} {found}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    formatter = _Help
    parser = _Parser(
        prog="pnotify",
        description="priority-notify: a self-hosted notification server. With no command, "
        "it serves. Settings come from the environment and .env (see .env.example).",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action=_Version)
    commands_ = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve_command = commands_.add_parser(
        "serve", help="run the server (the default)", formatter_class=formatter
    )
    for target in (parser, serve_command):
        target.add_argument("--host", help="address to bind; default: env HOST, else 127.0.0.1")
        target.add_argument("--port", type=_port, help="port to bind; default: env PORT, else 8000")
    commands_.add_parser("migrate", help="apply pending database migrations (start-up does it too)")
    commands_.add_parser(
        "login-link", help="print a one-time sign-in link for the running server (local mode)"
    )
    for name, text in (
        ("backup", "copy the database, while the server runs, to PATH"),
        ("restore", "replace the database with the backup at PATH (server stopped)"),
    ):
        command = commands_.add_parser(name, help=text)
        command.add_argument("path", type=Path, help="the backup file")
    new_migration = commands_.add_parser(
        "new-migration", help="create the next empty sql/NNNN_name.sql (development)"
    )
    new_migration.add_argument("name", help="what the migration does, e.g. add_tags")
    _token_parser(commands_.add_parser("token", help="manage API tokens"), formatter)
    client_cli.add_commands(commands_, formatter)
    return parser


def _token_parser(token: argparse.ArgumentParser, formatter: type[argparse.HelpFormatter]) -> None:
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser(
        "create", help="mint a token and print it once", formatter_class=formatter
    )
    create.add_argument("--name", required=True, help="a label, e.g. 'Pixel 8' or 'backup cron'")
    create.add_argument(
        "--device-type",
        choices=token_store.DEVICE_TYPES,
        default="other",
        help="the kind of device",
    )
    create.add_argument(
        "--scope",
        choices=token_store.SCOPES,
        default="full",
        help="publish: may only send notifications",
    )
    create.add_argument(
        "--expires-in", type=int, metavar="DAYS", help="expire after DAYS days (default: never)"
    )
    listing = token_commands.add_parser(
        "list", help="list tokens (never their secrets)", formatter_class=formatter
    )
    listing.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    revoke = token_commands.add_parser(
        "revoke", help="revoke a token at once", formatter_class=formatter
    )
    revoke.add_argument("id", help="the token's id, from `token list`")
    for target in (create, listing, revoke):
        target.add_argument(
            "--user", help="the user's e-mail or id (required with OIDC; default: the local user)"
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in client_cli.COMMANDS:
        from pnotify import client  # httpx: imported only for the commands that use it

        return client.run(args)
    database_setting = "DATA_DIR"
    try:
        if args.command == "new-migration":
            commands.new_migration(args)
            return 0
        settings = load_settings(
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            generate_secret=args.command in (None, "serve"),
        )
        database_setting = settings.database_setting
        logs.configure(settings.log_level)
        actions = {
            "migrate": lambda: commands.migrate_database(settings),
            "token": lambda: commands.token(args, settings),
            "backup": lambda: commands.backup_database(args, settings),
            "restore": lambda: commands.restore_database(args, settings),
            "login-link": lambda: commands.login_link(settings),
        }
        if args.command in actions:
            actions[args.command]()
            return 0
        return serve(settings)
    except (db.DatabaseError, backup.BackupError) as error:
        # Path problems: say which setting leads there.
        print(f"pnotify: {database_setting}: {error}", file=sys.stderr)
        return 2
    except (ConfigError, migrate.MigrationError, commands.CommandError, ServeError) as error:
        print(f"pnotify: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
