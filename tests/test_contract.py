"""The published contract: /api/openapi.json, generated from the route table, and schemathesis
checking the live server against it (bounded here; `make fuzz` runs longer)."""

from __future__ import annotations

import httpx
import pytest

from tests import fuzz
from tests.serverproc import ServerProcess


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    return fuzz.FUZZ_SETTINGS


def test_the_document_describes_every_api_route(client: httpx.Client) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"] == "3.1.0"
    operations = {
        (method.upper(), path) for path, methods in document["paths"].items() for method in methods
    }
    assert operations == {
        ("GET", "/api/me"),
        ("GET", "/api/notifications/"),
        ("POST", "/api/notifications/"),
        ("POST", "/api/notifications/read-all"),
        ("POST", "/api/notifications/bulk"),
        ("GET", "/api/notifications/sources"),
        ("GET", "/api/notifications/{id}"),
        ("PATCH", "/api/notifications/{id}"),
        ("DELETE", "/api/notifications/{id}"),
        ("GET", "/api/notifications/stream"),
        ("GET", "/api/notifications/changes"),
        ("GET", "/api/tokens/"),
        ("POST", "/api/tokens/"),
        ("DELETE", "/api/tokens/{id}"),
        ("GET", "/api/tokens/{id}/qr"),
        ("GET", "/healthz"),
        ("POST", "/"),
        ("PUT", "/"),
        ("POST", "/{topic}"),
        ("PUT", "/{topic}"),
        ("POST", "/message"),
        ("POST", "/api/integrations/alertmanager"),
        ("POST", "/api/integrations/apprise"),
    }
    create = document["paths"]["/api/notifications/"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["title"]
    assert body["properties"]["title"]["maxLength"] == 250  # the rule the server enforces
    assert create["security"] == [{"bearer": []}]
    stream = document["paths"]["/api/notifications/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert document["paths"]["/api/notifications/{id}"]["get"]["parameters"][0]["schema"][
        "pattern"
    ].startswith("^[0-9a-fA-F]{8}")


def test_schemathesis_finds_no_failures(server: ServerProcess) -> None:
    failures = fuzz.run(server, server.account("fuzzed"), examples=15, seconds=25)
    assert not failures, "\n\n".join(failures)
