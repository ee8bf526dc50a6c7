"""What handlers share: settings, the loop's read connection, the writer, the search index's
thread and the searches' own, the broker and the authenticators. Built once at start-up
(app.py) and handed to each handler module's `routes`."""

from __future__ import annotations

from dataclasses import dataclass, field

import apsw

from pnotify.auth.access import AccessControl
from pnotify.auth.bearer import TokenAuthenticator
from pnotify.auth.session_cookies import SessionCookies
from pnotify.broker import Broker
from pnotify.changes import Cursors
from pnotify.config import Settings
from pnotify.logs import FrequentLines
from pnotify.search_indexer import SearchIndexer
from pnotify.search_reads import SearchReads
from pnotify.writer import Writer


@dataclass
class Services:
    settings: Settings
    reader: apsw.Connection
    writer: Writer
    tokens: TokenAuthenticator
    broker: Broker
    cookies: SessionCookies
    access: AccessControl
    cursors: Cursors
    search: SearchIndexer
    search_reads: SearchReads  # searches, off the loop
    # A line per stream opened and closed, written in batches: like the request lines, None
    # with ACCESS_LOG=false or below INFO.
    lines: FrequentLines | None = None
    # What /healthz adds to its answer (the identity provider's state, say).
    health: dict[str, str] = field(default_factory=dict)
