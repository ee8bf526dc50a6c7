"""Messages that their sender flagged as Markdown (ntfy's `X-Markdown`, Gotify's
`contentType: text/markdown`), rendered to a safe subset with markdown-it-py.

Raw HTML is off (it is escaped, not passed through); only paragraphs, emphasis, code, lists,
quotes and links are enabled, and a link must be http(s) — anything else (`javascript:`,
`data:`, relative paths) stays text. Links open in a new tab without the page's referrer.
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt

from pnotify.templating import Safe

_RULES = [
    "emphasis",
    "backticks",
    "link",
    "autolink",
    "list",
    "fence",
    "code",
    "blockquote",
    "newline",
]
_SAFE_LINK = ("http://", "https://")


def _build() -> MarkdownIt:
    parser = MarkdownIt("zero", {"html": False, "breaks": True, "linkify": False}).enable(_RULES)
    parser.validateLink = lambda url: url.lower().startswith(_SAFE_LINK)  # type: ignore[method-assign]

    def open_link(renderer: Any, tokens: Any, index: int, options: Any, env: Any) -> str:
        tokens[index].attrSet("rel", "noopener noreferrer nofollow")
        tokens[index].attrSet("target", "_blank")
        return str(renderer.renderToken(tokens, index, options, env))

    parser.add_render_rule("link_open", open_link)
    return parser


_PARSER = _build()


def render(text: str) -> Safe:
    return Safe(_PARSER.render(text))
