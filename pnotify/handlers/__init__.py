"""HTTP handlers, one module per area; `all_routes` is the server's whole route table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pnotify.auth.oidc import OIDCClient
    from pnotify.metrics import Metrics
    from pnotify.routing import Route
    from pnotify.services import Services


def all_routes(services: Services, oidc: OIDCClient | None, metrics: Metrics) -> list[Route]:
    # Imported here, not at the top: the handler modules import from this package themselves.
    from pnotify.handlers import (
        api_tokens,
        gotify,
        inbox,
        me,
        notifications,
        ntfy,
        ops,
        pages,
        signin,
        static,
        sync,
        webhooks,
    )

    return [
        *sync.routes(services),
        *notifications.routes(services),
        *inbox.routes(services),
        *me.routes(services),
        *api_tokens.routes(services),
        *signin.routes(services, oidc),
        *pages.routes(services),
        *static.routes(),
        *ops.routes(services, metrics),
        *ntfy.routes(services),
        *gotify.routes(services),
        *webhooks.routes(services),
    ]
