"""`/api/tokens/`: a signed-in person's API tokens, one per device (session only).

The plaintext token exists only in the create response. Its QR code is served from a link
issued with that response, held in memory for a few minutes and never stored.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

from pnotify import qr
from pnotify.broker import CloseReason
from pnotify.clock import now_us, to_iso
from pnotify.http import NotFound, Request, ValidationError
from pnotify.responses import Response
from pnotify.routing import Access, Operation, Reply, Route
from pnotify.schema import Choice, Field, Fields, Integer, Text
from pnotify.services import Services
from pnotify.storage import client_tokens as token_store

QR_TICKET_SECONDS = 300
NEW_TOKEN = Fields(
    (
        Field("name", Text(token_store.NAME_MAX), required=True, doc="e.g. 'Pixel 8'"),
        Field("device_type", Choice(token_store.DEVICE_TYPES), nullable=False, default="other"),
        Field("scope", Choice(token_store.SCOPES), nullable=False, default="full"),
        Field("expires_in_days", Integer(1, token_store.EXPIRY_DAYS_MAX)),
    )
)
QR_QUERY = Fields(
    (
        Field("ticket", Text(64), required=True),
        Field("format", Choice(("png", "svg")), default="png"),
    )
)


@dataclass(frozen=True)
class QRTicket:
    token_id: str
    user_id: str
    payload: str
    expires: float  # wall-clock seconds


class TokenHandlers:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._tickets: dict[str, QRTicket] = {}

    async def list(self, request: Request) -> Response:
        rows = token_store.list_for_user(self.services.reader, request.user.user_id)
        return Response.json({"items": [row.to_json() for row in rows], "total": len(rows)})

    async def create(self, request: Request) -> Response:
        data = request.data
        name, device_type, scope = data["name"].strip(), data["device_type"], data["scope"]
        try:
            expires_at = token_store.expiry_after_days(data["expires_in_days"], now_us())
        except token_store.TokenRuleError as error:  # the schema keeps the range; belt and braces
            raise ValidationError("expires_in_days", str(error)) from None
        user_id = request.user.user_id
        rounds = self.services.settings.bcrypt_rounds
        new = await asyncio.to_thread(
            token_store.prepare, user_id, name, device_type, scope, expires_at, rounds
        )
        await self.services.writer.run(lambda ctx: token_store.insert(ctx.conn, new.row))
        ticket = self._issue_ticket(new.row.id, user_id, new.plaintext, name)
        body = new.row.to_json() | {
            "token": new.plaintext,
            "qr_url": request.url_for("token_qr", id=new.row.id) + f"?ticket={ticket}",
            "qr_expires_at": to_iso(int(self._tickets[ticket].expires * 1_000_000)),
        }
        return Response.created(body, request.url_for("token", id=new.row.id))

    def _issue_ticket(self, token_id: str, user_id: str, plaintext: str, name: str) -> str:
        now = time.time()
        for key, old in list(self._tickets.items()):
            if old.expires < now:
                del self._tickets[key]
        ticket = secrets.token_urlsafe(24)
        payload = qr.device_link(self.services.settings.public_url, plaintext, name)
        self._tickets[ticket] = QRTicket(token_id, user_id, payload, now + QR_TICKET_SECONDS)
        return ticket

    async def qr_code(self, request: Request) -> Response:
        ticket = self._tickets.get(request.params["ticket"])
        token_id = request.path_params["id"]
        if (
            ticket is None
            or ticket.expires < time.time()
            or ticket.token_id != token_id
            or ticket.user_id != request.user.user_id
        ):
            raise NotFound(
                "QR code not available: it is shown only for a few minutes after creating the "
                "token",
                code="qr_code_expired",
            )
        kind = request.params["format"]
        image = qr.render(ticket.payload, kind)
        content_type = "image/svg+xml" if kind == "svg" else "image/png"
        return Response(200, image, [("content-type", content_type)])

    async def revoke(self, request: Request) -> Response:
        user_id, token_id = request.user.user_id, request.path_params["id"]
        row = token_store.get(self.services.reader, user_id, token_id)
        if row is None or not await self.services.writer.run(
            lambda ctx: token_store.revoke(ctx.conn, user_id, token_id)
        ):
            raise NotFound("token not found", code="token_not_found")
        self.services.tokens.forget_token(row.token_hash)
        self.services.broker.close_where(CloseReason.REVOKED, token_id=token_id)
        for key, ticket in list(self._tickets.items()):
            if ticket.token_id == token_id:
                del self._tickets[key]
        return Response.no_content()


def routes(services: Services) -> list[Route]:
    handlers = TokenHandlers(services)
    base = "/api/tokens/"
    not_found = {404: Reply("no such token for this user", "Error")}
    return [
        Route(
            "GET",
            base,
            handlers.list,
            Access.SESSION,
            name="tokens",
            operation=Operation(
                "List your API tokens (never their secrets)",
                {200: Reply("the tokens", "TokenList")},
                tag="tokens",
            ),
        ),
        Route(
            "POST",
            base,
            handlers.create,
            Access.SESSION,
            operation=Operation(
                "Mint a token: the secret is in this answer only",
                {201: Reply("created, with `token` and a `qr_url`", "NewToken")},
                body=NEW_TOKEN,
                tag="tokens",
            ),
        ),
        Route(
            "DELETE",
            base + "{id:uuid}",
            handlers.revoke,
            Access.SESSION,
            name="token",
            operation=Operation(
                "Revoke it: its next request is a 401 and its streams close",
                {204: Reply("revoked", None, "")} | not_found,
                tag="tokens",
            ),
        ),
        Route(
            "GET",
            base + "{id:uuid}/qr",
            handlers.qr_code,
            Access.SESSION,
            name="token_qr",
            operation=Operation(
                "The QR code issued with the create answer, for a few minutes",
                {
                    200: Reply("the QR code", "Image", "image/png"),
                    404: Reply("expired or unknown ticket", "Error"),
                },
                query=QR_QUERY,
                tag="tokens",
            ),
        ),
    ]
