"""JSON as the server writes it: compact, UTF-8 as is, and standard (no NaN or Infinity)."""

from __future__ import annotations

import json
from typing import Any


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
