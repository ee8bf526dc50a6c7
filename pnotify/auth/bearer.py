"""Bearer API tokens: from `pn_<lookup id>_<secret>` to the Principal it belongs to.

bcrypt costs ~270 ms a check here at cost 12, so it runs once per token, not once per request:
a verified token is remembered under a keyed hash of it (BLAKE2b keyed from SECRET_KEY: a MAC
as HMAC is, at a third of its cost) together with the stored hash it matched. Every request
is still checked against the token's row as it stood after the request arrived, so a revoked
or expired token fails at once — also when another process (the CLI) revoked it. The row is
read once per event-loop turn for all the requests checked in that turn (32 concurrent POSTs
arrive together; ~30 µs a read in the server, measured): it is forgotten by a callback queued
when it is read, and the loop runs callbacks first in, first out, so every request that the
remembered row serves was already read off its socket (its task existed) when the row was.
A token verified in a turn is remembered for the rest of that turn as well, with its Principal,
so that its next requests in the turn skip the parsing and the keyed hash (~3 µs a request);
its expiry is still checked each time.

Guessing, and what it may cost others:
- A remembered token never meets a limit: wrong guesses at it cannot lock its holder out.
- At most one bcrypt check per lookup id is in flight (a lock per id; whoever waited finds the
  answer remembered), and at most BCRYPT_CONCURRENCY in all, so one token's guesses hold at
  most one of the slots that other tokens' first requests need.
- Failures are counted per client address: after MAX_FAILURES_PER_WINDOW in the window, that
  address gets a 429 before any bcrypt runs. A 256-bit secret needs no lockout against
  guessing; this only keeps one client from spending the server's CPU.
"""

from __future__ import annotations

import asyncio
import hashlib
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
MAX_FAILURES_PER_WINDOW = 20
TRACKED_ADDRESSES = 10_000
BCRYPT_CONCURRENCY = 2


class TokenAuthenticator:
    def __init__(self, conn: apsw.Connection, secret_key: bytes) -> None:
        self._conn = conn
        # BLAKE2b takes a key of at most 64 bytes; SECRET_KEY may be longer.
        self._cache_key = hashlib.sha256(b"verified tokens\0" + secret_key).digest()
        self._verified: OrderedDict[bytes, str] = OrderedDict()
        self._checking: dict[str, tuple[asyncio.Lock, int]] = {}  # lookup id → lock, users
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._bcrypt_slots = asyncio.Semaphore(BCRYPT_CONCURRENCY)
        self._last_used: dict[str, int] = {}
        self._rows_this_turn: dict[str, token_store.Credentials | None] = {}
        # Tokens verified this turn, from rows of this turn: principal, token id, expiry.
        self._known_this_turn: dict[str, tuple[Principal, str, int | None]] = {}
        self.failures_total = 0
        self.bcrypt_checks_total = 0

    async def authenticate(self, token: str, client: str = "") -> Principal:
        """The token's principal; `client` (the peer address) is charged for wrong secrets."""
        known = self._known_this_turn.get(token)
        if known is not None:
            principal, token_id, expires_at = known
            now = now_us()
            if expires_at is None or now < expires_at:
                self._last_used[token_id] = now
                return principal
        parsed = token_format.parse_token(token)
        if parsed is None:
            self.failures_total += 1
            raise Unauthorized(
                "malformed API token; expected pn_<id>_<secret>", code="invalid_token"
            )
        row = self._credentials(parsed.lookup_id)
        if row is None:
            self.failures_total += 1
            raise Unauthorized("invalid or revoked API token", code="invalid_token")
        key = hashlib.blake2b(token.encode(), key=self._cache_key, digest_size=32).digest()
        remembered = self._verified.get(key) == row.token_hash  # then no await: same turn
        if not remembered and not await self._verify(parsed, key, row.token_hash, client):
            self._record_failure(client)
            raise Unauthorized("invalid or revoked API token", code="invalid_token")
        now = now_us()
        if row.expires_at is not None and now >= row.expires_at:
            self.failures_total += 1
            raise Unauthorized("API token has expired", code="token_expired")
        self._last_used[row.id] = now
        principal = Principal(user_id=row.user_id, scope=row.scope, token_id=row.id)
        if remembered:  # the row was read in this turn: it is forgotten with it
            self._known_this_turn[token] = (principal, row.id, row.expires_at)
        return principal

    def _credentials(self, lookup_id: str) -> token_store.Credentials | None:
        """The token's row, read at most once in this turn of the loop (module docstring)."""
        rows = self._rows_this_turn
        if lookup_id in rows:
            return rows[lookup_id]
        if not rows:
            asyncio.get_running_loop().call_soon(self._forget_this_turn)
        row = rows[lookup_id] = token_store.credentials(self._conn, lookup_id)
        return row

    def _forget_this_turn(self) -> None:
        self._rows_this_turn.clear()
        self._known_this_turn.clear()

    async def _verify(
        self, parsed: token_format.ParsedToken, key: bytes, token_hash: str, client: str
    ) -> bool:
        lookup_id = parsed.lookup_id
        lock, users = self._checking.get(lookup_id) or (asyncio.Lock(), 0)
        self._checking[lookup_id] = (lock, users + 1)
        try:
            async with lock:
                if self._verified.get(key) == token_hash:
                    return True  # verified by the request we waited behind
                # Checked here, in line: failures recorded while we waited count too.
                self._check_failure_budget(client)
                async with self._bcrypt_slots:
                    self.bcrypt_checks_total += 1
                    matches = await asyncio.to_thread(
                        token_format.secret_matches, parsed.secret, token_hash
                    )
                if matches:
                    self._remember(key, token_hash)
                return matches
        finally:
            lock, users = self._checking[lookup_id]
            if users == 1:
                del self._checking[lookup_id]
            else:
                self._checking[lookup_id] = (lock, users - 1)

    def _remember(self, key: bytes, token_hash: str) -> None:
        self._verified[key] = token_hash
        self._verified.move_to_end(key)
        while len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    def _check_failure_budget(self, client: str) -> None:
        failures = self._failures.get(client)
        if failures is None:
            return
        horizon = time.monotonic() - FAILURE_WINDOW_SECONDS
        while failures and failures[0] < horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]
        elif len(failures) >= MAX_FAILURES_PER_WINDOW:
            self.failures_total += 1
            retry_after = int(failures[0] - horizon) + 1
            raise TooManyRequests(
                "too many failed token attempts from this address; try again later",
                headers={"retry-after": str(retry_after)},
            )

    def _record_failure(self, client: str) -> None:
        self.failures_total += 1
        failures = self._failures.setdefault(client, deque())
        failures.append(time.monotonic())
        self._failures.move_to_end(client)
        while len(self._failures) > TRACKED_ADDRESSES:  # memory stays bounded
            self._failures.popitem(last=False)

    def forget_token(self, token_hash: str) -> None:
        """Drop cache entries for a revoked token (its row is gone anyway; this frees memory)."""
        self._forget_this_turn()
        stale = [key for key, value in self._verified.items() if value == token_hash]
        for key in stale:
            del self._verified[key]

    def take_last_used(self) -> dict[str, int]:
        """Hand over the `last_used_at` times gathered since the last call (written in batches)."""
        taken, self._last_used = self._last_used, {}
        return taken
