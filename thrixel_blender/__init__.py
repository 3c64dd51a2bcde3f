"""Thrixel for Blender: generate, refine, detail and retexture 3D models inside Blender.

The Blender glue is imported only when Blender enables the add-on, so the bpy-free layers
(`client`, `jobs`) import in plain Python too. See `addon` for what registration does.
"""


def register() -> None:
    from . import addon

    addon.register()


def unregister() -> None:
    from . import addon

    addon.unregister()
