"""The server's periodic work, started and stopped together with the app.

- token last-used times, gathered in memory by the authenticator, written every 30 s;
- the access log, written in batches four times a second;
- retention sweeps (retention.py), one small batch per writer job;
- streams of tokens revoked or expired elsewhere (the CLI, another process), closed within 1 s.

A failure in one round is logged and the loop goes on: none of this may take the server down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pnotify.auth.login import OIDCError
from pnotify.broker import CloseReason
from pnotify.clock import now_us
from pnotify.handlers import publishing
from pnotify.retention import RetentionPolicy, sweep_batch
from pnotify.services import Services
from pnotify.storage import client_tokens as token_store
from pnotify.storage import sessions as session_store

if TYPE_CHECKING:
    from pnotify.auth.oidc import OIDCClient

log = logging.getLogger(__name__)

LAST_USED_FLUSH_SECONDS = 30.0
LINES_FLUSH_SECONDS = 0.25
REVOCATION_CHECK_SECONDS = 1.0
RETENTION_BATCH = 500


PROVIDER_CHECK_SECONDS = 3.0
PROVIDER_RETRY_SECONDS = 30.0


class BackgroundTasks:
    def __init__(self, services: Services, oidc: OIDCClient | None = None) -> None:
        self.services = services
        self.oidc = oidc
        self._tasks: list[asyncio.Task[None]] = []

    async def check_provider(self) -> bool:
        """Fetch the OIDC discovery document (briefly): an unreachable provider is said at
        start, in the log and in /healthz, not first met by someone trying to sign in."""
        assert self.oidc is not None
        url = self.oidc.settings.issuer_url
        try:
            await asyncio.wait_for(self.oidc.metadata(), PROVIDER_CHECK_SECONDS)
        except (OIDCError, TimeoutError) as error:
            reason = str(error) or "no answer in time"
            if self.services.health.get("identity_provider") != f"unreachable: {reason}":
                log.warning("identity provider unreachable", extra={"url": url, "reason": reason})
            self.services.health["identity_provider"] = f"unreachable: {reason}"
            return False
        if self.services.health.get("identity_provider", "ok") != "ok":
            log.info("identity provider reachable again", extra={"url": url})
        self.services.health["identity_provider"] = "ok"
        return True

    async def _watch_provider(self) -> None:
        while not await self.check_provider():
            await asyncio.sleep(PROVIDER_RETRY_SECONDS)

    def start(self) -> None:
        settings = self.services.settings
        loops: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
            ("token last-used times", LAST_USED_FLUSH_SECONDS, self.flush_last_used),
            ("retention sweep", settings.retention_interval_seconds, self._sweep),
            ("revoked-token streams", REVOCATION_CHECK_SECONDS, self._close_revoked_streams),
        ]
        if self.services.lines is not None:
            loops.append(("frequent log lines", LINES_FLUSH_SECONDS, self._flush_lines))
        loop = asyncio.get_running_loop()
        for what, seconds, work in loops:
            self._tasks.append(loop.create_task(_every(seconds, what, work), name=what))
        if self.oidc is not None and self.services.health.get("identity_provider") != "ok":
            self._tasks.append(loop.create_task(self._watch_provider(), name="provider"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def flush_last_used(self) -> None:
        uses = self.services.tokens.take_last_used()
        if uses:
            await self.services.writer.run(
                lambda ctx: token_store.record_last_used(ctx.conn, uses.items())
            )

    async def _flush_lines(self) -> None:
        assert self.services.lines is not None
        self.services.lines.flush()

    async def _close_revoked_streams(self) -> None:
        broker = self.services.broker
        token_ids = broker.token_ids()
        if token_ids:
            for token_id in token_store.unusable(self.services.reader, token_ids):
                broker.close_where(CloseReason.REVOKED, token_id=token_id)

    async def _sweep(self) -> None:
        settings = self.services.settings
        writer = self.services.writer
        policy = RetentionPolicy(
            settings.auto_archive_after_days,
            settings.delete_archived_after_days,
            settings.tombstone_retention_days,
        )
        sweep = functools.partial(sweep_batch, policy=policy, now=now_us(), limit=RETENTION_BATCH)
        while await writer.run(sweep):
            pass  # one batch per writer job: requests interleave between batches
        await writer.run(lambda ctx: session_store.purge_expired(ctx.conn))
        await writer.run(publishing.purge_remembered_answers)


async def _every(seconds: float, what: str, work: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:
            log.exception("%s failed", what)
