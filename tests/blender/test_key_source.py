"""A rejected key's message names where the key came from, on every path that sends it."""

from __future__ import annotations

import bpy
import pytest
from conftest import Addon, only_job, pump_until
from library_support import cache, reset_library

from server_fixture import LocalServer

REJECTED_KEY = "sk-thrixel-rejected-by-server"
ENVIRONMENT = "THRIXEL_API_KEY environment variable"
PREFERENCES = "add-on preferences"


@pytest.fixture(params=["environment", "preferences"])
def key_source(
    request: pytest.FixtureRequest, configured: Addon, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """Send the rejected key from one source; returns the source's words and the other's."""
    if request.param == "environment":
        monkeypatch.setenv("THRIXEL_API_KEY", REJECTED_KEY)
        configured.preferences.api_key = ""
        return ENVIRONMENT, PREFERENCES
    configured.preferences.api_key = REJECTED_KEY
    return PREFERENCES, ENVIRONMENT


def assert_names_source(text: str, source: tuple[str, str]) -> None:
    named, other = source
    assert named in text
    assert other not in text
    assert REJECTED_KEY not in text


def test_job_names_key_source(
    configured: Addon, server: LocalServer, key_source: tuple[str, str]
) -> None:
    bpy.context.scene.thrixel.prompt = "a tin robot"
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: only_job().status == "failed", what="the job to fail")
    assert_names_source(only_job().message, key_source)


def test_check_connection_names_key_source(
    configured: Addon, server: LocalServer, key_source: tuple[str, str]
) -> None:
    state = configured.module("runtime").get()
    assert bpy.ops.thrixel.check_connection() == {'FINISHED'}
    pump_until(
        configured,
        lambda: not state.connection_status.text.startswith("Checking"),
        what="the connection check",
    )
    assert not state.connection_status.ok
    assert_names_source(state.connection_status.text, key_source)


def test_library_call_names_key_source(
    configured: Addon, server: LocalServer, key_source: tuple[str, str]
) -> None:
    reset_library(configured)
    assert bpy.ops.thrixel.refresh_submissions() == {'FINISHED'}
    pump_until(
        configured,
        lambda: "submissions" in cache(configured).errors,
        what="the submissions listing to fail",
    )
    assert_names_source(cache(configured).errors["submissions"], key_source)
