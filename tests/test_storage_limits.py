"""A full disk and read-only media, for real: small tmpfs mounts (the tests run as root, as CI
does; elsewhere they skip with a message)."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from pnotify import db
from tests.serverproc import ServerProcess, run_cli

BASE = "/api/notifications/"


def _mount(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = f"cannot mount a tmpfs here ({result.stderr.strip()}); run as root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "small"
    _mount(mount_point, "size=4m")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> Path:
    """Write a file until the disk refuses more."""
    filler = directory / "filler"
    with open(filler, "wb") as handle:
        while _write_block(handle):
            pass
    return filler


def _write_block(handle: BinaryIO) -> bool:
    """Write 64 KiB; False once the disk is full (and only then)."""
    try:
        handle.write(b"\0" * 65536)
        handle.flush()
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        return False
    return True


def test_a_full_disk_is_a_clear_507_and_recovers_losing_nothing(small_disk: Path) -> None:
    running = ServerProcess.start(small_disk / "data")
    account = running.account("full")
    acknowledged: list[str] = []
    try:
        with httpx.Client(base_url=running.url, timeout=10) as client:

            def post() -> httpx.Response:
                body = {"title": "log line", "message": "x" * 8000}
                response = client.post(BASE, json=body, headers=account.headers)
                if response.status_code == 201:
                    acknowledged.append(response.json()["id"])
                return response

            assert post().status_code == 201
            filler = _fill(small_disk)
            refused = next(r for r in (post() for _ in range(600)) if r.status_code != 201)
            assert refused.status_code == 507
            assert refused.json()["code"] == "disk_full"
            assert "disk is full" in refused.json()["detail"]
            health = client.get("/healthz")
            assert health.status_code == 503
            assert health.json() == {
                "status": "degraded",
                "detail": "the disk is full: writes are failing",
            }
            filler.unlink()
            assert client.get("/healthz").json() == {"status": "ok"}
            assert post().status_code == 201
        assert running.stop() == 0
        running.launch()
        with httpx.Client(base_url=running.url, timeout=10) as client:
            listed = client.get(BASE, params={"limit": 200}, headers=account.headers).json()
        assert set(acknowledged) <= {item["id"] for item in listed["items"]}
    finally:
        running.stop()
    conn = db.connect(small_disk / "data" / "priority_notify.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


def test_a_backup_is_one_file_that_restores_from_read_only_media(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    account = server.account("backed-up")
    created = client.post(BASE, json={"title": "keep me"}, headers=account.headers).json()
    copy = tmp_path / "copy.db"
    result = run_cli(server.data_dir, "backup", str(copy), env=server.env)
    assert result.returncode == 0, result.stderr
    assert copy.read_bytes()[18:20] == b"\x01\x01"  # a rollback journal, not WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db"]

    media = tmp_path / "media"
    _mount(media, "size=8m")
    try:
        shutil.copy(copy, media / "copy.db")
        subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
        server.stop()
        restored = run_cli(server.data_dir, "restore", str(media / "copy.db"), env=server.env)
        assert restored.returncode == 0, restored.stderr
        assert sorted(p.name for p in media.iterdir()) == ["copy.db"]
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)
        server.launch()
    with httpx.Client(base_url=server.url) as after:
        found = after.get(BASE + created["id"], headers=account.headers)
    assert found.status_code == 200
