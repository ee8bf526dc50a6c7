"""`GET /api/openapi.json`: an OpenAPI 3.1 document built from the route table.

Paths, methods, path parameter types, query parameters, request bodies and who may call each
route come from the same Route and Operation objects the server dispatches and validates with
(routing.py, schema.py). The response bodies are described below; schemathesis checks the
running server against all of it (`make fuzz`, and a bounded run in the suite).
"""

from __future__ import annotations

from typing import Any

from pnotify import errors
from pnotify.routing import Access, Operation, Route, Router
from pnotify.storage.client_tokens import DEVICE_TYPES, SCOPES
from pnotify.storage.notifications import PRIORITIES, STATUSES

JSON = dict[str, Any]

_TIME = {"type": "string", "format": "date-time"}
_MAYBE_TIME = {"anyOf": [_TIME, {"type": "null"}]}
_MAYBE_TEXT = {"anyOf": [{"type": "string"}, {"type": "null"}]}
_UUID = {"type": "string", "format": "uuid"}


def _object(properties: JSON) -> JSON:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS: JSON = {
    "Error": _object(
        {
            "detail": {"type": "string", "description": "for people; may be reworded"},
            "code": {"type": "string", "enum": list(errors.KINDS)},
        }
    ),
    "Notification": _object(
        {
            "id": _UUID,
            "title": {"type": "string"},
            "message": _MAYBE_TEXT,
            "priority": {"type": "string", "enum": list(PRIORITIES)},
            "status": {"type": "string", "enum": list(STATUSES)},
            "source": _MAYBE_TEXT,
            "created_at": _TIME,
            "read_at": _MAYBE_TIME,
            "metadata": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "key": _MAYBE_TEXT,
        }
    ),
    "NotificationPage": _object(
        {
            "items": {"type": "array", "items": _ref("Notification")},
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        }
    ),
    "Updated": _object(
        {
            "updated": {"type": "integer", "minimum": 0},
            "changed": {
                "type": "array",
                "description": "each changed notification and its status before (for undo)",
                "items": _object(
                    {"id": _UUID, "previous": {"type": "string", "enum": list(STATUSES)}}
                ),
            },
        }
    ),
    "Sources": _object(
        {
            "items": {
                "type": "array",
                "items": _object(
                    {"source": {"type": "string"}, "count": {"type": "integer", "minimum": 1}}
                ),
            }
        }
    ),
    "Changes": _object(
        {
            "notifications": {"type": "array", "items": _ref("Notification")},
            "deleted": {"type": "array", "items": _UUID},
            "cursor": {"type": "integer", "minimum": 0},
            "has_more": {"type": "boolean"},
            "reset": {"type": "boolean"},
        }
    ),
    "Token": _object(
        {
            "id": _UUID,
            "name": {"type": "string"},
            "device_type": {"type": "string", "enum": list(DEVICE_TYPES)},
            "scope": {"type": "string", "enum": list(SCOPES)},
            "prefix": {"type": "string"},
            "last_used_at": _MAYBE_TIME,
            "created_at": _TIME,
            "expires_at": _MAYBE_TIME,
        }
    ),
    "TokenList": _object(
        {"items": {"type": "array", "items": _ref("Token")}, "total": {"type": "integer"}}
    ),
    "Me": _object(
        {
            "id": _UUID,
            "sub": {"type": "string"},
            "email": {"type": "string"},
            "name": {"type": "string"},
            "created_at": _TIME,
            "last_login_at": _MAYBE_TIME,
            "auth": {"type": "string", "enum": ["token", "session"]},
            "scope": {"type": "string", "enum": list(SCOPES)},
            "token_id": {"anyOf": [_UUID, {"type": "null"}]},
        }
    ),
    "Health": {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "detail": {"type": "string"},
            "identity_provider": {"type": "string"},
        },
        "required": ["status"],
    },
    "NtfyMessage": _object(
        {
            "id": {"type": "string"},
            "time": {"type": "integer"},
            "event": {"type": "string", "const": "message"},
            "topic": {"type": "string"},
            "title": {"type": "string"},
            "message": {"type": "string"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "tags": {"type": "array", "items": {"type": "string"}},
            "click": {"type": "string"},
        }
    ),
    "GotifyMessage": _object(
        {
            "id": {"type": "integer"},
            "appid": {"type": "integer"},
            "message": {"type": "string"},
            "title": {"type": "string"},
            "priority": {"type": "integer"},
            "date": _TIME,
            "extras": {"type": "object"},
        }
    ),
    "WebhookResult": _object({"received": {"type": "integer"}, "created": {"type": "integer"}}),
    "EventStream": {"type": "string", "description": "text/event-stream; see the README"},
    "Image": {"type": "string", "contentMediaType": "image/png"},
}
_NEW_TOKEN = dict(SCHEMAS["Token"])
_NEW_TOKEN["properties"] = SCHEMAS["Token"]["properties"] | {
    "token": {"type": "string", "description": "the secret: shown this once"},
    "qr_url": {"type": "string"},
    "qr_expires_at": _TIME,
}
_NEW_TOKEN["required"] = list(_NEW_TOKEN["properties"])
SCHEMAS["NewToken"] = _NEW_TOKEN

# Answers any API route may give besides its own: the error shape with its status.
_COMMON_ERRORS = {
    400: "unreadable parameter, header or body",
    404: "no such route, or an id that is not a UUID",
    408: "the request head or body did not arrive in time",
    431: "the request line and headers exceed 64 KiB",
    422: "a parameter or field that is not allowed (the detail names it)",
    429: "too many requests (`Retry-After`)",
    503: "a database read took too long, or the search index is still being made",
}
_AUTH_ERRORS = {401: "missing, wrong, expired or revoked credentials", 403: "not allowed here"}
_BODY_ERRORS = {413: "body too large", 415: "body is not JSON", 507: "the disk is full"}
_SECURITY: dict[Access, list[JSON]] = {
    Access.TOKEN: [{"bearer": []}],
    Access.SESSION: [{"session": []}],
    Access.ANY: [{"bearer": []}, {"session": []}],
    Access.PUBLIC: [],
}


def document(router: Router, cookie_name: str) -> JSON:
    paths: JSON = {}
    for route in router.routes:
        if route.operation is None:
            continue
        path = paths.setdefault(route.template, {})
        path[route.method.lower()] = _operation(route, route.operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "priority-notify",
            "version": "1",
            "description": "Notifications with priority and read state synced across devices.",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token"},
                "session": {"type": "apiKey", "in": "cookie", "name": cookie_name},
                "basic": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "integrations: any user name, the API token as password",
                },
                "gotifyKey": {"type": "apiKey", "in": "header", "name": "X-Gotify-Key"},
            },
        },
    }


def _operation(route: Route, operation: Operation) -> JSON:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": _path_schema(convertor.regex)}
        for name, convertor in route.convertors.items()
    ]
    described: JSON = {
        "summary": operation.summary,
        "operationId": f"{route.method.lower()}_{route.name or route.template}",
        "tags": [operation.tag],
        "parameters": parameters + operation.query.query_parameters(),
        "responses": _responses(route, operation),
        "security": _SECURITY[route.access],
    }
    if operation.body is not None:
        schema = operation.body.body_schema()
        content = {"application/json": {"schema": schema}}
        if operation.form_body:
            content["application/x-www-form-urlencoded"] = {"schema": schema}
        described["requestBody"] = {"required": True, "content": content}
    elif operation.text_body:
        text = {"schema": {"type": "string", "maxLength": 10_000}}
        described["requestBody"] = {"required": False, "content": {"text/plain": text}}
    if route.integration:
        described["security"] = [{"bearer": []}, {"basic": []}, {"gotifyKey": []}]
    return described


def _path_schema(regex: str) -> JSON:
    return {"type": "string", "pattern": f"^{regex}$"}


def _responses(route: Route, operation: Operation) -> JSON:
    errors_here = dict(_COMMON_ERRORS)
    if route.access is not Access.PUBLIC:
        errors_here |= _AUTH_ERRORS
    if operation.body is not None or route.method in ("POST", "PUT", "PATCH", "DELETE"):
        errors_here |= _BODY_ERRORS
    responses: JSON = {
        str(status): {
            "description": text,
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for status, text in errors_here.items()
    }
    for status, reply in operation.replies.items():
        answer: JSON = {"description": reply.description}
        if reply.schema is not None:
            answer["content"] = {reply.media_type: {"schema": _ref(reply.schema)}}
        responses[str(status)] = answer
    return responses
