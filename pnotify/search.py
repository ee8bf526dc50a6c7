"""The search box's language, turned into an SQLite FTS5 query that cannot be malformed.

What a user types:
- words: every one must appear, as a word or the start of one (`zebra` finds `zebrafish`);
- `"an exact phrase"` in double quotes;
- `-word` or `-"a phrase"`: leave out what contains it.

Every term goes to FTS5 as a quoted string, so nothing typed (`AND`, `:`, `*`, `(`, `NEAR`)
is read as FTS5 syntax; the tokenizer splits `web-01` inside the quotes as it did when the row
was indexed. What cannot be a search (an unbalanced quote, no letters or digits, only
exclusions, too many terms) is refused with a sentence that says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pnotify.http import ValidationError
from pnotify.schema import JSON, Text, Type

MAX_LENGTH = 200
MAX_TERMS = 16
_TERM = re.compile(r'(-?)"([^"]*)"|(-?)([^\s"]+)')
_WORD = re.compile(r"\w")


class SearchError(ValueError):
    """The text cannot be a search; the message says why (it completes `q …`)."""


def to_fts(text: str) -> str:
    """The FTS5 MATCH expression for what the user typed, or SearchError."""
    if text.count('"') % 2:
        raise SearchError("has a double quote without its closing one")
    wanted: list[str] = []
    unwanted: list[str] = []
    for match in _TERM.finditer(text):
        is_phrase = match.group(2) is not None
        negated = bool(match.group(1) if is_phrase else match.group(3))
        words = match.group(2) if is_phrase else match.group(4)
        if not _WORD.search(words):
            continue  # punctuation alone matches nothing: the tokenizer drops it
        term = '"' + words.replace('"', '""') + '"' + ("" if is_phrase else "*")
        (unwanted if negated else wanted).append(term)
    if len(wanted) + len(unwanted) > MAX_TERMS:
        raise SearchError(f"has more than {MAX_TERMS} terms")
    if not wanted:
        if unwanted:
            raise SearchError("needs a word to look for, not only words to leave out")
        raise SearchError("has no letters or digits to search for")
    expression = " AND ".join(wanted)
    for term in unwanted:
        expression = f"({expression}) NOT {term}"
    return expression


@dataclass(frozen=True)
class Search(Type):
    """The `q` parameter: checked as text, handed on as an FTS5 expression."""

    def check(self, name: str, value: Any) -> str:
        text = Text(MAX_LENGTH).check(name, value)
        try:
            return to_fts(text)
        except SearchError as error:
            raise ValidationError(name, str(error)) from None

    def schema(self) -> JSON:
        described = Text(MAX_LENGTH).schema()
        described["description"] = (
            'words (each matches as a word prefix), "exact phrases", -excluded; '
            "over title, message and source"
        )
        return described
