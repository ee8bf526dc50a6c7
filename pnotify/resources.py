"""The server's own files — migrations, templates, static files — found through the package
with importlib.resources, so they are there however it was installed: a wheel, `pip install .`,
pipx, the container, or an editable install of the repository (whose top-level sql/,
templates/ and static/ folders pyproject.toml maps to pnotify.sql, .templates and .static)."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable


def folder(name: str) -> Traversable:
    """`sql`, `templates` or `static`."""
    return resources.files(f"pnotify.{name}")
