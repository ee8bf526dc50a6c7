"""QR codes for handing a new token to a device, via segno.

The code carries `pnotify://add?server=<public URL>&token=<token>&name=<label>`: one scan gives
the Android app everything it needs to subscribe.
"""

from __future__ import annotations

import io
from urllib.parse import urlencode


def device_link(server_url: str, token: str, name: str) -> str:
    return "pnotify://add?" + urlencode({"server": server_url, "token": token, "name": name})


def render(payload: str, kind: str) -> bytes:
    """`kind` is "png" or "svg"."""
    import segno  # here: ~25 ms that every start-up would pay for a page seldom opened

    code = segno.make(payload, error="m", micro=False)
    buffer = io.BytesIO()
    if kind == "svg":
        code.save(
            buffer, kind="svg", scale=6, border=4, xmldecl=False, svgns=True, title="API token"
        )
    else:
        code.save(buffer, kind="png", scale=6, border=4)
    return buffer.getvalue()
