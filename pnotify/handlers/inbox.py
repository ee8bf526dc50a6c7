"""Actions on many notifications at once, and the sources a user has: what the dashboard's
bulk bar, "Mark all read" and its empty-state hints ask for.

A bulk action either names its notifications (`ids`, at most BULK_IDS_MAX, one transaction)
or applies to everything matching the list's filters (batches of BATCH, so other writes and
the event loop get their turn between them). The answer lists what changed and each one's
status before, so a client can undo.
"""

from __future__ import annotations

from typing import Any

from pnotify.handlers.notifications import FILTERS
from pnotify.http import Request, ValidationError
from pnotify.responses import Response
from pnotify.routing import Access, Operation, Reply, Route
from pnotify.schema import Choice, Field, Fields, IdList, Integer
from pnotify.services import Services
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store

BULK_IDS_MAX = 1_000
BATCH = 500
SOURCES_MAX = 100

FILTER_QUERY = Fields(FILTERS)
BULK_ACTION = Fields(
    (
        Field("action", Choice(writes.BULK_ACTIONS), required=True, nullable=False),
        Field(
            "ids",
            IdList(BULK_IDS_MAX),
            doc="these notifications, each set exactly; without ids, everything matching the "
            "query's filters that the action changes (`read` takes unread ones, `unread` read "
            "ones, `archive` both, `delete` all)",
        ),
    )
)
SOURCES_QUERY = Fields((Field("limit", Integer(1, SOURCES_MAX), default=20),))
_UPDATED = {200: Reply("how many changed, and what each was before", "Updated")}


def _answer(changed: writes.Changed) -> Response:
    return Response.json(
        {
            "updated": len(changed),
            "changed": [{"id": id_, "previous": status} for id_, status in changed],
        }
    )


class InboxHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def _apply_to_matching(
        self, user_id: str, filters: dict[str, Any], action: str
    ) -> Response:
        matching = store.ListFilter(**filters)
        if matching.q is not None:
            await self.services.search.caught_up(self.services.reader)
        changed: writes.Changed = []
        while True:
            batch = await self.services.writer.run(
                lambda ctx: writes.apply_to_matching(ctx, user_id, matching, action, BATCH)
            )
            changed += batch
            if len(batch) < BATCH:
                return _answer(changed)

    async def bulk(self, request: Request) -> Response:
        user_id, action, ids = request.user.user_id, request.data["action"], request.data["ids"]
        filters = request.params
        if ids is None:
            return await self._apply_to_matching(user_id, filters, action)
        given = sorted(name for name, value in filters.items() if value is not None)
        if given:
            raise ValidationError(given[0], "filters apply only without `ids`")
        changed = await self.services.writer.run(
            lambda ctx: writes.apply_to_ids(ctx, user_id, ids, action)
        )
        return _answer(changed)

    async def read_all(self, request: Request) -> Response:
        return await self._apply_to_matching(request.user.user_id, request.params, "read")

    async def sources(self, request: Request) -> Response:
        found = store.sources(self.services.reader, request.user.user_id, request.params["limit"])
        return Response.json({"items": [{"source": s, "count": n} for s, n in found]})


def routes(services: Services) -> list[Route]:
    handlers = InboxHandlers(services)
    base = "/api/notifications/"
    return [
        Route(
            "POST",
            base + "read-all",
            handlers.read_all,
            Access.ANY,
            operation=Operation(
                "Mark read every unread notification that matches the filters (all, without)",
                _UPDATED,
                query=FILTER_QUERY,
            ),
        ),
        Route(
            "POST",
            base + "bulk",
            handlers.bulk,
            Access.ANY,
            operation=Operation(
                "Read, unread, archive or delete many: by `ids`, or all matching the filters",
                _UPDATED,
                query=FILTER_QUERY,
                body=BULK_ACTION,
            ),
        ),
        Route(
            "GET",
            base + "sources",
            handlers.sources,
            Access.ANY,
            operation=Operation(
                "The sources of your notifications, with counts, most used first",
                {200: Reply("sources and counts", "Sources")},
                query=SOURCES_QUERY,
            ),
        ),
    ]
