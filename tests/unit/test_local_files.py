"""Downloads into folders that cannot be written end in LocalFileError, naming the folder and
what to do, before any request is sent."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_folders import path_under_file, unwritable_folder
from server_fixture import LocalServer, module_server_fixtures
from thrixel_blender.client import ClientConfig, Phase1Request, ThrixelClient, errors

pytestmark = pytest.mark.server


server, clean_state = module_server_fixtures()


@pytest.fixture
def client(server: LocalServer) -> Iterator[ThrixelClient]:
    with ThrixelClient(ClientConfig(base_url=server.base_url, api_key=server.api_key)) as made:
        yield made


@pytest.fixture
def submission_id(client: ThrixelClient, server: LocalServer) -> str:
    created = client.submit_phase1(Phase1Request(task="a brass bell")).submission_id
    for _event in client.stream(created):
        pass
    server.admin.clear_requests()
    return created


def test_read_only_folder_fails_before_sending(
    client: ThrixelClient, server: LocalServer, submission_id: str, tmp_path: Path
) -> None:
    with unwritable_folder(tmp_path) as folder:
        with pytest.raises(errors.LocalFileError) as caught:
            client.download(submission_id, folder / "bell.glb")

        assert caught.value.message == f"Cannot write to {folder}: permission denied"
        assert caught.value.fix == "Choose another folder, or make this one writable"
        assert caught.value.path == str(folder)
        assert not caught.value.transient
        assert list(folder.iterdir()) == []
    assert server.admin.requests_log("download") == []


def test_path_under_file_fails_before_sending(
    client: ThrixelClient, server: LocalServer, submission_id: str, tmp_path: Path
) -> None:
    folder = path_under_file(tmp_path)

    with pytest.raises(errors.LocalFileError) as caught:
        client.download(submission_id, folder / "bell.glb", fmt="thumbnail")

    assert caught.value.message == (
        f"Cannot write to {folder}: part of the path is a file, not a folder"
    )
    assert caught.value.fix == "Choose another folder"
    assert server.admin.requests_log("download") == []


def test_writable_folder_still_downloads(
    client: ThrixelClient, submission_id: str, tmp_path: Path
) -> None:
    path = client.download(submission_id, tmp_path / "new" / "bell.glb")

    assert path.read_bytes()[:4] == b"glTF"
    assert [item.name for item in path.parent.iterdir()] == ["bell.glb"]


@pytest.mark.parametrize(
    ("code", "reason", "fix"),
    [
        (errno.ENOSPC, "the disk is full", "Free some disk space or choose another folder"),
        (errno.EROFS, "the disk is read-only", "Choose another folder"),
        (errno.ENOENT, "the folder does not exist", "Choose another folder"),
        (errno.EIO, "Input/output error", "Choose another folder"),
    ],
)
def test_local_file_error_names_reason(code: int, reason: str, fix: str) -> None:
    folder = Path("/data/models")

    error = errors.local_file_error(folder, OSError(code, os.strerror(code)))

    assert error.message == f"Cannot write to {folder}: {reason}"
    assert error.fix == fix
