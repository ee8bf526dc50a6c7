"""What handlers share: settings, the loop's read connection, the writer and the authenticators."""

from __future__ import annotations

from dataclasses import dataclass

import apsw

from pnotify.bearer import TokenAuthenticator
from pnotify.broker import Broker
from pnotify.config import Settings
from pnotify.db import Writer
from pnotify.session_cookies import SessionCookies


@dataclass
class Services:
    settings: Settings
    reader: apsw.Connection
    writer: Writer
    tokens: TokenAuthenticator
    broker: Broker
    cookies: SessionCookies
