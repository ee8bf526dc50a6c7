"""`.env` files: KEY=VALUE lines, as docker compose and most tools read them."""

from __future__ import annotations


class DotenvError(ValueError):
    """A line of the file is not KEY=VALUE; the message gives its number."""


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse KEY=VALUE lines; `#` comments, optional `export ` and matching quotes."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise DotenvError(f".env line {number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values
