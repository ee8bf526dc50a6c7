"""Server-rendered pages, and the HTML fragments inbox.js asks for to show live changes.

Pages are `Access.PAGE` routes: a signed-out visitor is sent to sign in and brought back
afterwards (auth/access.py), so a handler here always has a signed-in user.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import apsw

from pnotify import search, views
from pnotify.http import NotFound, Request, Unauthorized
from pnotify.responses import Response
from pnotify.routing import Access, Route
from pnotify.services import Services
from pnotify.storage import client_tokens as token_store
from pnotify.storage import notifications as store
from pnotify.storage import users
from pnotify.templating import Safe, escape, page, render

PAGE_SIZE = 50
SOURCE_HINTS = 12
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


@dataclass(frozen=True)
class DashboardView:
    """What the dashboard shows, read from its query string. A page forgives odd parameters
    (an old bookmark) by falling back to the defaults; a search that cannot be one is shown
    with its reason instead of a list."""

    status: str = "inbox"
    priority: str = ""
    source: str = ""
    q: str = ""
    offset: int = 0
    search_problem: str = ""
    fts: str | None = None  # the search as an FTS5 expression (search.to_fts), made once

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> DashboardView:
        status = query.get("status", "inbox")
        priority = query.get("priority", "")
        offset_text = query.get("offset", "0")
        q = " ".join(query.get("q", "").split())[: search.MAX_LENGTH]
        problem, fts = "", None
        if q:
            try:
                fts = search.to_fts(q)
            except search.SearchError as error:
                problem = f"This search {error}."
        return cls(
            status=status if status in dict(STATUS_CHOICES) else "inbox",
            priority=priority if priority in store.PRIORITIES else "",
            source=query.get("source", "").strip()[:100],
            q=q,
            offset=int(offset_text) if _PAGE_OFFSET.fullmatch(offset_text) else 0,
            search_problem=problem,
            fts=fts,
        )

    def filters(self, status: str | None = None) -> store.ListFilter:
        chosen = status or self.status
        return store.ListFilter(
            status=None if chosen == "all" else chosen,
            priority=self.priority or None,
            source=self.source or None,
            q=self.fts,
        )

    def params(self) -> dict[str, str]:
        given = {"status": self.status if self.status != "inbox" else ""}
        given |= {"priority": self.priority, "source": self.source, "q": self.q}
        return {name: value for name, value in given.items() if value}

    def unread_filter(self) -> store.ListFilter | None:
        """What "Mark all read" would change in this view (None: nothing can be unread)."""
        return self.filters("unread") if self.status in ("inbox", "unread", "all") else None


def _view_page(
    conn: apsw.Connection, user_id: str, view: DashboardView
) -> tuple[list[store.Notification], int, int]:
    """The view's page, its total, and how many in it are unread (what "Mark all read" would
    change)."""
    items, total = store.list_page(conn, user_id, view.filters(), PAGE_SIZE, view.offset)
    unread_filter = view.unread_filter()
    view_unread = 0 if unread_filter is None else store.count(conn, user_id, unread_filter)
    return items, total, view_unread


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
        view = DashboardView.from_query(request.query)
        reader = self.services.reader
        items: list[store.Notification] = []
        total = view_unread = 0
        if not view.search_problem:
            if view.fts is None:
                items, total, view_unread = _view_page(reader, user.id, view)
            else:
                await self.services.search.caught_up(reader)
                read = self.services.search_reads.run
                items, total, view_unread = await read(_view_page, user.id, view)
        unread = store.count(reader, user.id, store.ListFilter(status="unread"))
        known = store.sources(reader, user.id, SOURCE_HINTS)
        active = len(view.params()) - (1 if view.q else 0)
        body = render(
            "dashboard.html",
            unread=unread,
            view_unread=view_unread,
            status_options=_options(STATUS_CHOICES, view.status),
            priority_options=_options(PRIORITY_CHOICES, view.priority),
            source_options=Safe("".join(f'<option value="{escape(s)}">' for s, _ in known)),
            filters_open=Safe(" open" if active else ""),
            filter_count=Safe(f' <span class="filter-count">{active}</span>' if active else ""),
            clear_link=Safe('<a class="clear" href="/">Clear filters</a>' if view.params() else ""),
            source=view.source,
            q=view.q,
            status=view.status,
            priority=view.priority,
            offset=view.offset,
            total=total,
            items=Safe("\n".join(views.notification_item(n) for n in items)),
            empty_hidden=Safe(" hidden" if items else ""),
            empty_help=views.empty_help(bool(view.params()), view.search_problem, known),
            pager=self._pager(view, total),
        )
        title = f"({unread}) Notifications" if unread else "Notifications"
        return Response.html(
            page(title, Safe(body), user_name=_display_name(user), current="dashboard")
        )

    @staticmethod
    def _pager(view: DashboardView, total: int) -> Safe:
        def link(to_offset: int, text: str, rel: str) -> str:
            params = view.params()
            if to_offset:
                params["offset"] = str(to_offset)
            return f'<a rel="{rel}" href="/?{escape(urlencode(params))}">{escape(text)}</a>'

        links = []
        if view.offset > 0:
            links.append(link(max(0, view.offset - PAGE_SIZE), "← Newer", "prev"))
        if view.offset + PAGE_SIZE < total:
            links.append(link(view.offset + PAGE_SIZE, "Older →", "next"))
        return Safe(" ".join(links))

    async def tokens(self, request: Request) -> Response:
        user = self._user(request)
        rows = token_store.list_for_user(self.services.reader, user.id)
        body = render(
            "tokens.html",
            rows=Safe("\n".join(views.token_row(row) for row in rows)),
            empty_hidden=Safe(" hidden" if rows else ""),
            server_url=self.services.settings.public_url,
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
