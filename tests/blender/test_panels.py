"""Panel and preferences draw() in each state, through a recording stand-in layout."""

from __future__ import annotations

import bpy
import pytest
from conftest import Addon
from layout_recorder import PanelStandIn, RecordingLayout

from server_fixture import LocalServer


def draw_panel(addon: Addon, name: str, *, open_panels: bool = True) -> RecordingLayout:
    panel_class = getattr(addon.module("panels"), name)
    layout = RecordingLayout(open_panels=open_panels)
    panel_class.draw(PanelStandIn(layout), bpy.context)
    return layout


def draw_preferences(addon: Addon) -> RecordingLayout:
    preferences = addon.preferences
    layout = RecordingLayout()
    type(preferences).draw(PanelStandIn(layout, preferences), bpy.context)
    return layout


def add_job(status: str, *, progress: float = 0.0, message: str = "", imported: bool = False):
    record = bpy.context.scene.thrixel.add_job(kind="generate", prompt=f"job {status}", phase=1)
    record.status = status
    record.progress = progress
    record.message = message
    record.imported = imported
    return record


def test_generate_panel_configured(configured: Addon) -> None:
    layout = draw_panel(configured, "VIEW3D_PT_thrixel_generate")
    assert layout.prop_paths() == ["prompt", "adaptive_thinking", "model_override"]
    assert layout.operator_ids() == ["thrixel.generate_model"]
    assert [call.args[0] for call in layout.of("panel")] == ["thrixel_generate_advanced"]


def test_generate_panel_folds_advanced(configured: Addon) -> None:
    layout = draw_panel(configured, "VIEW3D_PT_thrixel_generate", open_panels=False)
    assert "model_override" not in layout.prop_paths()
    assert "Advanced" in layout.texts()


def test_generate_panel_offline(configured: Addon) -> None:
    bpy.context.preferences.system.use_online_access = False
    layout = draw_panel(configured, "VIEW3D_PT_thrixel_generate")
    assert "Allow Online Access" in " ".join(layout.texts())
    assert "Preferences > System > Network" in " ".join(layout.texts())
    assert layout.operator_ids() == ["screen.userpref_show"]
    assert layout.operators()[0].properties == {"section": 'SYSTEM'}
    assert layout.prop_paths() == []


def test_generate_panel_without_key(configured: Addon) -> None:
    configured.preferences.api_key = ""
    layout = draw_panel(configured, "VIEW3D_PT_thrixel_generate")
    assert "No API key set" in " ".join(layout.texts())
    assert layout.operator_ids() == ["preferences.addon_show"]
    assert layout.operators()[0].properties == {"module": configured.module_name}


def test_jobs_panel_empty(configured: Addon) -> None:
    layout = draw_panel(configured, "VIEW3D_PT_thrixel_jobs")
    assert layout.texts() == ["No jobs yet. Generated models show up here."]


@pytest.mark.parametrize(
    ("status", "imported", "operators", "has_progress"),
    [
        ("submitting", False, ["thrixel.cancel_job"], True),
        ("processing", False, ["thrixel.cancel_job"], True),
        ("downloading", False, ["thrixel.cancel_job"], True),
        ("completed", True, ["thrixel.remove_job"], False),
        ("failed", False, ["thrixel.retry_job", "thrixel.remove_job"], False),
        ("cancelled", False, ["thrixel.retry_job", "thrixel.remove_job"], False),
        ("some-new-status", False, ["thrixel.cancel_job"], True),
    ],
)
def test_jobs_panel_job_states(
    configured: Addon, status: str, imported: bool, operators: list[str], has_progress: bool
) -> None:
    record = add_job(status, progress=0.42, message="Generating geometry", imported=imported)
    layout = draw_panel(configured, "VIEW3D_PT_thrixel_jobs")

    assert f"job {status}" in layout.texts()
    assert "Generating geometry" in layout.texts()
    assert layout.operator_ids() == operators
    for call in layout.operators():
        assert call.properties == {"job_id": record.job_id}
    progress = layout.of("progress")
    if has_progress:
        assert len(progress) == 1
        assert progress[0].kwargs["factor"] == pytest.approx(0.42)
        assert progress[0].kwargs["text"] == "42%"
    else:
        assert progress == []


def test_jobs_panel_wraps_long_message(configured: Addon) -> None:
    message = "word " * 60
    add_job("failed", message=message.strip())
    layout = draw_panel(configured, "VIEW3D_PT_thrixel_jobs")
    wrapped = [text for text in layout.texts() if text.startswith("word")]
    assert len(wrapped) > 1
    assert " ".join(wrapped) == message.strip()


def test_preferences_draw(configured: Addon) -> None:
    layout = draw_preferences(configured)
    assert layout.prop_paths() == ["api_key", "base_url", "ca_bundle"]
    assert layout.operator_ids() == ["thrixel.check_connection"]
    assert not any("THRIXEL_API_KEY" in text for text in layout.texts())


def test_preferences_environment_key(
    configured: Addon, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THRIXEL_API_KEY", server.api_key)
    configured.preferences.api_key = ""
    layout = draw_preferences(configured)
    assert any("THRIXEL_API_KEY environment variable" in text for text in layout.texts())
    assert bpy.ops.thrixel.generate_model.poll()


def test_preferences_plain_http_remote(configured: Addon) -> None:
    configured.preferences.base_url = "http://api.example.com/api/v1"
    layout = draw_preferences(configured)
    problems = [
        call.kwargs["text"] for call in layout.of("label") if call.kwargs.get("icon") == 'ERROR'
    ]
    assert len(problems) == 1
    assert "http://" in problems[0]
    assert "https://" in problems[0]
    assert not bpy.ops.thrixel.generate_model.poll()


def test_preferences_key_without_prefix(configured: Addon) -> None:
    configured.preferences.api_key = "not-a-thrixel-key"
    layout = draw_preferences(configured)
    assert any('start with "sk-thrixel-"' in text for text in layout.texts())
    assert "not-a-thrixel-key" not in layout.text()
