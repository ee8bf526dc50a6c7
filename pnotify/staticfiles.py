"""`static/`: loaded once at start-up, served with ETags, and linked with a content hash so a
page always gets the files it was rendered with.

Only files that exist in `static/` at start-up can be served: the name is a key into that table,
never a path joined onto the disk, so `..` and encoded slashes have nothing to reach.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from pnotify import resources


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    version: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def load(directory: Traversable | None = None) -> dict[str, StaticFile]:
    folder = directory if directory is not None else resources.folder("static")
    files: dict[str, StaticFile] = {}
    for path in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if not path.is_file() or path.name.startswith((".", "_")) or path.name.endswith(".pyc"):
            continue
        body = path.read_bytes()
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type.endswith("javascript"):
            content_type += "; charset=utf-8"
        files[path.name] = StaticFile(body, content_type, hashlib.sha256(body).hexdigest()[:16])
    return files


FILES = load()


def url(name: str) -> str:
    return f"/static/{name}?v={FILES[name].version}"
