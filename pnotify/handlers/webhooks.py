"""Webhooks other tools send as they are: Alertmanager's (and Grafana's, a superset) and
Apprise's generic `json://`.

Alertmanager: one notification per alert, keyed by its fingerprint and start time, so
- the first `firing` creates it;
- the same alert re-sent (every `repeat_interval`, after restarts) changes nothing, emits nothing;
- `resolved` updates it silently (read state kept): the title says "Resolved: …", the priority
  drops to low, and `resolved_at` is in its metadata;
- the alert firing again after its resolution has a new start time: a new incident, a new
  notification.
Priority from the `severity` label (critical/page → critical, error/high/major → high, warning →
medium, info/none → low; `?priority=` overrides). Title from `annotations.summary`, else
`labels.alertname`; message from `annotations.description`; every link (generatorURL,
runbook_url, Grafana's dashboard, panel and silence URLs) kept in `metadata.links`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pnotify import jsontext
from pnotify.handlers import publishing
from pnotify.handlers.notifications import MESSAGE_MAX, SOURCE_MAX, TITLE_MAX
from pnotify.http import Request, ValidationError
from pnotify.responses import Response
from pnotify.routing import Operation, Reply, Route
from pnotify.schema import AnyJson, Choice, Field, Fields, Text
from pnotify.services import Services
from pnotify.storage.notifications import PRIORITIES, NewNotification

MAX_ALERTS = 500
SEVERITIES = {
    "critical": "critical",
    "page": "critical",
    "error": "high",
    "high": "high",
    "major": "high",
    "warning": "medium",
    "info": "low",
    "none": "low",
}
APPRISE_TYPES = {"failure": "high", "warning": "medium", "info": "low", "success": "low"}
_LINKS = ("generatorURL", "dashboardURL", "panelURL", "silenceURL", "imageURL")

ALERTS_BODY = Fields(
    (
        Field("alerts", AnyJson(), required=True, doc="the alerts, each with its own status"),
        Field("version", Text(20)),
        Field("status", Choice(("firing", "resolved"))),
        Field("externalURL", Text(2000)),
        Field("orgId", AnyJson(), doc="present in Grafana's webhook"),
    ),
    extra_allowed=True,  # groupKey, commonLabels, truncatedAlerts, … are read when needed
)
APPRISE_BODY = Fields(
    (
        Field("title", Text(TITLE_MAX, blank=True)),
        Field("message", Text(MESSAGE_MAX, blank=True)),
        Field("type", Choice(tuple(APPRISE_TYPES)), nullable=False, default="info"),
        Field("version", Text(20)),
        Field("attachments", AnyJson()),
    ),
    extra_allowed=True,  # Apprise adds any `:key=value` of its URL as a string field
)
QUERY = Fields(
    (
        Field("source", Text(SOURCE_MAX)),
        Field("priority", Choice(PRIORITIES), doc="overrides the severity label"),
    )
)


def _text_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValidationError(name, "must be an object of strings")
    return value


def alert_notification(
    alert: Any, index: int, source: str, priority: str | None
) -> NewNotification:
    name = f"alerts[{index}]"
    if not isinstance(alert, dict):
        raise ValidationError(name, "must be an object")
    labels = _text_map(alert.get("labels"), f"{name}.labels")
    annotations = _text_map(alert.get("annotations"), f"{name}.annotations")
    status = alert.get("status")
    if status not in ("firing", "resolved"):
        raise ValidationError(f"{name}.status", "must be firing or resolved")
    starts_at = str(alert.get("startsAt") or "")
    fingerprint = (
        alert.get("fingerprint")
        or hashlib.sha256(jsontext.compact(sorted(labels.items())).encode()).hexdigest()[:16]
    )
    title = annotations.get("summary") or labels.get("alertname") or "alert"
    links = {key: alert[key] for key in _LINKS if isinstance(alert.get(key), str) and alert[key]}
    if annotations.get("runbook_url"):
        links["runbook_url"] = annotations["runbook_url"]
    metadata: dict[str, Any] = {"status": status, "labels": labels, "startsAt": starts_at}
    if links:
        metadata["links"] = links
    level = priority or SEVERITIES.get(labels.get("severity", "").lower(), "medium")
    if status == "resolved":
        title, level = "Resolved: " + title, "low"
        metadata["resolved_at"] = alert.get("endsAt")
    return NewNotification(
        title=Text(TITLE_MAX).check(f"{name}.title", title[:TITLE_MAX]),
        message=Text(MESSAGE_MAX, blank=True).check(
            f"{name}.description", annotations.get("description", "")[:MESSAGE_MAX]
        ),
        priority=level,
        source=source,
        metadata=jsontext.compact(metadata),
        key=f"{source}:{fingerprint}:{starts_at}",
        silent=status == "resolved",
    )


class WebhookHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def alerts(self, request: Request) -> Response:
        alerts = request.data["alerts"]
        if not isinstance(alerts, list) or not 1 <= len(alerts) <= MAX_ALERTS:
            raise ValidationError("alerts", f"must be a list of 1 to {MAX_ALERTS} alerts")
        grafana = request.data["orgId"] is not None
        source = request.params["source"] or ("grafana" if grafana else "alertmanager")
        batch = [
            alert_notification(alert, index, source, request.params["priority"])
            for index, alert in enumerate(alerts)
        ]

        def answer(published: publishing.Published) -> Response:
            created = sum(1 for _, is_new in published if is_new)
            return Response.json({"received": len(published), "created": created})

        return await publishing.publish(request, self.services, batch, answer)

    async def apprise(self, request: Request) -> Response:
        data = request.data
        extra = {k: v for k, v in data.items() if k not in APPRISE_BODY.by_name}
        message = data["message"] or ""
        title = (data["title"] or "").strip() or message.split("\n", 1)[0][:TITLE_MAX] or "Apprise"
        metadata: dict[str, Any] = {"apprise_type": data["type"]}
        if extra:
            metadata["fields"] = AnyJson().check("body", extra)
        new = NewNotification(
            title=title,
            message=message,
            priority=request.params["priority"] or APPRISE_TYPES[data["type"]],
            source=request.params["source"] or "apprise",
            metadata=jsontext.compact(metadata),
        )

        def answer(published: publishing.Published) -> Response:
            ((notification, _),) = published
            return Response.json(notification.to_json())

        return await publishing.publish(request, self.services, [new], answer)


def routes(services: Services) -> list[Route]:
    handlers = WebhookHandlers(services)
    base = "/api/integrations/"
    return [
        publishing.route(
            "POST",
            base + "alertmanager",
            handlers.alerts,
            Operation(
                "Alertmanager's or Grafana's webhook: one notification per alert",
                {200: Reply("how many alerts were received, and created", "WebhookResult")},
                query=QUERY,
                body=ALERTS_BODY,
                tag="integrations",
            ),
        ),
        publishing.route(
            "POST",
            base + "apprise",
            handlers.apprise,
            Operation(
                "Apprise's json:// body",
                {200: Reply("published", "Notification")},
                query=QUERY,
                body=APPRISE_BODY,
                tag="integrations",
            ),
        ),
    ]
