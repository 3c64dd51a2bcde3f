"""The Check Connection button: runs off the main thread, reports through the pump."""

from __future__ import annotations

import bpy
import pytest
import requests
from conftest import Addon, pump_until

from server_fixture import LocalServer


def check_connection(addon: Addon) -> object:
    state = addon.module("runtime").get()
    state.connection_status = addon.module("runtime").ConnectionStatus()
    assert bpy.ops.thrixel.check_connection() == {'FINISHED'}
    pump_until(
        addon,
        lambda: not state.connection_status.text.startswith("Checking"),
        what="the connection check",
    )
    return state.connection_status


@pytest.fixture
def submissions_route(server: LocalServer) -> None:
    """Skip when the local server does not serve the submissions list the check calls."""
    response = requests.get(
        f"{server.base_url}/submissions", headers=server.auth_headers(), timeout=10
    )
    if response.status_code in (404, 405):
        pytest.skip("the local server does not serve GET /submissions, which the check calls")


@pytest.mark.usefixtures("submissions_route")
def test_check_accepts_valid_key(configured: Addon, server: LocalServer) -> None:
    status = check_connection(configured)
    assert status.ok, status.text
    assert "127.0.0.1" in status.text
    log = server.admin.requests_log("submissions")
    assert log, "the check sent no request"
    assert log[-1]["authorization_present"]


@pytest.mark.usefixtures("submissions_route")
def test_check_reports_rejected_key(configured: Addon, server: LocalServer) -> None:
    configured.preferences.api_key = "sk-thrixel-rejected-by-server"
    status = check_connection(configured)
    assert not status.ok
    assert "API key" in status.text
    assert "sk-thrixel-rejected-by-server" not in status.text


def test_check_reports_unreachable_server(configured: Addon, server: LocalServer) -> None:
    # Port 9 (discard) on loopback: nothing listens there on a test machine.
    configured.preferences.base_url = "http://127.0.0.1:9/api/v1"
    status = check_connection(configured)
    assert not status.ok
    assert "127.0.0.1" in status.text


def shown_status(addon: Addon) -> list[str]:
    """The texts the preferences draw below the Check Connection button."""
    from test_panels import draw_preferences

    layout = draw_preferences(addon)
    return [call.kwargs["text"] for call in layout.of("label") if "text" in call.kwargs]


@pytest.mark.usefixtures("submissions_route")
@pytest.mark.parametrize("change", ["base_url", "api_key", "ca_bundle", "online_access"])
def test_check_result_clears_on_change(configured: Addon, server: LocalServer, change: str) -> None:
    status = check_connection(configured)
    assert status.ok, status.text
    assert status.text in shown_status(configured)

    preferences = configured.preferences
    if change == "base_url":
        preferences.base_url = server.base_url.replace("127.0.0.1", "localhost")
    elif change == "api_key":
        preferences.api_key = "sk-thrixel-another-key"
    elif change == "ca_bundle":
        preferences.ca_bundle = "/tmp/bundle.pem"
    else:
        bpy.context.preferences.system.use_online_access = False
    assert status.text not in shown_status(configured)
    assert not any(text.startswith("Connected") for text in shown_status(configured))


@pytest.mark.usefixtures("submissions_route")
def test_check_result_names_its_url(configured: Addon, server: LocalServer) -> None:
    state = configured.module("runtime").get()
    status = check_connection(configured)
    assert status.base_url == server.base_url
    # A result for another base URL (set without the update, as a script might) is not shown.
    state.connection_status = configured.module("runtime").ConnectionStatus(
        status.text, ok=True, base_url="http://127.0.0.1:9/api/v1"
    )
    assert status.text not in shown_status(configured)
