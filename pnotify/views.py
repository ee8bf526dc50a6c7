"""HTML fragments for notifications and tokens: the one renderer, used for the first paint and
for live updates (inbox.js fetches a fresh fragment instead of rebuilding markup in JavaScript).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pnotify import jsontext, markdown
from pnotify.clock import now_us, to_iso
from pnotify.storage.client_tokens import ClientToken
from pnotify.storage.notifications import Notification, stored_metadata
from pnotify.templating import Safe, escape, render

PRIORITY_LABELS = {
    "critical": ("‼", "Critical"),
    "high": ("!", "High"),
    "medium": ("•", "Medium"),
    "low": ("·", "Low"),
}
STATUS_LABELS = {"unread": "Unread", "read": "Read", "archived": "Archived"}
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}'\""
_LINK_ATTRIBUTES = 'rel="noopener noreferrer nofollow" target="_blank"'


def exact_time(micros: int) -> str:
    moment = datetime.fromtimestamp(micros / 1_000_000, UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def relative_time(micros: int, now: int | None = None) -> str:
    seconds = max(0, ((now_us() if now is None else now) - micros) // 1_000_000)
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def linkify(text: str) -> Safe:
    """Escaped text in which http(s) URLs, and nothing else, become links."""
    parts: list[str] = []
    position = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        parts.append(escape(text[position : match.start()]))
        parts.append(f'<a href="{escape(url)}" {_LINK_ATTRIBUTES}>{escape(url)}</a>')
        position = end
    parts.append(escape(text[position:]))
    return Safe("".join(parts))


def _metadata_value(value: object) -> Safe:
    return linkify(value if isinstance(value, str) else jsontext.compact(value))


def _metadata(value: dict[str, Any] | None) -> Safe:
    if not value:
        return Safe("")
    rows = "".join(
        f"<dt>{escape(key)}</dt><dd>{_metadata_value(item)}</dd>" for key, item in value.items()
    )
    return Safe(f'<dl class="metadata">{rows}</dl>')


def _is_web_link(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _link(url: str, text: str) -> str:
    return f'<a href="{escape(url)}" {_LINK_ATTRIBUTES}>{escape(text)}</a>'


def _extras(value: dict[str, Any] | None) -> Safe:
    """What integrations send, shown usefully: tags as chips, the click URL and every other
    link (Alertmanager's generator, runbook, Grafana's dashboard and silence) clickable."""
    if not value:
        return Safe("")
    parts: list[str] = []
    tags = value.get("tags")
    if isinstance(tags, list) and tags:
        chips = "".join(f"<li>{escape(tag)}</li>" for tag in tags if isinstance(tag, str))
        parts.append(f'<ul class="tags" aria-label="Tags">{chips}</ul>')
    links = [("Open", value["click"])] if _is_web_link(value.get("click")) else []
    more = value.get("links")
    if isinstance(more, dict):
        links += [(str(name), url) for name, url in more.items() if _is_web_link(url)]
    if links:
        parts.append(
            '<p class="links">' + " · ".join(_link(url, name) for name, url in links) + "</p>"
        )
    return Safe(f'<div class="extras">{"".join(parts)}</div>' if parts else "")


PREVIEW_LENGTH = 160


def preview(message: str | None) -> str:
    """The message on one line, cut short: what a collapsed row shows after its title."""
    flat = " ".join((message or "").split())
    return flat if len(flat) <= PREVIEW_LENGTH else flat[: PREVIEW_LENGTH - 1] + "…"


def _message(text: str | None, metadata: dict[str, Any] | None) -> tuple[Safe, str]:
    """The message's markup and its extra class: Markdown when the sender flagged it so."""
    if not text:
        return Safe(""), ""
    if metadata and metadata.get("markdown") is True:
        return markdown.render(text), " markdown"
    return linkify(text), ""


def notification_item(notification: Notification) -> Safe:
    icon, label = PRIORITY_LABELS[notification.priority]
    metadata = stored_metadata(notification.metadata)
    unread = notification.status == "unread"
    status_label = STATUS_LABELS[notification.status]
    message, message_class = _message(notification.message, metadata)
    return Safe(
        render(
            "notification.html",
            id=notification.id,
            priority=notification.priority,
            status=notification.status,
            source=notification.source or "",
            source_text=notification.source or "",
            created_iso=to_iso(notification.created_at),
            created_exact=exact_time(notification.created_at),
            created_relative=relative_time(notification.created_at),
            icon=icon,
            priority_label=label,
            title=notification.title,
            aria_label=f"{status_label}, {label}: {notification.title}",
            preview=preview(notification.message),
            status_label=status_label,
            message=message,
            message_class=message_class,
            extras=_extras(metadata),
            metadata=_metadata(metadata),
            read_action="unread" if not unread else "read",
            read_label="Mark unread" if not unread else "Mark read",
            archive_hidden=Safe(" hidden") if notification.status == "archived" else Safe(""),
        )
    )


def _when(micros: int | None, never: str = "never") -> Safe:
    if micros is None:
        return Safe(escape(never))
    return Safe(
        f'<time datetime="{escape(to_iso(micros))}" title="{escape(exact_time(micros))}">'
        f"{escape(relative_time(micros) if micros <= now_us() else exact_time(micros))}</time>"
    )


def token_row(token: ClientToken) -> Safe:
    return Safe(
        render(
            "token_row.html",
            id=token.id,
            name=token.name,
            device_type=token.device_type,
            scope=token.scope,
            prefix=f"pn_{token.lookup_id}_…",
            last_used=_when(token.last_used_at),
            created=_when(token.created_at),
            expires=_when(token.expires_at),
        )
    )


def empty_help(filtered: bool, search_problem: str, sources: list[tuple[str, int]]) -> Safe:
    """What an empty list says: why it may be empty and where to go from here."""
    if search_problem:
        lead = (
            f"<p><strong>{escape(search_problem)}</strong> Each word matches the start of a "
            'word (<kbd>zebra</kbd> finds “zebrafish”), <kbd>"two words"</kbd> a phrase, '
            "<kbd>-word</kbd> leaves out.</p>"
        )
    elif filtered:
        lead = (
            "<p><strong>No notifications match.</strong> A search matches the start of words; "
            "a source matches whole, in any case.</p>"
        )
    else:
        lead = (
            "<p><strong>Nothing here yet.</strong> Create a token on the "
            '<a href="/tokens">Tokens page</a>: it shows a ready <code>curl</code> command '
            "and a button that sends a test notification.</p>"
        )
    parts = [lead]
    if sources:
        links = " ".join(
            f'<a class="chip" href="/?{escape(urlencode({"source": name}))}">{escape(name)}'
            f' <span class="n">{count}</span></a>'
            for name, count in sources
        )
        parts.append(f'<p class="known-sources">Your sources: {links}</p>')
    if filtered or search_problem:
        parts.append('<p><a href="/">Clear filters</a></p>')
    return Safe("\n".join(parts))
