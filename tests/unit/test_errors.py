"""errors.py: one table of error kinds, documented in the README, each code with one status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pnotify import errors
from pnotify.http import HTTPError, NotFound
from pnotify.responses import Response

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def test_the_readme_documents_exactly_the_table() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", README.read_text(), re.MULTILINE)
    assert {code: int(status) for code, status in rows} == {
        kind.code: kind.status for kind in errors.KINDS.values()
    }


def test_a_code_must_fit_the_status() -> None:
    assert NotFound("x", code="token_not_found").code == "token_not_found"
    with pytest.raises(AssertionError):
        NotFound("x", code="invalid_json")
    with pytest.raises(KeyError):
        NotFound("x", code="no_such_code")


def test_the_response_carries_detail_and_code() -> None:
    response = Response.error(HTTPError("boom"))
    assert response.status == 500
    assert response.body == b'{"detail":"boom","code":"internal_error"}'
