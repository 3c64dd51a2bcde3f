"""Registration of the whole add-on: classes, properties, handlers and the pump timer.

The package root calls `register()` and `unregister()` here, so that importing the package
(and its bpy-free `client` and `jobs` layers) never imports Blender.
"""

from __future__ import annotations

import bpy

from . import (
    detail_ops,
    detail_props,
    gallery,
    image_inputs,
    library_ops,
    library_props,
    library_pump,
    logs,
    operators,
    panels,
    panels_library,
    panels_selected,
    preferences,
    project_ops,
    props,
    pump,
    refine_ops,
    runtime,
    tracking,
    transfer_ops,
)

_CLASSES = (
    *preferences.classes,
    *detail_props.classes,
    *library_props.classes,
    *props.classes,
    *operators.classes,
    *detail_ops.classes,
    *panels.classes,
    *panels_selected.classes,
    *image_inputs.classes,
    *refine_ops.classes,
    *library_ops.classes,
    *project_ops.classes,
    *transfer_ops.classes,
    *gallery.classes,
    *panels_library.classes,
)


def register() -> None:
    logs.install(__package__)
    # Preferences come first so that everything after them can read the settings.
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    props.register()
    library_props.register()
    tracking.register()
    # Records of a file opened before the add-on was enabled are picked up by the pump.
    runtime.get().resume_pending = True
    pump.register()


def unregister() -> None:
    pump.unregister()
    tracking.unregister()
    runtime.shutdown()
    library_pump.shutdown()
    library_props.unregister()
    props.unregister()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
    logs.uninstall()
