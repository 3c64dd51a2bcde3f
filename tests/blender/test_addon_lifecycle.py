"""Disabling the add-on mid-job stops everything it started; enabling it again works."""

from __future__ import annotations

import threading

import bpy
from conftest import Addon, disable, enable, only_job, pump_until, start_held_job

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"


def thrixel_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("thrixel")]


def test_disable_mid_job_then_enable(configured: Addon, server: LocalServer) -> None:
    start_held_job(configured, server, PROMPT)
    pump = configured.module("pump").pump
    tracking = configured.module("tracking")
    assert thrixel_threads(), "no worker threads were running"

    disable(configured.module_name)
    assert thrixel_threads() == []
    assert not bpy.app.timers.is_registered(pump)
    assert tracking.on_load_post not in bpy.app.handlers.load_post
    assert tracking.on_load_pre not in bpy.app.handlers.load_pre
    assert not hasattr(bpy.types.Scene, "thrixel")
    assert not hasattr(bpy.types, "THRIXEL_OT_generate_model")
    assert not hasattr(bpy.types, "VIEW3D_PT_thrixel_jobs")

    enable(configured.module_name)
    # Preferences return to their defaults when an add-on is enabled again.
    configured.preferences.api_key = server.api_key
    configured.preferences.base_url = server.base_url
    assert bpy.app.timers.is_registered(configured.module("pump").pump)
    server.admin.set_pace(paused=False)

    # The record saved on the scene survived, and the pump follows it again.
    pump_until(configured, lambda: only_job().imported, what="the resumed job's import")
    assert only_job().status == "completed"
