"""`/api/notifications/`: create (token), list, get, change status, delete."""

from __future__ import annotations

from collections import OrderedDict

import apsw

from pnotify import jsontext
from pnotify.handlers import publishing
from pnotify.http import NotFound, Request
from pnotify.responses import Response
from pnotify.routing import Access, Operation, Reply, Route
from pnotify.schema import Boolean, Choice, Field, Fields, Integer, JsonObject, Text, Timestamp
from pnotify.search import Search
from pnotify.services import Services
from pnotify.storage import notification_writes as writes
from pnotify.storage import notifications as store

TITLE_MAX = 250
MESSAGE_MAX = 10_000
SOURCE_MAX = 100
METADATA_MAX_BYTES = 16 * 1024
KEY_MAX = 200
METADATA_MAX_DEPTH = store.METADATA_MAX_DEPTH
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 200
OFFSET_MAX = 1_000_000_000

NEW_NOTIFICATION = Fields(
    (
        Field("title", Text(TITLE_MAX), required=True),
        Field("message", Text(MESSAGE_MAX, blank=True), doc="may be empty"),
        Field("priority", Choice(store.PRIORITIES), nullable=False, default="medium"),
        Field("source", Text(SOURCE_MAX), doc="what sent it: a host, a job, a tool"),
        Field(
            "metadata",
            JsonObject(METADATA_MAX_BYTES, METADATA_MAX_DEPTH),
            doc=f"any JSON object, at most {METADATA_MAX_BYTES} bytes, "
            f"{METADATA_MAX_DEPTH} levels deep",
        ),
        Field(
            "key",
            Text(KEY_MAX),
            doc="update the newest of your notifications with this key that is not archived, "
            "instead of creating another (answered 200, not 201)",
        ),
        Field(
            "silent",
            Boolean(),
            nullable=False,
            default=False,
            doc="with `key`: keep the read state (a resolution) instead of making it unread",
        ),
    )
)
FILTERS = (
    Field(
        "status",
        Choice(store.STATUS_FILTERS),
        doc="`inbox` is everything not archived; `all` is everything",
    ),
    Field("priority", Choice(store.PRIORITIES)),
    Field("source", Text(SOURCE_MAX), doc="matched without regard to (ASCII) case"),
    Field("since", Timestamp(), doc="only notifications created after this (naive = UTC)"),
    Field("q", Search(), doc="full-text search over title, message and source"),
)
LIST_QUERY = Fields(
    (
        *FILTERS,
        Field("limit", Integer(1, LIST_LIMIT_MAX), default=LIST_LIMIT_DEFAULT),
        Field("offset", Integer(0, OFFSET_MAX), default=0),
    )
)
STATUS_CHANGE = Fields((Field("status", Choice(store.STATUSES), required=True, nullable=False),))

_ONE = {200: Reply("the notification", "Notification")}
_NOT_FOUND = {404: Reply("no such notification for this user", "Error")}


class EncodedNotifications:
    """Each notification's JSON, kept by (id, cursor). Every change to a row takes a new
    cursor, so a kept encoding is never stale; and lists repeat the same rows (every device
    polls the newest page), whose encoding was most of a list's CPU time. A page is made from
    its rows' versions (`page`), so a kept row is not even read: 50 rows of 100,000 in ~140 µs
    against ~250 µs (whole rows read and made into Notifications); a page of versions not kept
    costs ~360 µs. Bounded: the oldest entries go first. Searches use it from their own thread
    (search_reads.py): each of its steps is one operation on the dict, whole under the GIL."""

    def __init__(self, capacity: int = 20_000) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[tuple[str, int], str] = OrderedDict()

    def of(self, notification: store.Notification) -> str:
        key = (notification.id, notification.cursor)
        encoded = self._kept.get(key)
        if encoded is None:
            encoded = jsontext.compact(notification.to_json())
            self._kept[key] = encoded
            if len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
        return encoded

    def page(
        self,
        conn: apsw.Connection,
        user_id: str,
        filters: store.ListFilter,
        limit: int,
        offset: int,
    ) -> tuple[list[str], int]:
        """`store.list_page`'s page as JSON, and its total: the rows' versions first, whole rows
        only for the versions not kept. One read transaction, so the page, the rows read for it
        and the total agree."""
        with conn:
            versions = store.page_versions(conn, user_id, filters, limit, offset)
            kept = [self._kept.get((id_, cursor)) for id_, cursor, _ in versions]
            missing = [
                rowid for (_, _, rowid), json in zip(versions, kept, strict=True) if json is None
            ]
            rows = store.by_rowids(conn, user_id, missing) if missing else {}
            total = store.count(conn, user_id, filters)
        return [
            json if json is not None else self.of(rows[rowid])
            for (_, _, rowid), json in zip(versions, kept, strict=True)
        ], total


class NotificationHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.encoded = EncodedNotifications()

    async def create(self, request: Request) -> Response:
        new = store.NewNotification(**request.data)  # the fields are NEW_NOTIFICATION's

        def answer(published: publishing.Published) -> Response:
            ((notification, created),) = published
            if not created:
                return Response.json(notification.to_json())
            location = request.url_for("notification", id=notification.id)
            return Response.created(notification.to_json(), location)

        return await publishing.publish(request, self.services, [new], answer)

    async def list(self, request: Request) -> Response:
        params = dict(request.params)
        limit, offset = params.pop("limit"), params.pop("offset")
        filters = store.ListFilter(**params)  # the other parameters are LIST_QUERY's filters
        user_id = request.user.user_id
        if filters.q is None:
            items, total = self.encoded.page(self.services.reader, user_id, filters, limit, offset)
        else:
            await self.services.search.caught_up(self.services.reader)
            items, total = await self.services.search_reads.run(
                self.encoded.page, user_id, filters, limit, offset
            )
        # The page's JSON from each row's kept encoding (the same bytes Response.json makes).
        listed = ",".join(items)
        body = f'{{"items":[{listed}],"total":{total},"limit":{limit},"offset":{offset}}}'
        return Response(200, body.encode(), [("content-type", "application/json")])

    async def get(self, request: Request) -> Response:
        found = store.get(self.services.reader, request.user.user_id, request.path_params["id"])
        if found is None:
            raise NotFound("notification not found", code="notification_not_found")
        return Response.json(found.to_json())

    async def update(self, request: Request) -> Response:
        status = request.data["status"]
        user_id, notification_id = request.user.user_id, request.path_params["id"]
        updated = await self.services.writer.run(
            lambda ctx: writes.set_status(ctx, user_id, notification_id, status)
        )
        if updated is None:
            raise NotFound("notification not found", code="notification_not_found")
        return Response.json(updated.to_json())

    async def delete(self, request: Request) -> Response:
        user_id, notification_id = request.user.user_id, request.path_params["id"]
        deleted = await self.services.writer.run(
            lambda ctx: writes.delete(ctx, user_id, notification_id)
        )
        if not deleted:
            raise NotFound("notification not found", code="notification_not_found")
        return Response.no_content()


_CREATE = Operation(
    "Create a notification (publish-scope tokens may call this)",
    {
        201: Reply("created; `Location` is its URL", "Notification"),
        200: Reply("updated by `key` (or unchanged)", "Notification"),
    },
    body=NEW_NOTIFICATION,
)
_LIST = Operation(
    "List notifications, newest first",
    {200: Reply("a page of notifications and the total", "NotificationPage")},
    query=LIST_QUERY,
)


def routes(services: Services) -> list[Route]:
    handlers = NotificationHandlers(services)
    base = "/api/notifications/"
    one = base + "{id:uuid}"
    return [
        Route("GET", base, handlers.list, name="notifications", operation=_LIST),
        Route(
            "POST",
            base,
            handlers.create,
            Access.TOKEN,
            publish_scope=True,
            operation=_CREATE,
        ),
        Route(
            "GET",
            one,
            handlers.get,
            name="notification",
            operation=Operation("One notification", _ONE | _NOT_FOUND),
        ),
        Route(
            "PATCH",
            one,
            handlers.update,
            operation=Operation("Change its status", _ONE | _NOT_FOUND, body=STATUS_CHANGE),
        ),
        Route(
            "DELETE",
            one,
            handlers.delete,
            operation=Operation(
                "Delete it (other devices learn of it through the stream or changes feed)",
                {204: Reply("deleted", None, "")} | _NOT_FOUND,
            ),
        ),
    ]
