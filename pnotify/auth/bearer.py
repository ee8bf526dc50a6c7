"""Bearer API tokens: from `pn_<lookup id>_<secret>` to the Principal it belongs to.

bcrypt costs ~270 ms a check here at cost 12, so it runs once per token, not once per request:
a verified token is remembered under HMAC(SECRET_KEY, token) together with the stored hash it
matched. Every request still reads the token's row by its lookup id (one indexed lookup), so a
revoked or expired token fails at once — also when another process (the CLI) revoked it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import OrderedDict, deque

import apsw

from pnotify.auth import token_format
from pnotify.auth.access import Principal
from pnotify.clock import now_us
from pnotify.http import TooManyRequests, Unauthorized
from pnotify.storage import client_tokens as token_store

VERIFIED_CACHE_SIZE = 10_000
FAILURE_WINDOW_SECONDS = 300.0
MAX_FAILURES_PER_WINDOW = 10
BCRYPT_CONCURRENCY = 2


class TokenAuthenticator:
    def __init__(self, conn: apsw.Connection, secret_key: bytes) -> None:
        self._conn = conn
        self._secret_key = secret_key
        self._verified: OrderedDict[bytes, str] = OrderedDict()
        self._in_flight: dict[bytes, asyncio.Future[bool]] = {}
        self._failures: dict[str, deque[float]] = {}
        self._bcrypt_slots = asyncio.Semaphore(BCRYPT_CONCURRENCY)
        self._last_used: dict[str, int] = {}
        self.failures_total = 0

    async def authenticate(self, token: str) -> Principal:
        parsed = token_format.parse_token(token)
        if parsed is None:
            self.failures_total += 1
            raise Unauthorized(
                "malformed API token; expected pn_<id>_<secret>", code="invalid_token"
            )
        row = token_store.by_lookup_id(self._conn, parsed.lookup_id)
        if row is None:
            self.failures_total += 1
            raise Unauthorized("invalid or revoked API token", code="invalid_token")
        key = hmac.new(self._secret_key, token.encode(), hashlib.sha256).digest()
        if self._verified.get(key) != row.token_hash:
            self._check_failure_budget(parsed.lookup_id)
            if not await self._verify(key, parsed.secret, row.token_hash):
                self._record_failure(parsed.lookup_id)
                raise Unauthorized("invalid or revoked API token", code="invalid_token")
            self._remember(key, row.token_hash)
        now = now_us()
        if row.expires_at is not None and now >= row.expires_at:
            self.failures_total += 1
            raise Unauthorized("API token has expired", code="token_expired")
        self._last_used[row.id] = now
        return Principal(user_id=row.user_id, scope=row.scope, token_id=row.id)

    async def _verify(self, key: bytes, secret: str, token_hash: str) -> bool:
        # Concurrent first requests with one token share a single bcrypt run.
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            async with self._bcrypt_slots:
                matches = await asyncio.to_thread(token_format.secret_matches, secret, token_hash)
            future.set_result(matches)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved here so an unshared failure is not logged as lost
            raise
        finally:
            del self._in_flight[key]
        return matches

    def _remember(self, key: bytes, token_hash: str) -> None:
        self._verified[key] = token_hash
        self._verified.move_to_end(key)
        while len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    def _check_failure_budget(self, lookup_id: str) -> None:
        failures = self._failures.get(lookup_id)
        if failures is None:
            return
        horizon = time.monotonic() - FAILURE_WINDOW_SECONDS
        while failures and failures[0] < horizon:
            failures.popleft()
        if not failures:
            del self._failures[lookup_id]
        elif len(failures) >= MAX_FAILURES_PER_WINDOW:
            self.failures_total += 1
            retry_after = int(failures[0] - horizon) + 1
            raise TooManyRequests(
                "too many failed attempts for this token; try again later",
                headers={"retry-after": str(retry_after)},
            )

    def _record_failure(self, lookup_id: str) -> None:
        self.failures_total += 1
        self._failures.setdefault(lookup_id, deque()).append(time.monotonic())

    def forget_token(self, token_hash: str) -> None:
        """Drop cache entries for a revoked token (its row is gone anyway; this frees memory)."""
        stale = [key for key, value in self._verified.items() if value == token_hash]
        for key in stale:
            del self._verified[key]

    def take_last_used(self) -> dict[str, int]:
        """Hand over the `last_used_at` times gathered since the last call (written in batches)."""
        taken, self._last_used = self._last_used, {}
        return taken
