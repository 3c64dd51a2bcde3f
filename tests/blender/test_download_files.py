"""Where Download writes: file names in any script, no overwriting, and folders that cannot be
written, rejected before sending or reported when the worker meets them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bpy
import pytest
from conftest import Addon
from library_support import cache, created, pump_until, refresh, reset_library

from local_folders import path_under_file, unwritable_folder
from server_fixture import LocalServer


@pytest.fixture
def library(configured: Addon) -> Iterator[Addon]:
    reset_library(configured)
    yield configured
    reset_library(configured)


def start(submission_id: str, folder: Path, fmt: str = 'glb') -> None:
    result = bpy.ops.thrixel.download_submission(
        submission_id=submission_id, format=fmt, directory=str(folder)
    )
    assert result == {'FINISHED'}


def finish_all(addon: Addon) -> list[Any]:
    transfers = cache(addon).transfers
    pump_until(
        addon,
        lambda: all(item.state != "running" for item in transfers.values()),
        what="the downloads",
    )
    return list(transfers.values())


def test_file_name_keeps_unicode_letters(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = created(server, "Ünïcode chair / with: bad*chars?")
    refresh(library)

    start(submission_id, tmp_path)
    (transfer,) = finish_all(library)

    assert transfer.state == "done", transfer.message
    expected = f"Ünïcode_chair_with_bad_chars_{submission_id[:8]}.glb"
    assert Path(transfer.path).name == expected
    assert [path.name for path in tmp_path.iterdir()] == [expected]


def test_download_again_keeps_first_file(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = created(server, "a bronze bell")
    refresh(library)
    stem = f"a_bronze_bell_{submission_id[:8]}"
    start(submission_id, tmp_path)
    (first,) = finish_all(library)
    first_path = Path(first.path)
    first_path.write_bytes(first_path.read_bytes() + b"marker")

    start(submission_id, tmp_path)
    start(submission_id, tmp_path)
    transfers = finish_all(library)

    assert [item.state for item in transfers] == ["done", "done", "done"]
    assert [Path(item.path).name for item in transfers] == [
        f"{stem}.glb",
        f"{stem} (2).glb",
        f"{stem} (3).glb",
    ]
    assert first_path.read_bytes().endswith(b"marker")
    assert transfers[1].message == f"Saved \"{stem} (2).glb\" in {tmp_path}"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"{stem} (2).glb",
        f"{stem} (3).glb",
        f"{stem}.glb",
    ]


def test_read_only_folder_is_rejected(library: Addon, server: LocalServer, tmp_path: Path) -> None:
    submission_id = created(server, "a bronze bell")
    server.admin.clear_requests()

    with unwritable_folder(tmp_path) as folder:
        expected = (
            f"Cannot write to {folder}: permission denied. "
            "Choose another folder, or make this one writable."
        )
        with pytest.raises(RuntimeError) as caught:
            start(submission_id, folder)

        assert expected in str(caught.value)
        assert list(folder.iterdir()) == []
    assert cache(library).transfers == {}
    assert server.admin.requests_log("download") == []


@pytest.mark.parametrize("kind", ["under a file", "a file"])
def test_file_in_folder_path_is_rejected(
    library: Addon, server: LocalServer, tmp_path: Path, kind: str
) -> None:
    submission_id = created(server, "a bronze bell")
    if kind == "a file":
        folder = tmp_path / "a-file"
        folder.write_text("not a folder")
        expected = f"Cannot write to {folder}: it is a file, not a folder. Choose a folder."
    else:
        folder = path_under_file(tmp_path)
        expected = (
            f"Cannot write to {folder}: part of the path is a file, not a folder. "
            "Choose another folder."
        )

    with pytest.raises(RuntimeError) as caught:
        start(submission_id, folder)

    assert expected in str(caught.value)
    assert cache(library).transfers == {}


def test_worker_reports_unwritable_folder(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    # The folder can stop accepting files after the operator checked it; the worker's own
    # failure must read as clearly.
    submission_id = created(server, "a bronze bell")
    transfer_ops = library.module("transfer_ops")

    with unwritable_folder(tmp_path) as folder:
        transfer_ops.start_download(submission_id, "a bronze bell", "glb", folder)
        (transfer,) = finish_all(library)

        assert transfer.state == "failed"
        assert transfer.message == (
            f"Cannot write to {folder}: permission denied. "
            "Choose another folder, or make this one writable."
        )
        assert list(folder.iterdir()) == []
