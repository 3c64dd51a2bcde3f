"""A marker key travels through every path the add-on has, and shows up in no file or log.

The marker is set as the preference key, so it is sent, rejected by the server, and turned
into an error message. Then a valid key runs a job whose import fails unexpectedly with the
marker in the exception text. The log, the reports, the job messages and the saved .blend
files (plain and compressed) are searched for the marker afterwards.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import bpy
import pytest
import zstandard
from conftest import Addon, pump_until

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def blend_content(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    return data


@pytest.fixture
def every_log(configured: Addon) -> Iterator[io.StringIO]:
    """Everything logged at DEBUG: the add-on's own handler and every other logger."""
    buffer = io.StringIO()
    handler = configured.module("logs").current_handler()
    assert handler is not None
    previous_stream = handler.setStream(buffer)
    addon_logger = logging.getLogger(configured.module_name)
    previous_level = addon_logger.level
    addon_logger.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root_handler = logging.StreamHandler(buffer)
    root.addHandler(root_handler)
    previous_root_level = root.level
    root.setLevel(logging.DEBUG)
    yield buffer
    root.setLevel(previous_root_level)
    root.removeHandler(root_handler)
    addon_logger.setLevel(previous_level)
    handler.setStream(previous_stream)


def run_job(addon: Addon) -> object:
    jobs = bpy.context.scene.thrixel.jobs
    before = len(jobs)
    bpy.context.scene.thrixel.prompt = PROMPT
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    assert len(jobs) == before + 1
    record = jobs[before]
    pump_until(
        addon,
        lambda: record.imported or record.status in ("failed", "cancelled"),
        what="the job to end",
    )
    return record


def test_marker_key_found_nowhere(
    configured: Addon,
    server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    every_log: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    marker = f"sk-thrixel-marker-{uuid.uuid4().hex}"
    bare_marker = marker.removeprefix("sk-thrixel-")

    # The marker is sent and rejected.
    configured.preferences.api_key = marker
    rejected = run_job(configured)
    assert rejected.status == "failed"
    assert "API key" in rejected.message

    # A valid key runs a job whose placement fails with the key in the exception text.
    configured.preferences.api_key = server.api_key
    results = configured.module("results")

    def broken_placer(scene, record, path):  # noqa: ANN001, ANN202
        raise RuntimeError(f"placing failed while using key {marker}")

    monkeypatch.setitem(results.PLACERS, "generate", broken_placer)
    broken = run_job(configured)
    assert broken.status == "failed"
    assert "unexpected error" in broken.message
    assert "Traceback" not in broken.message
    configured.preferences.api_key = marker

    for compress in (False, True):
        path = tmp_path / f"marker-{compress}.blend"
        bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=compress)
        assert path.read_bytes().startswith(ZSTD_MAGIC) == compress
        content = blend_content(path)
        assert content.startswith(b"BLENDER")
        assert broken.submission_id.encode() in content, "the job records were not saved"
        assert marker.encode() not in content, f"key in the .blend (compress={compress})"
        assert bare_marker.encode() not in content

    log_text = every_log.getvalue()
    assert "/phase1/submit" in log_text, "the log captured no requests"
    assert "placing failed while using key" in log_text, "the unexpected error was not logged"
    assert "Traceback" in log_text
    assert bare_marker not in log_text

    captured = capfd.readouterr()
    assert "Submitted" in captured.out + captured.err, "no operator report was captured"
    assert bare_marker not in captured.out + captured.err
    for record in bpy.context.scene.thrixel.jobs:
        assert bare_marker not in record.message
