"""The operator's commands beside the server: tokens, sign-in links, migrations, backups."""

from __future__ import annotations

import argparse
import json
import os
import sys

import apsw

from pnotify import backup, db, migrate
from pnotify.clock import now_us, to_iso_or_none
from pnotify.config import Settings
from pnotify.serve import runtime_file
from pnotify.storage import client_tokens as token_store
from pnotify.storage import sessions as session_store
from pnotify.storage import users


class CommandError(Exception):
    """A command cannot do what was asked; the message says why."""


def existing_database(settings: Settings) -> apsw.Connection:
    """The server's database, never a new one: a command run from the wrong folder or with
    other settings says so instead of quietly creating an empty database there."""
    if not settings.database_path.exists():
        raise CommandError(
            f"{settings.database_setting}: there is no database at {settings.database_path}; "
            "start the server once, or set DATA_DIR (or DATABASE_URL) as the server has it"
        )
    return db.open_and_migrate(settings.database_path, settings.synchronous)


def _user(conn: apsw.Connection, settings: Settings, who: str | None) -> users.User:
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


def token(args: argparse.Namespace, settings: Settings) -> None:
    # Minting a token before the first start is fine: the database is made (and migrated).
    conn = db.open_and_migrate(settings.database_path, settings.synchronous)
    try:
        user = _user(conn, settings, args.user)
        if args.token_command == "create":
            _create_token(conn, args, settings, user)
        elif args.token_command == "list":
            _list_tokens(conn, user, as_json=args.json)
        elif args.token_command == "revoke":
            with conn:
                if not token_store.revoke(conn, user.id, args.id):
                    raise CommandError(f"no token {args.id} for this user")
            print(f"token {args.id} revoked", file=sys.stderr)
    finally:
        conn.close()


def _create_token(
    conn: apsw.Connection, args: argparse.Namespace, settings: Settings, user: users.User
) -> None:
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


def _list_tokens(conn: apsw.Connection, user: users.User, *, as_json: bool) -> None:
    rows = token_store.list_for_user(conn, user.id)
    if as_json:
        print(json.dumps([row.to_json() for row in rows], indent=2))
        return
    table = [("ID", "NAME", "DEVICE", "SCOPE", "LAST USED", "EXPIRES")] + [
        (
            row.id,
            row.name,
            row.device_type,
            row.scope,
            to_iso_or_none(row.last_used_at) or "never",
            to_iso_or_none(row.expires_at) or "never",
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


def login_link(settings: Settings) -> None:
    """A one-time link, for the running server's real address (its runtime file says where it
    listens; without one, the address the settings give)."""
    if not settings.local_mode:
        raise CommandError("sign-in links are for local mode; this server signs in with OIDC")
    conn = existing_database(settings)
    try:
        with conn:
            code = session_store.create_login_link_code(conn)
    finally:
        conn.close()
    url = settings.public_url
    running = _running_server(settings)
    if running is None:
        print(
            "no server is running with these settings; the link works once it is", file=sys.stderr
        )
    else:
        url = running
    print(f"{url}/auth/local?code={code}")
    minutes = session_store.LOGIN_LINK_TTL_SECONDS // 60
    print(f"one-time link, valid {minutes} minutes", file=sys.stderr)


def _running_server(settings: Settings) -> str | None:
    try:
        record = json.loads(runtime_file(settings.database_path).read_text())
        os.kill(int(record["pid"]), 0)  # still running?
    except (OSError, ValueError, KeyError, TypeError):
        return None
    url = record.get("url")
    return url if isinstance(url, str) else None


def migrate_database(settings: Settings) -> None:
    db.open_and_migrate(settings.database_path, settings.synchronous).close()
    print(f"database {settings.database_path} is up to date", file=sys.stderr)


def backup_database(args: argparse.Namespace, settings: Settings) -> None:
    backup.backup(settings.database_path, args.path)
    print(f"backed up {settings.database_path} to {args.path}", file=sys.stderr)


def restore_database(args: argparse.Namespace, settings: Settings) -> None:
    backup.restore(args.path, settings.database_path)
    print(f"restored {settings.database_path} from {args.path}", file=sys.stderr)


def new_migration(args: argparse.Namespace) -> None:
    path = migrate.next_migration_path(args.name)
    path.write_text(f"-- {path.name}\n")
    print(path)
