"""Names and ids from the server or a saved file never choose where a file is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bpy
import pytest
import requests
from conftest import Addon, pump_until
from library_support import cache, created, refresh, reset_library

from server_fixture import LocalServer

HOSTILE_NICKNAMES = ["../../escaped", "..\\..\\escaped", "/tmp/escaped", ".hidden/../x", "..."]


@pytest.fixture
def library(configured: Addon) -> Iterator[Addon]:
    reset_library(configured)
    yield configured
    reset_library(configured)


@pytest.mark.parametrize("nickname", HOSTILE_NICKNAMES)
def test_nickname_cannot_leave_folder(
    library: Addon, server: LocalServer, tmp_path: Path, nickname: str
) -> None:
    submission_id = created(server, "a bronze bell")
    response = requests.patch(
        f"{server.base_url}/{submission_id}/nickname",
        json={"nickname": nickname},
        headers=server.auth_headers(),
        timeout=10,
    )
    response.raise_for_status()
    refresh(library)
    folder = tmp_path / "downloads"
    folder.mkdir()

    result = bpy.ops.thrixel.download_submission(
        submission_id=submission_id, format="glb", directory=str(folder)
    )
    assert result == {'FINISHED'}
    pump_until(
        library,
        lambda: all(t.state != "running" for t in cache(library).transfers.values()),
        what="the download",
    )

    (transfer,) = cache(library).transfers.values()
    assert transfer.state == "done", transfer.message
    path = Path(transfer.path)
    assert path.parent == folder
    assert not path.name.startswith(".")
    assert [entry.name for entry in folder.iterdir()] == [path.name]
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["downloads"]


@pytest.mark.parametrize("bad_id", ["../info", "abc/def", "abc?x=1", "%2e%2e", ""])
def test_saved_id_never_reaches_a_url(configured: Addon, server: LocalServer, bad_id: str) -> None:
    record = bpy.context.scene.thrixel.add_job(kind="generate", prompt="a bell", phase=1)
    record.submission_id = bad_id
    record.status = "queued"
    server.admin.clear_requests()

    configured.module("tracking").resume_all()

    if bad_id:
        assert record.status == "failed"
        assert server.admin.requests_log() == []
    else:
        # No id at all: the job may have reached the service unconfirmed, so resuming searches
        # the submissions list for it, and fails when none matches.
        pump_until(configured, lambda: record.status == "failed", what="the lookup to fail")
        routes = {entry["route"] for entry in server.admin.requests_log()}
        assert routes <= {"submissions"}, routes
    assert "Retry" in record.message

    # Retry sends the prompt again instead of following the damaged id.
    assert bpy.ops.thrixel.retry_job(job_id=record.job_id) == {'FINISHED'}
    pump_until(
        configured,
        lambda: bpy.context.scene.thrixel.jobs[0].imported,
        what="the retried job's import",
    )
    logged_paths = [entry["path"] for entry in server.admin.requests_log()]
    assert not any(bad_id and bad_id in path for path in logged_paths)
    assert len(server.admin.requests_log("phase1_submit")) == 1
