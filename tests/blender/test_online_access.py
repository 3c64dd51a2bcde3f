"""Allow Online Access off: nothing is sent, operators are greyed out with the reason."""

from __future__ import annotations

from pathlib import Path

import bpy
import pytest
from conftest import Addon, only_job, pump_until, start_held_job

from server_fixture import LocalServer

PROMPT = "a small stone gargoyle holding a lantern"
NETWORK_OPERATORS = ("generate_model", "check_connection", "retry_job")


@pytest.fixture
def offline(configured: Addon) -> Addon:
    bpy.context.preferences.system.use_online_access = False
    assert not bpy.app.online_access
    return configured


@pytest.mark.parametrize("name", NETWORK_OPERATORS)
def test_operator_greyed_out_offline(offline: Addon, server: LocalServer, name: str) -> None:
    operator = getattr(bpy.ops.thrixel, name)
    assert not operator.poll()
    with pytest.raises(RuntimeError):
        operator()
    assert server.admin.requests_log() == []


def test_offline_sends_nothing(offline: Addon, server: LocalServer) -> None:
    bpy.context.scene.thrixel.prompt = PROMPT
    with pytest.raises(RuntimeError):
        bpy.ops.thrixel.generate_model()
    offline.module("pump").pump()
    assert len(bpy.context.scene.thrixel.jobs) == 0
    assert server.admin.requests_log() == []


def test_poll_message_names_setting(offline: Addon) -> None:
    operators = offline.module("operators")
    messages: list[str] = []

    class Recorder:
        @staticmethod
        def poll_message_set(message: str) -> None:
            messages.append(message)

    assert not operators.network_ready(Recorder)
    assert messages == [offline.module("online").OFFLINE_REASON]
    assert "Preferences > System > Network > Allow Online Access" in messages[0]


def test_saved_job_waits_for_online_access(
    configured: Addon, server: LocalServer, tmp_path: Path
) -> None:
    start_held_job(configured, server, PROMPT)
    saved = tmp_path / "offline.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    bpy.ops.wm.read_homefile(use_empty=True)
    server.admin.set_pace(paused=False)
    server.admin.clear_requests()

    bpy.context.preferences.system.use_online_access = False
    bpy.ops.wm.open_mainfile(filepath=str(saved))
    pump = configured.module("pump")
    for _ in range(10):
        pump.pump()
    assert only_job().message.startswith("Paused.")
    assert not only_job().imported
    assert server.admin.requests_log() == []

    bpy.context.preferences.system.use_online_access = True
    pump_until(configured, lambda: only_job().imported, what="the import once online")
    assert only_job().status == "completed"
