"""Library requests the service rate limits with a Retry-After longer than the client waits by
itself: the panels show the countdown with a Cancel button, and the request is sent again.

Tests that check the request goes through cut the runner's maximum wait to 0.2 s. Tests of
the countdown and of Cancel keep the server's 40 s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bpy
import pytest
from conftest import Addon
from layout_recorder import PanelStandIn, RecordingLayout
from library_support import cache, created, idle, pump_until, refresh, reset_library

from server_fixture import LocalServer

RETRY_AFTER = "40"


@pytest.fixture
def library(configured: Addon) -> Iterator[Addon]:
    reset_library(configured)
    yield configured
    reset_library(configured)


@pytest.fixture
def short_waits(library: Addon, monkeypatch: pytest.MonkeyPatch) -> Addon:
    """Cut every wait after a 429 on a library call to 0.2 s, whatever the Retry-After."""
    monkeypatch.setattr(library.module("jobs.runner"), "RATE_LIMIT_MAX_WAIT", 0.2)
    return library


def draw_text(addon: Addon, panel_name: str) -> tuple[str, list[Any]]:
    """Draw a library panel; returns its labels joined into one line, and its operator calls."""
    panel = getattr(addon.module("panels_library"), panel_name)
    layout = RecordingLayout()
    panel.draw(PanelStandIn(layout, panel), bpy.context)
    return " ".join(layout.texts()), layout.operators()


def waits(addon: Addon, area: str | None = None) -> list[Any]:
    return addon.module("background").get().waits(area)


def posts(server: LocalServer, route: str) -> list[dict[str, Any]]:
    return [entry for entry in server.admin.requests_log(route) if entry["method"] == "POST"]


def test_listing_waits_out_long_retry_after(short_waits: Addon, server: LocalServer) -> None:
    submission_id = created(server, "a stone bench")
    server.admin.clear_requests()
    server.admin.add_fault("submissions", "rate_limit", status=429, retry_after=RETRY_AFTER)
    seen_waits: list[Any] = []

    assert bpy.ops.thrixel.refresh_submissions() == {'FINISHED'}

    def listed() -> bool:
        seen_waits.extend(waits(short_waits, "submissions"))
        return "submissions" in cache(short_waits).fetched_at

    pump_until(short_waits, listed, what="the listing after the 429")
    pump_until(short_waits, lambda: idle(short_waits), what="thumbnails and details")

    assert len(server.admin.requests_log("submissions")) == 2
    assert submission_id in cache(short_waits).submissions
    assert "submissions" not in cache(short_waits).errors
    assert "submissions" not in cache(short_waits).loading
    assert waits(short_waits) == []
    assert seen_waits, "the wait never reached the main thread"


def test_listing_wait_shows_countdown(library: Addon, server: LocalServer) -> None:
    server.admin.add_fault("submissions", "rate_limit", status=429, retry_after=RETRY_AFTER)

    assert bpy.ops.thrixel.refresh_submissions() == {'FINISHED'}
    pump_until(library, lambda: bool(waits(library, "submissions")), what="the rate-limit wait")
    text, operators = draw_text(library, "VIEW3D_PT_thrixel_submissions")

    assert "Rate limited by the service. Sending again in " in text
    assert any(f"in {seconds} s" in text for seconds in (39, 40)), text
    (wait,) = waits(library, "submissions")
    cancels = [call for call in operators if call.args[0] == "thrixel.cancel_library_call"]
    assert [call.properties["call_id"] for call in cancels] == [wait.call_id]
    usage_text, _ = draw_text(library, "VIEW3D_PT_thrixel_limits")
    assert "Refresh Submissions: rate limited by the service. Sending again in" in usage_text


def test_cancel_ends_listing_wait(library: Addon, server: LocalServer) -> None:
    server.admin.add_fault("submissions", "rate_limit", status=429, retry_after=RETRY_AFTER)
    assert bpy.ops.thrixel.refresh_submissions() == {'FINISHED'}
    pump_until(library, lambda: bool(waits(library, "submissions")), what="the rate-limit wait")
    (wait,) = waits(library, "submissions")

    assert bpy.ops.thrixel.cancel_library_call(call_id=wait.call_id) == {'FINISHED'}
    pump_until(library, lambda: idle(library), what="the cancelled listing")

    assert waits(library) == []
    assert "submissions" not in cache(library).loading
    assert cache(library).errors["submissions"] == "Refresh Submissions was cancelled."
    assert len(server.admin.requests_log("submissions")) == 1
    assert bpy.ops.thrixel.cancel_library_call(call_id=wait.call_id) == {'CANCELLED'}


def start_fbx_download(addon: Addon, submission_id: str, folder: Path) -> Any:
    cache(addon).transfers.clear()
    result = bpy.ops.thrixel.download_submission(
        submission_id=submission_id, format='fbx', directory=str(folder), force=True
    )
    assert result == {'FINISHED'}
    (transfer,) = cache(addon).transfers.values()
    return transfer


def test_conversion_waits_out_long_retry_after(
    short_waits: Addon, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = created(server, "a clay jug")
    refresh(short_waits)
    server.admin.add_fault("convert", "rate_limit", status=429, retry_after=RETRY_AFTER)

    transfer = start_fbx_download(short_waits, submission_id, tmp_path)
    pump_until(short_waits, lambda: transfer.state != "running", what="the FBX download")

    assert transfer.state == "done", transfer.message
    assert Path(transfer.path).is_file()
    assert Path(transfer.path).stat().st_size > 0
    assert len(posts(server, "convert")) == 2
    assert [entry["status"] for entry in posts(server, "convert")][0] == 429


def test_conversion_wait_shows_and_cancels(
    library: Addon, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = created(server, "a clay jug")
    refresh(library)
    server.admin.add_fault("convert", "rate_limit", status=429, retry_after=RETRY_AFTER)

    transfer = start_fbx_download(library, submission_id, tmp_path)
    area = f"transfer:{transfer.transfer_id}"
    pump_until(library, lambda: bool(waits(library, area)), what="the rate-limit wait")
    text, operators = draw_text(library, "VIEW3D_PT_thrixel_transfers")
    (wait,) = waits(library, area)

    assert "Rate limited by the service. Sending again in " in text
    assert wait.action == "Download FBX"
    assert "thrixel.cancel_library_call" in [call.args[0] for call in operators]

    assert bpy.ops.thrixel.cancel_library_call(call_id=wait.call_id) == {'FINISHED'}
    pump_until(library, lambda: transfer.state != "running", what="the cancelled download")

    assert transfer.state == "failed"
    assert transfer.message == "Download FBX was cancelled."
    assert len(posts(server, "convert")) == 1
    assert list(tmp_path.iterdir()) == []
