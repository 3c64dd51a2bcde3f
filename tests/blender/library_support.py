"""Helpers for the library tests: submissions made straight on the local server, and pumping
until the add-on's background requests have landed in its cache."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import conftest
import requests
from conftest import PUMP_TIMEOUT_SECONDS, Addon

from server_fixture import LocalServer

HTTP_TIMEOUT = 10


def submit(server: LocalServer, route: str, body: dict[str, Any]) -> str:
    """Send a submit request as another client would; returns the submission id."""
    response = requests.post(
        f"{server.base_url}/{route}/submit",
        headers=server.auth_headers(),
        json=body,
        timeout=HTTP_TIMEOUT,
    )
    response.raise_for_status()
    return str(response.json()["submission_id"])


def info(server: LocalServer, submission_id: str) -> dict[str, Any]:
    response = requests.get(f"{server.base_url}/{submission_id}/info", timeout=HTTP_TIMEOUT)
    response.raise_for_status()
    return dict(response.json())


def wait_completed(server: LocalServer, submission_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = info(server, submission_id)["status"]
        if status in ("completed", "failed"):
            assert status == "completed", f"submission {submission_id} failed"
            return
        time.sleep(0.05)
    raise AssertionError(f"submission {submission_id} did not complete in {timeout:.0f} s")


def created(server: LocalServer, prompt: str) -> str:
    """A completed phase 1 submission of `prompt`."""
    submission_id = submit(server, "phase1", {"task": prompt})
    wait_completed(server, submission_id)
    return submission_id


def cache(addon: Addon) -> Any:
    return addon.module("library_cache").get()


def pump_until(
    addon: Addon, condition: Callable[[], bool], *, what: str, timeout: float = PUMP_TIMEOUT_SECONDS
) -> None:
    """Call the pump as its timer would until `condition()` holds; the failure also lists the
    library's last errors."""
    try:
        conftest.pump_until(addon, condition, what=what, timeout=timeout)
    except AssertionError as error:
        raise AssertionError(f"{error}; library errors: {dict(cache(addon).errors)}") from None


def idle(addon: Addon) -> bool:
    """Whether no background request is in flight or waiting to start."""
    background = addon.module("background").get()
    previews = addon.module("previews")
    library_ops = addon.module("library_ops")
    return (
        not background.busy()
        and previews.queue().pending() == 0
        and library_ops.details_queue().pending() == 0
    )


def refresh(addon: Addon) -> None:
    """Refresh the submissions list and wait until thumbnails and details have landed."""
    import bpy

    before = cache(addon).fetched_at.get("submissions")
    assert bpy.ops.thrixel.refresh_submissions() == {'FINISHED'}
    pump_until(
        addon,
        lambda: cache(addon).fetched_at.get("submissions") != before,
        what="the submissions listing",
    )
    pump_until(addon, lambda: idle(addon), what="thumbnails and details")


def reset_library(addon: Addon) -> None:
    """Forget the cache and the browser state, as a fresh session would."""
    import bpy

    ui = bpy.context.window_manager.thrixel
    # Changing a filter starts a refresh, which cancel_all() below stops again.
    ui.status_filter = 'ANY'
    ui.phase_filter = 'ANY'
    ui.project_filter = ""
    ui.include_deleted = False
    addon.module("background").get().cancel_all()
    addon.module("library_cache").clear()
    addon.module("previews").queue().clear()
    addon.module("library_ops").details_queue().clear()
    addon.module("limits").reset()
    for name in ("selected_submission", "selected_gallery_item", "selected_project"):
        setattr(ui, name, "")
    ui.page = 0
