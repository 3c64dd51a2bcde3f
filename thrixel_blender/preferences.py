"""Add-on preferences: the API key, the base URL and the connection check.

The key lives here (a password field saved with the user's preferences) or in the
THRIXEL_API_KEY environment variable, which wins when set. It is never stored on a scene.
"""

from __future__ import annotations

import os
from typing import cast

import bpy
from bpy.props import StringProperty
from bpy.types import AddonPreferences, Context

from . import logs, online, runtime
from .client.config import DEFAULT_BASE_URL, ClientConfig, normalize_base_url
from .client.errors import ValidationError
from .messages import UserFacingError

API_KEY_ENV = "THRIXEL_API_KEY"
KEY_PREFIX = "sk-thrixel-"
PREFERENCES_PATH = "Preferences > Add-ons > Thrixel"


class SettingsError(UserFacingError):
    """The settings cannot make a working client, and the message names what to change."""


def _forget_connection_check(_preferences: object, _context: Context) -> None:
    """Clear the last Check Connection result, which was made with the settings just changed."""
    runtime.get().connection_status = runtime.ConnectionStatus()


class THRIXEL_AddonPreferences(AddonPreferences):
    bl_idname = __package__

    api_key: StringProperty(
        name="API Key",
        description="Your Thrixel API key (sk-thrixel-...). "
        "The THRIXEL_API_KEY environment variable takes precedence when set",
        subtype='PASSWORD',
        update=_forget_connection_check,
    )
    base_url: StringProperty(
        name="Base URL",
        description="Address of the Thrixel API. Plain http:// is accepted only for this "
        "machine (localhost, 127.0.0.0/8, [::1])",
        default=DEFAULT_BASE_URL,
        update=_forget_connection_check,
    )
    ca_bundle: StringProperty(
        name="CA Bundle",
        description="Certificate authority bundle (PEM file) for networks that inspect TLS. "
        "Leave empty to use the system's certificates",
        subtype='FILE_PATH',
        update=_forget_connection_check,
    )

    def draw(self, context: Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        self.draw_key(layout)
        layout.prop(self, "base_url")
        problem = base_url_problem(self.base_url)
        if problem:
            layout.label(text=problem, icon='ERROR')
        layout.prop(self, "ca_bundle")
        self.draw_connection(layout)

    def draw_key(self, layout: bpy.types.UILayout) -> None:
        from_environment = bool(os.environ.get(API_KEY_ENV, "").strip())
        row = layout.row()
        row.enabled = not from_environment
        row.prop(self, "api_key")
        if from_environment:
            layout.label(
                text=f"Using the key from the {API_KEY_ENV} environment variable; "
                "the field above is ignored.",
                icon='INFO',
            )
        elif self.api_key and not self.api_key.strip().startswith(KEY_PREFIX):
            layout.label(
                text=f"Thrixel keys start with \"{KEY_PREFIX}\": check the key was copied whole.",
                icon='ERROR',
            )

    def draw_connection(self, layout: bpy.types.UILayout) -> None:
        row = layout.row()
        row.operator("thrixel.check_connection", icon='URL')
        if not online.is_allowed():
            # A result from before online access was turned off no longer holds.
            layout.label(text=online.OFFLINE_REASON, icon='INFO')
            return
        status = runtime.get().connection_status
        if status.text and status.base_url == _normalized(self.base_url):
            layout.label(text=status.text, icon='CHECKMARK' if status.ok else 'ERROR')


def get() -> THRIXEL_AddonPreferences | None:
    """Return the add-on's preferences, or None while the add-on is not enabled."""
    preferences = bpy.context.preferences
    addon = preferences.addons.get(__package__) if preferences is not None else None
    return cast(THRIXEL_AddonPreferences, addon.preferences) if addon is not None else None


def api_key() -> str:
    """Return the key to send: the environment variable when set, otherwise the preference."""
    from_environment = os.environ.get(API_KEY_ENV, "").strip()
    if from_environment:
        return from_environment
    preferences = get()
    return preferences.api_key.strip() if preferences is not None else ""


def key_source() -> str:
    """Name where the key that is sent comes from, for messages about a missing or bad key."""
    if os.environ.get(API_KEY_ENV, "").strip():
        return f"the {API_KEY_ENV} environment variable"
    return f"the add-on preferences ({PREFERENCES_PATH})"


def _normalized(url: str) -> str:
    try:
        return normalize_base_url(url)
    except ValidationError:
        return url


def base_url_problem(url: str) -> str | None:
    """Return what is wrong with `url` as a base URL, or None when it is usable."""
    try:
        normalize_base_url(url)
    except ValidationError as error:
        return error.message + "."
    return None


def missing_setting() -> str | None:
    """Why no request can be sent with the current settings, or None when they are complete."""
    if not api_key():
        return f"No API key set. Enter it in {PREFERENCES_PATH} or set {API_KEY_ENV}."
    preferences = get()
    if preferences is not None:
        return base_url_problem(preferences.base_url)
    return None


def blocked_reason() -> str | None:
    """Return why no request can be sent now (online access off, settings incomplete) or None."""
    if not online.is_allowed():
        return online.OFFLINE_REASON
    return missing_setting()


def client_config() -> ClientConfig:
    """Capture the settings for a worker thread. Call on the main thread only.

    Raises SettingsError with a message for the user when the key or the base URL is unusable.
    """
    problem = missing_setting()
    preferences = get()
    if problem or preferences is None:
        raise SettingsError(problem or "The Thrixel add-on is not enabled.")
    key = api_key()
    logs.remember_secret(key)
    ca_bundle = bpy.path.abspath(preferences.ca_bundle) if preferences.ca_bundle else None
    return ClientConfig(
        base_url=preferences.base_url,
        api_key=key,
        ca_bundle=ca_bundle,
        key_source=key_source(),
    )


classes = (THRIXEL_AddonPreferences,)
