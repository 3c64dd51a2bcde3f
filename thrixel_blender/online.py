"""Blender's Allow Online Access setting: with it off, the add-on sends nothing."""

from __future__ import annotations

import bpy

OFFLINE_REASON = (
    "Online access is off. Turn it on in Preferences > System > Network > Allow Online Access."
)


def is_allowed() -> bool:
    """Return whether the user (or the command line) allows add-ons to use the network."""
    return bool(bpy.app.online_access)
