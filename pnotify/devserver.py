"""`make dev`: the app as a uvicorn factory, for `--reload` (the CLI owns the server otherwise)."""

from __future__ import annotations

from pnotify import logs
from pnotify.app import App, create_app
from pnotify.config import load_settings
from pnotify.connections import ConnectionLimits
from pnotify.protocol import protocol_class

# `--http pnotify.devserver:HttpProtocol`: our connection limits and stream writes, as served.
HttpProtocol = protocol_class(ConnectionLimits())


def app() -> App:
    settings = load_settings()
    logs.configure(settings.log_level)
    return create_app(settings)
