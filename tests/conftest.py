from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serverproc import Account, ServerProcess


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    """Extra environment for the module's server; a module overrides this to configure it."""
    return {}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, server_settings: dict[str, str]
) -> Iterator[ServerProcess]:
    """One real server per test module, with its own data directory."""
    data_dir = tmp_path_factory.mktemp("server") / "data"
    running = ServerProcess.start(data_dir, server_settings)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


@pytest.fixture
def account(server: ServerProcess, request: pytest.FixtureRequest) -> Account:
    """A fresh user with a full-access token, so tests never see each other's data."""
    return server.account(_unique_name(request))


_counter = [0]


def _unique_name(request: pytest.FixtureRequest) -> str:
    _counter[0] += 1
    return f"{request.node.name[:40]}-{_counter[0]}"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def tmp_data(tmp_path: Path) -> Path:
    return tmp_path / "data"
