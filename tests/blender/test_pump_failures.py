"""An event whose handling raises fails its job with a plain message; it never sticks."""

from __future__ import annotations

import logging

import bpy
import pytest
from conftest import Addon, only_job, pump_until

from server_fixture import LocalServer

PROMPT = "a weathered bronze compass"


def generate_until_failed(addon: Addon, caplog: pytest.LogCaptureFixture) -> None:
    bpy.context.scene.thrixel.prompt = PROMPT
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    with caplog.at_level(logging.WARNING, logger=addon.module_name):
        pump_until(addon, lambda: only_job().status == "failed", what="the job to fail")


def test_raising_applier_fails_job(
    configured: Addon,
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pump = configured.module("pump")

    def broken_applier(record, event):  # noqa: ANN001, ANN202
        raise KeyError("submitted applier broke")

    monkeypatch.setitem(pump._APPLIERS, "submitted", broken_applier)
    generate_until_failed(configured, caplog)

    record = only_job()
    assert "unexpected error" in record.message
    assert "KeyError" not in record.message
    assert "Traceback" not in record.message
    assert not configured.module("runtime").get().is_following(record.job_id)
    logged = [entry for entry in caplog.records if entry.exc_info is not None]
    assert logged, "the unexpected error was not logged with its traceback"

    # Retry is offered and works: the job is no longer "still running".
    monkeypatch.undo()
    assert bpy.ops.thrixel.retry_job(job_id=record.job_id) == {'FINISHED'}
    pump_until(configured, lambda: only_job().imported, what="the retried job's import")
    assert only_job().status == "completed"


def test_raising_placer_fails_job(
    configured: Addon,
    server: LocalServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    results = configured.module("results")

    def broken_placer(scene, record, path):  # noqa: ANN001, ANN202
        raise AttributeError("'NoneType' object has no attribute 'select_set'")

    monkeypatch.setitem(results.PLACERS, "generate", broken_placer)
    generate_until_failed(configured, caplog)

    record = only_job()
    assert record.remote_status == "completed"
    assert not record.imported
    assert "select_set" not in record.message
    assert "unexpected error" in record.message
    assert any("select_set" in str(entry.exc_info[1]) for entry in caplog.records if entry.exc_info)
    assert not configured.module("runtime").get().is_following(record.job_id)
