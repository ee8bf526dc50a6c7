"""The command lines of `pnotify send` and `pnotify subscribe`. Apart from `pnotify.client`,
which does the work over httpx, so that every other command (and the server) starts without
importing httpx (~0.2 s).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

COMMANDS = ("send", "subscribe")
PRIORITIES = ("low", "medium", "high", "critical")


def add_commands(commands: Any, formatter: type[argparse.HelpFormatter]) -> None:
    send = commands.add_parser(
        "send", help="send a notification (like `ntfy publish`)", formatter_class=formatter
    )
    send.add_argument("title", help="the title")
    send.add_argument("--message", "-m", help="the message; '-' reads it from stdin")
    send.add_argument("--priority", "-p", choices=PRIORITIES, default="medium", help="the priority")
    send.add_argument("--source", "-s", help="what sent it (a host, a job)")
    send.add_argument(
        "--key", "-k", help="update your notification with this key instead of adding one"
    )
    send.add_argument("--metadata", help="a JSON object to keep with it")
    subscribe = commands.add_parser(
        "subscribe",
        help="follow notifications live (like `ntfy subscribe`)",
        formatter_class=formatter,
    )
    output = subscribe.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print each event as one JSON line")
    output.add_argument(
        "--exec",
        metavar="CMD",
        help="run CMD for each new notification, its fields in PNOTIFY_* variables",
    )
    subscribe.add_argument(
        "--min-priority", choices=PRIORITIES, default="low", help="ignore lower priorities"
    )
    subscribe.add_argument(
        "--desktop", action="store_true", help="also show a desktop notification (notify-send)"
    )
    subscribe.add_argument(
        "--state",
        type=Path,
        help="where the resume cursor is kept (default: per server, in $XDG_STATE_HOME)",
    )
    for command in (send, subscribe):
        command.add_argument(
            "--server",
            default=os.environ.get("PNOTIFY_SERVER"),
            help="the server's URL (env PNOTIFY_SERVER)",
        )
        command.add_argument(
            "--token",
            default=os.environ.get("PNOTIFY_TOKEN"),
            help="an API token (env PNOTIFY_TOKEN)",
        )
