"""HTML from `templates/` with the standard library: `string.Template` with every value escaped.

A value is inserted verbatim only when it is wrapped in `Safe`, which is meant for markup this
code built itself from other escaped parts.
"""

from __future__ import annotations

import functools
import html
import string

from pnotify import resources, staticfiles


class Safe(str):
    """Markup that is already escaped."""

    __slots__ = ()


def escape(value: object) -> str:
    return value if isinstance(value, Safe) else html.escape(str(value), quote=True)


@functools.cache
def _template(name: str) -> string.Template:
    return string.Template(resources.folder("templates").joinpath(name).read_text())


def render(template_name: str, /, **values: object) -> str:
    return _template(template_name).substitute({k: escape(v) for k, v in values.items()})


# Each page's scripts, in order (deferred; common.js first: the others build on it).
PAGE_SCRIPTS = {
    "dashboard": ("common.js", "arrival.js", "bulk.js", "inbox.js"),
    "tokens": ("common.js", "tokens.js"),
}


def page(title: str, body: Safe, *, user_name: str | None = None, current: str = "") -> str:
    nav = Safe("")
    if user_name is not None:
        nav = Safe(
            render(
                "nav.html",
                user_name=user_name,
                dashboard_current=Safe(' aria-current="page"' if current == "dashboard" else ""),
                tokens_current=Safe(' aria-current="page"' if current == "tokens" else ""),
            )
        )
    names = PAGE_SCRIPTS.get(current, ("common.js",))
    scripts = "\n".join(
        f'<script src="{escape(staticfiles.url(name))}" defer></script>' for name in names
    )
    return render(
        "base.html",
        title=title,
        nav=nav,
        body=body,
        page_name=current,
        css_url=staticfiles.url("style.css"),
        icon_url=staticfiles.url("favicon.svg"),
        theme_url=staticfiles.url("theme.js"),
        scripts=Safe(scripts),
    )


def message_page(title: str, message: str, *, link: str = "/", link_text: str = "Back") -> str:
    body = render("message.html", title=title, message=message, link=link, link_text=link_text)
    return page(title, Safe(body))
