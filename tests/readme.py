"""The README's snippets, as the tests run them: each is marked `<!-- snippet: NAME -->` above
its fenced block, so what people copy is what was tested."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_SNIPPET = re.compile(r"<!-- snippet: ([a-z-]+) -->\n```[a-z]*\n(.*?)```", re.DOTALL)


def snippet(name: str) -> str:
    found = {match.group(1): match.group(2) for match in _SNIPPET.finditer(README.read_text())}
    if name not in found:
        raise KeyError(f"README.md has no snippet {name!r}; it has {sorted(found)}")
    return found[name]
