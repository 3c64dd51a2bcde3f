"""Starting library requests from the main thread and reporting their outcome.

Each request captures the settings on the main thread, runs on the background runner, and
reports success or failure in the area of the library cache it belongs to, where the panels
show it. Messages come from `messages.user_message`, so they read like every other message.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bpy

from . import background, library_cache, messages, preferences, runtime
from .client.errors import CancelledError, ThrixelError
from .jobs.events import CallFunction

log = logging.getLogger(__name__)


def start(
    function: CallFunction,
    on_result: Callable[[Any], None],
    *,
    area: str,
    action: str,
    key: str | None = None,
    on_failure: Callable[[str], None] | None = None,
    on_wait: Callable[[float], None] | None = None,
) -> bool:
    """Send `function` to the background runner; returns False when an equal call runs already.

    `area` names the cache area whose loading flag and last error the call sets. `action` is
    the user's words for what failed, such as "Refresh Submissions". A call the service rate
    limits waits and is sent again. The panels show the wait with a Cancel button, and
    `on_wait` gets the POSIX time of the next attempt. Raises SettingsError when the key or
    base URL is unusable.
    """
    runtime.get().set_config(preferences.client_config())
    cache = library_cache.get()

    def succeeded(payload: Any) -> None:
        cache.loading.discard(area)
        cache.errors.pop(area, None)
        on_result(payload)
        tag_redraw()

    def failed(message: str, error: ThrixelError | None) -> None:
        cache.loading.discard(area)
        text = messages.user_message(
            error if error is not None else messages.UserFacingError(message), action=action
        )
        cache.errors[area] = text
        if isinstance(error, CancelledError):
            log.info("%s was cancelled", action)
        else:
            log.warning("%s failed: %s", action, text)
        if on_failure is not None:
            on_failure(text)
        tag_redraw()

    def waiting(until: float) -> None:
        log.info("%s was rate limited; it is sent again in %.0f s", action, until - time.time())
        if on_wait is not None:
            on_wait(until)
        tag_redraw()

    call_id = background.get().call(
        function, succeeded, failed, key=key or area, on_wait=waiting, area=area, action=action
    )
    if call_id is None:
        return False
    cache.loading.add(area)
    return True


def user_dir(name: str) -> Path:
    """Folder `name` inside the extension's user folder, created when missing (main thread)."""
    try:
        base = Path(bpy.utils.extension_path_user(__package__, path=name, create=True))
    except ValueError:
        # Enabled as a plain add-on (not from an extension repository): no user folder.
        base = Path(tempfile.gettempdir()) / "thrixel_blender" / name
        base.mkdir(parents=True, exist_ok=True)
    return base


def window_manager(context: bpy.types.Context) -> bpy.types.WindowManager:
    """Return the context's window manager; operators and panels always run with one."""
    manager = context.window_manager
    if manager is None:
        raise RuntimeError("The context has no window manager")
    return manager


def view_layer(context: bpy.types.Context) -> bpy.types.ViewLayer:
    """Return the context's view layer; operators of the 3D viewport always run with one."""
    layer = context.view_layer
    if layer is None:
        raise RuntimeError("The context has no view layer")
    return layer


def shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tag_redraw() -> None:
    """Ask every 3D viewport to redraw, so the sidebar shows what changed."""
    window_manager = bpy.context.window_manager
    if window_manager is None:
        return
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type == 'VIEW_3D':
                area.tag_redraw()
