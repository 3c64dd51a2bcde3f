"""The API key never lands in a saved .blend file, the log, a report or a job message."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import bpy
import pytest
import zstandard
from conftest import Addon, only_job, pump_until

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def generate(addon: Addon) -> None:
    bpy.context.scene.thrixel.prompt = PROMPT
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(
        addon,
        lambda: only_job().imported or only_job().status == "failed",
        what="the job to end",
    )


def blend_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(ZSTD_MAGIC):
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    return data


@pytest.fixture
def log_buffer(configured: Addon) -> Iterator[io.StringIO]:
    """The add-on's own log handler, pointed at a buffer, at DEBUG level."""
    handler = configured.module("logs").current_handler()
    assert handler is not None
    logger = logging.getLogger(configured.module_name)
    buffer = io.StringIO()
    previous_stream = handler.setStream(buffer)
    previous_level = logger.level
    logger.setLevel(logging.DEBUG)
    yield buffer
    logger.setLevel(previous_level)
    handler.setStream(previous_stream)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "compressed"])
def test_key_not_in_saved_blend(
    configured: Addon, server: LocalServer, tmp_path: Path, compress: bool
) -> None:
    generate(configured)
    path = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=compress)

    raw = path.read_bytes()
    assert raw.startswith(ZSTD_MAGIC) == compress
    content = blend_bytes(path)
    assert content.startswith(b"BLENDER")
    assert only_job().submission_id.encode() in content, "the job record was not saved"
    assert server.api_key.encode() not in content


def test_key_not_in_log(configured: Addon, server: LocalServer, log_buffer: io.StringIO) -> None:
    generate(configured)
    configured.preferences.api_key = "sk-thrixel-rejected-by-server"
    bpy.context.scene.thrixel.jobs.clear()
    generate(configured)
    # A key that reaches a log call by accident is masked by the handler's filter.
    logger = logging.getLogger(f"{configured.module_name}.test")
    logger.error("Header dump: Authorization: Bearer %s", server.api_key)
    try:
        raise ValueError(f"request failed for key {server.api_key}")
    except ValueError:
        logger.exception("Unexpected failure")

    text = log_buffer.getvalue()
    assert "/phase1/submit" in text, "the log captured no requests"
    assert "Header dump" in text
    assert server.api_key not in text
    assert "sk-thrixel-rejected-by-server" not in text


def test_key_not_in_reports_or_messages(
    configured: Addon, server: LocalServer, capfd: pytest.CaptureFixture[str]
) -> None:
    generate(configured)
    configured.preferences.api_key = "sk-thrixel-rejected-by-server"
    bpy.context.scene.thrixel.jobs.clear()
    generate(configured)
    generate_failed_message = only_job().message
    bpy.context.scene.thrixel.prompt = ""
    with pytest.raises(RuntimeError):
        bpy.ops.thrixel.generate_model()

    captured = capfd.readouterr()
    reports = captured.out + captured.err
    assert "Submitted" in reports, "no operator report was captured"
    assert server.api_key not in reports
    assert "sk-thrixel-rejected-by-server" not in reports
    assert "API key" in generate_failed_message
    assert "sk-thrixel-rejected-by-server" not in generate_failed_message
