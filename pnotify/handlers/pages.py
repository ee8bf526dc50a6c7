"""Server-rendered pages, and the HTML fragments app.js asks for to show live changes.

Pages are `Access.PAGE` routes: a signed-out visitor is sent to sign in and brought back
afterwards (auth/access.py), so a handler here always has a signed-in user.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from pnotify import views
from pnotify.http import NotFound, Request, Response, Unauthorized
from pnotify.routing import Access, Route
from pnotify.services import Services
from pnotify.storage import client_tokens as token_store
from pnotify.storage import notifications as store
from pnotify.storage import users
from pnotify.templating import Safe, escape, page, render

PAGE_SIZE = 50
_PAGE_OFFSET = re.compile(r"[0-9]{1,8}")  # ASCII digits: isdigit() also takes "²"
STATUS_CHOICES = (
    ("inbox", "Inbox"),
    ("unread", "Unread"),
    ("read", "Read"),
    ("archived", "Archived"),
    ("all", "All"),
)
PRIORITY_CHOICES = (
    ("", "Any"),
    ("critical", "Critical"),
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
)


def _options(choices: tuple[tuple[str, str], ...], selected: str) -> Safe:
    return Safe(
        "".join(
            f'<option value="{escape(value)}"{" selected" if value == selected else ""}>'
            f"{escape(label)}</option>"
            for value, label in choices
        )
    )


def _fragment(html: str) -> Response:
    response = Response.html(html)
    response.set_header("cache-control", "no-store")
    return response


class PageHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services

    def _user(self, request: Request) -> users.User:
        user = users.get(self.services.reader, request.user.user_id)
        if user is None:  # the user was removed while the session lived on
            raise Unauthorized("unknown user", code="unknown_user")
        return user

    async def dashboard(self, request: Request) -> Response:
        user = self._user(request)
        query = request.query
        # A page forgives odd parameters (an old bookmark) by falling back to the defaults.
        status = query.get("status", "inbox")
        status = status if status in dict(STATUS_CHOICES) else "inbox"
        priority = query.get("priority", "")
        priority = priority if priority in store.PRIORITIES else ""
        source = query.get("source", "").strip()[:100]
        offset_text = query.get("offset", "0")
        offset = int(offset_text) if _PAGE_OFFSET.fullmatch(offset_text) else 0
        filters = store.ListFilter(
            status=None if status == "all" else status,
            priority=priority or None,
            source=source or None,
        )
        reader = self.services.reader
        items, total = store.list_page(reader, user.id, filters, PAGE_SIZE, offset)
        unread = store.count(reader, user.id, store.ListFilter(status="unread"))
        body = render(
            "dashboard.html",
            unread=unread,
            status_options=_options(STATUS_CHOICES, status),
            priority_options=_options(PRIORITY_CHOICES, priority),
            source=source,
            status=status,
            priority=priority,
            offset=offset,
            items=Safe("\n".join(views.notification_item(n) for n in items)),
            empty_hidden=Safe(" hidden" if items else ""),
            pager=self._pager(status, priority, source, offset, total),
        )
        title = f"({unread}) Notifications" if unread else "Notifications"
        return Response.html(
            page(title, Safe(body), user_name=_display_name(user), current="dashboard")
        )

    @staticmethod
    def _pager(status: str, priority: str, source: str, offset: int, total: int) -> Safe:
        def link(to_offset: int, text: str, rel: str) -> str:
            params = {
                k: v
                for k, v in (("status", status), ("priority", priority), ("source", source))
                if v
            }
            if to_offset:
                params["offset"] = str(to_offset)
            return f'<a rel="{rel}" href="/?{escape(urlencode(params))}">{escape(text)}</a>'

        links = []
        if offset > 0:
            links.append(link(max(0, offset - PAGE_SIZE), "← Newer", "prev"))
        if offset + PAGE_SIZE < total:
            links.append(link(offset + PAGE_SIZE, "Older →", "next"))
        return Safe(" ".join(links))

    async def tokens(self, request: Request) -> Response:
        user = self._user(request)
        rows = token_store.list_for_user(self.services.reader, user.id)
        body = render(
            "tokens.html",
            rows=Safe("\n".join(views.token_row(row) for row in rows)),
            empty_hidden=Safe(" hidden" if rows else ""),
        )
        return Response.html(
            page("Tokens", Safe(body), user_name=_display_name(user), current="tokens")
        )

    async def notification_fragment(self, request: Request) -> Response:
        found = store.get(self.services.reader, request.user.user_id, request.path_params["id"])
        if found is None:
            raise NotFound("notification not found", code="notification_not_found")
        return _fragment(views.notification_item(found))

    async def token_fragment(self, request: Request) -> Response:
        found = token_store.get(
            self.services.reader, request.user.user_id, request.path_params["id"]
        )
        if found is None:
            raise NotFound("token not found", code="token_not_found")
        return _fragment(views.token_row(found))


def _display_name(user: users.User) -> str:
    return user.name or user.email or "you"


def routes(services: Services) -> list[Route]:
    handlers = PageHandlers(services)
    return [
        Route("GET", "/", handlers.dashboard, Access.PAGE, name="dashboard"),
        Route("GET", "/tokens", handlers.tokens, Access.PAGE, name="tokens_page"),
        Route(
            "GET",
            "/fragments/notifications/{id:uuid}",
            handlers.notification_fragment,
            Access.SESSION,
        ),
        Route("GET", "/fragments/tokens/{id:uuid}", handlers.token_fragment, Access.SESSION),
    ]
