"""`pnotify send` and `pnotify subscribe`: the client side, as `ntfy publish` and `ntfy
subscribe` are, over httpx. The server and token come from `--server`/`--token` or
PNOTIFY_SERVER/PNOTIFY_TOKEN.

`subscribe` keeps the last change cursor in a state file and resumes from it with
`Last-Event-ID`, so a subscriber that was away (or whose server restarted) gets what it
missed, exactly once; it reconnects with exponential backoff and jitter, and on a `reset`
(its cursor is too old) it starts again from the server's current cursor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from pnotify.client_cli import PRIORITIES

BACKOFF_START, BACKOFF_MAX = 1.0, 60.0


class ClientError(Exception):
    """A one-line reason the command failed."""


class _Refused(ClientError):
    """The server refused the request itself (a 4xx): retrying would not help."""


def run(args: argparse.Namespace) -> int:
    try:
        if not args.server or not args.token:
            raise ClientError("set --server and --token (or PNOTIFY_SERVER and PNOTIFY_TOKEN)")
        if args.command == "send":
            return _send(args)
        return _subscribe(args)
    except ClientError as error:
        print(f"pnotify: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": "pnotify-client"}


def _send(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"title": args.title, "priority": args.priority}
    message = sys.stdin.read() if args.message == "-" else args.message
    optional = {"message": message, "source": args.source, "key": args.key}
    body.update({name: value for name, value in optional.items() if value is not None})
    if args.metadata is not None:
        try:
            body["metadata"] = json.loads(args.metadata)
        except ValueError:
            raise ClientError("--metadata: not JSON") from None
    try:
        response = httpx.post(
            args.server.rstrip("/") + "/api/notifications/",
            json=body,
            headers=_headers(args.token),
            timeout=30,
        )
    except httpx.HTTPError as error:
        raise ClientError(f"cannot reach {args.server} ({error})") from None
    if response.status_code not in (200, 201):
        raise ClientError(f"{response.status_code}: {_detail(response)}")
    print(response.json()["id"])
    return 0


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def _state_file(args: argparse.Namespace) -> Path:
    if args.state is not None:
        return Path(args.state)
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    server = hashlib.sha256(args.server.rstrip("/").encode()).hexdigest()[:12]
    return base / "priority-notify" / f"subscribe-{server}.cursor"


def _subscribe(args: argparse.Namespace) -> int:
    state = _state_file(args)
    delay = BACKOFF_START
    while True:
        cursor = state.read_text().strip() if state.exists() else None
        try:
            for name, event_id, data in _events(args, cursor):
                delay = BACKOFF_START  # connected: the next failure starts the backoff afresh
                if name == "reset":
                    _save(state, event_id)
                    _deliver(args, name, event_id, data)
                elif name not in ("ready", "comment") and event_id is not None:
                    _deliver(args, name, event_id, data)
                    _save(state, event_id)  # after handling: at least once, and only once
        except _Refused:
            raise
        except (httpx.HTTPError, ClientError) as error:
            print(f"pnotify: disconnected ({error}); retrying in {delay:.0f} s", file=sys.stderr)
        time.sleep(delay * random.uniform(0.5, 1.5))
        delay = min(delay * 2, BACKOFF_MAX)


def _events(args: argparse.Namespace, cursor: str | None) -> Iterator[tuple[str, str | None, str]]:
    headers = _headers(args.token) | ({"Last-Event-ID": cursor} if cursor else {})
    url = args.server.rstrip("/") + "/api/notifications/stream"
    with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=90)) as response:
        if response.status_code != 200:
            response.read()
            refused = 400 <= response.status_code < 500 and response.status_code != 429
            failure = _Refused if refused else ClientError
            raise failure(f"{response.status_code}: {_detail(response)}")
        name: str = "message"
        event_id: str | None = None
        data: list[str] = []
        for line in response.iter_lines():
            if not line:
                if data or name != "message":
                    yield name, event_id, "\n".join(data)
                name, event_id, data = "message", None, []
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "event":
                    name = value
                elif field == "id":
                    event_id = value
                elif field == "data":
                    data.append(value)


def _save(state: Path, event_id: str | None) -> None:
    if event_id is None:
        return
    state.parent.mkdir(parents=True, exist_ok=True)
    temporary = state.with_suffix(".tmp")
    temporary.write_text(event_id)
    temporary.replace(state)


def _deliver(args: argparse.Namespace, name: str, event_id: str | None, data: str) -> None:
    payload = json.loads(data) if data else {}
    if name in ("notification", "updated") and PRIORITIES.index(
        payload.get("priority", "low")
    ) < PRIORITIES.index(args.min_priority):
        return
    if args.json:
        print(json.dumps({"event": name, "id": event_id, "data": payload}), flush=True)
        return
    if name not in ("notification", "updated"):
        return
    if args.exec:
        environment = os.environ | {
            f"PNOTIFY_{key.upper()}": "" if value is None else str(value)
            for key, value in payload.items()
            if key != "metadata"
        }
        subprocess.run(args.exec, shell=True, env=environment, check=False)  # noqa: S602 (the user's own command)
    else:
        print(
            f"[{payload.get('priority')}] {payload.get('title')}: {payload.get('message') or ''}",
            flush=True,
        )
    notify_send = shutil.which("notify-send") if args.desktop else None
    if notify_send is not None:
        subprocess.run(  # noqa: S603 (a fixed program, the notification as arguments)
            [notify_send, str(payload.get("title")), str(payload.get("message") or "")],
            check=False,
        )
