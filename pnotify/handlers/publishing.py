"""The one way notifications come in, whatever door they use (our API, ntfy's, Gotify's, the
webhooks): create or update by key, answer in that door's own shape, and — with an
`Idempotency-Key` header — give a retry the first answer instead of doing it twice.

All of it runs as one writer job, so the publish and the remembered answer commit together.
Without that key the answer is made while the batch commits (writer.Writer.run's `then`), from
what was published alone, down to its bytes (`Request.finished`): an `Answer` never touches the
database.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence

from pnotify.clock import SECOND_US, now_us
from pnotify.http import BadRequest, Request, ValidationError
from pnotify.responses import Response
from pnotify.routing import Access, Handler, Operation, Route
from pnotify.services import Services
from pnotify.storage import idempotency
from pnotify.storage import notification_writes as writes
from pnotify.storage.notifications import NewNotification, Notification
from pnotify.write_context import WriteContext

# Each published notification, and whether it was created (False: updated or unchanged).
Published = list[tuple[Notification, bool]]
Answer = Callable[[Published], Response]

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")


async def publish(
    request: Request, services: Services, batch: Sequence[NewNotification], answer: Answer
) -> Response:
    user_id = request.user.user_id
    key = _idempotency_key(request)
    token_id = request.user.token_id
    if key is None or token_id is None:
        return await services.writer.run(
            lambda ctx: _publish_all(ctx, user_id, batch),
            lambda published: request.finished(answer(published)),
        )
    request_hash = _request_hash(request, await request.body())

    def once(ctx: WriteContext) -> Response:
        seen = idempotency.find(ctx.conn, token_id, key)
        if seen is not None:
            if seen.request_hash != request_hash:
                raise ValidationError("Idempotency-Key", "was already used for another request")
            return Response(seen.status, seen.body, [*seen.headers, ("idempotent-replay", "true")])
        response = answer(_publish_all(ctx, user_id, batch))
        remembered = idempotency.Remembered(
            request_hash, response.status, response.body, list(response.headers)
        )
        idempotency.remember(ctx.conn, token_id, key, remembered, now_us())
        return response

    return await services.writer.run(once)


def route(method: str, path: str, handler: Handler, operation: Operation) -> Route:
    """A door for other tools: publish-scope tokens welcome, sent the ways those tools send
    them (auth/access.py: Basic, `?auth=`, `X-Gotify-Key`, `?token=`)."""
    return Route(
        method,
        path,
        handler,
        Access.TOKEN,
        publish_scope=True,
        integration=True,
        operation=operation,
    )


def _publish_all(ctx: WriteContext, user_id: str, batch: Sequence[NewNotification]) -> Published:
    return [writes.publish(ctx, user_id, new) for new in batch]


def _idempotency_key(request: Request) -> str | None:
    key = request.header("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise BadRequest("Idempotency-Key: expected 1 to 200 visible ASCII characters")
    return key


def _request_hash(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode("utf-8", "replace"))
    digest.update(b"?" + request.scope.get("query_string", b"") + b"\n")
    digest.update(body)
    return digest.hexdigest()


def purge_remembered_answers(ctx: WriteContext) -> None:
    idempotency.purge(ctx.conn, now_us() - idempotency.KEEP_SECONDS * SECOND_US)
