"""`/api/notifications/`: create (token), list, get, change status, delete."""

from __future__ import annotations

from pnotify import validation as check
from pnotify.http import NotFound, Request, Response, ValidationError
from pnotify.routing import Access, Route
from pnotify.services import Services
from pnotify.storage import notifications as store

TITLE_MAX = 250
MESSAGE_MAX = 10_000
SOURCE_MAX = 100
METADATA_MAX_BYTES = 16 * 1024
LIST_LIMIT_DEFAULT = 50
LIST_LIMIT_MAX = 200
MARK_ALL_BATCH = 500
CREATE_FIELDS = ("title", "message", "priority", "source", "metadata")


class NotificationHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def create(self, request: Request) -> Response:
        data = await request.json_object()
        check.reject_unknown(data, CREATE_FIELDS)
        priority = data.get("priority", "medium")
        new = store.NewNotification(
            title=check.required_string(data, "title", TITLE_MAX),
            message=check.string(data, "message", MESSAGE_MAX),
            priority=check.choice(priority, "priority", store.PRIORITIES),
            source=check.string(data, "source", SOURCE_MAX),
            metadata=check.json_object(data, "metadata", METADATA_MAX_BYTES),
        )
        user_id = request.user.user_id
        created = await self.services.writer.run(lambda ctx: store.create(ctx, user_id, new))
        return Response.created(created.to_json(), request.url_for("notification", id=created.id))

    async def list(self, request: Request) -> Response:
        query = request.query
        filters = store.ListFilter(
            status=check.choice_param(query, "status", store.STATUS_FILTERS),
            priority=check.choice_param(query, "priority", store.PRIORITIES),
            source=check.string_param(query, "source", SOURCE_MAX),
            since=check.timestamp_param(query, "since"),
        )
        limit = check.int_param(query, "limit", LIST_LIMIT_DEFAULT, 1, LIST_LIMIT_MAX)
        offset = check.int_param(query, "offset", 0, 0, None)
        items, total = store.list_page(
            self.services.reader, request.user.user_id, filters, limit, offset
        )
        return Response.json(
            {
                "items": [n.to_json() for n in items],
                "total": total,
                "limit": limit,
                "offset": offset,
            }
        )

    async def get(self, request: Request) -> Response:
        found = store.get(self.services.reader, request.user.user_id, request.path_params["id"])
        if found is None:
            raise NotFound("notification not found", code="notification_not_found")
        return Response.json(found.to_json())

    async def update(self, request: Request) -> Response:
        data = await request.json_object()
        check.reject_unknown(data, ("status",))
        if "status" not in data:
            raise ValidationError("status", "is required")
        status = check.choice(data["status"], "status", store.STATUSES)
        user_id, notification_id = request.user.user_id, request.path_params["id"]
        updated = await self.services.writer.run(
            lambda ctx: store.set_status(ctx, user_id, notification_id, status)
        )
        if updated is None:
            raise NotFound("notification not found", code="notification_not_found")
        return Response.json(updated.to_json())

    async def mark_all_read(self, request: Request) -> Response:
        """In batches, so other writes and the loop get their turn between them."""
        user_id = request.user.user_id
        updated = 0
        while True:
            done = await self.services.writer.run(
                lambda ctx: store.mark_all_read(ctx, user_id, MARK_ALL_BATCH)
            )
            updated += done
            if done < MARK_ALL_BATCH:
                return Response.json({"updated": updated})

    async def delete(self, request: Request) -> Response:
        user_id, notification_id = request.user.user_id, request.path_params["id"]
        deleted = await self.services.writer.run(
            lambda ctx: store.delete(ctx, user_id, notification_id)
        )
        if not deleted:
            raise NotFound("notification not found", code="notification_not_found")
        return Response.no_content()


def routes(services: Services) -> list[Route]:
    handlers = NotificationHandlers(services)
    base = "/api/notifications/"
    return [
        Route("GET", base, handlers.list, name="notifications"),
        Route("POST", base, handlers.create, Access.TOKEN, publish_scope=True),
        Route("POST", base + "read-all", handlers.mark_all_read),
        Route("GET", base + "{id:uuid}", handlers.get, name="notification"),
        Route("PATCH", base + "{id:uuid}", handlers.update),
        Route("DELETE", base + "{id:uuid}", handlers.delete),
    ]
