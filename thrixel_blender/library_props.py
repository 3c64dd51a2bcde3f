"""Properties of the library features: image inputs and defaults saved with the scene, browser
state kept on the window manager for the session.

`Scene.thrixel.library` (saved in the .blend): image inputs for Generate, the modify request,
the default project and the download settings. `WindowManager.thrixel` (never saved):
the browser's filters, page and selection. No secret is stored in either.
"""

from __future__ import annotations

from typing import cast

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import Context, PropertyGroup

from .client.models import DOWNLOAD_FORMATS

IMAGE_SOURCES = (
    ('FILE', "File", "An image file on disk"),
    ('IMAGE', "Blender Image", "An image already in this Blender file, packed or not"),
    ('URL', "URL", "An https:// address the service downloads the image from"),
)
FORMAT_LABELS = {
    "glb": ("GLB", "Binary glTF, the service's native format"),
    "fbx": ("FBX", "Autodesk FBX, converted by the service"),
    "obj": ("OBJ", "Wavefront OBJ, converted by the service"),
    "stl": ("STL", "Stereolithography mesh, converted by the service"),
    "usdz": ("USDZ", "Universal Scene Description archive, converted by the service"),
    "py": ("Python Script", "The Blender Python script that builds the model (never run)"),
    "thumbnail": ("Thumbnail", "The preview image (PNG)"),
    "reference_image": ("Reference Image", "An input reference image (PNG), by index"),
}
DOWNLOAD_FORMAT_ITEMS = tuple(
    (fmt, *FORMAT_LABELS[fmt]) for fmt in DOWNLOAD_FORMATS if fmt in FORMAT_LABELS
)
STATUS_FILTER_ITEMS = (
    ('ANY', "Any Status", "Show submissions in every status"),
    ('queued', "Queued", "Waiting to start on the service"),
    ('processing', "Processing", "Running on the service"),
    ('completed', "Completed", "Finished successfully"),
    ('failed', "Failed", "Ended without a model"),
)
PHASE_FILTER_ITEMS = (
    ('ANY', "Any Phase", "Show every phase"),
    ('1', "1 Create", "Created from a prompt or images"),
    ('2', "2 Refine", "Auto-refined"),
    ('3', "3 Modify", "Modified with a text request"),
    ('4', "4 Detail", "Detailed and textured"),
    ('5', "5 Upload", "Uploaded models"),
)


def _refresh_listing(_self: PropertyGroup, context: Context) -> None:
    # Filters with a server-side counterpart fetch again; the local filter applies at once.
    from . import library_ops

    library_ops.refresh_submissions_if_ready()


class THRIXEL_PG_image_input(PropertyGroup):
    """One reference image for Generate."""

    source: EnumProperty(name="Source", items=IMAGE_SOURCES, default='FILE')
    filepath: StringProperty(name="File", subtype='FILE_PATH')
    image: PointerProperty(name="Image", type=bpy.types.Image)
    url: StringProperty(name="URL", description="An https:// address of a PNG or JPEG image")
    size_note: StringProperty(
        name="Size",
        description="Size of the image and the size it is sent at, measured when it was added",
    )


class THRIXEL_PG_library_scene(PropertyGroup):
    """Library settings saved with the scene."""

    image_inputs: CollectionProperty(type=THRIXEL_PG_image_input)
    image_input_index: IntProperty(name="Active Image Input", min=0)
    modification_request: StringProperty(
        name="Change",
        description="The change to apply to the model, in plain words, such as "
        "\"make the lantern glow blue\"",
    )
    default_project_id: StringProperty(
        name="Default Project",
        description="Project that new generations, refinements and modifications join. "
        "Empty for none",
    )
    default_project_name: StringProperty(name="Default Project Name")
    download_format: EnumProperty(name="Format", items=DOWNLOAD_FORMAT_ITEMS, default="glb")
    download_directory: StringProperty(
        name="Folder", description="Folder that downloads are saved to", subtype='DIR_PATH'
    )
    force_conversion: BoolProperty(
        name="Convert Again",
        description="Run the conversion again even when the service has a finished one",
    )


class THRIXEL_PG_library_ui(PropertyGroup):
    """Browser state for this session; never saved."""

    status_filter: EnumProperty(
        name="Status", items=STATUS_FILTER_ITEMS, default='ANY', update=_refresh_listing
    )
    phase_filter: EnumProperty(
        name="Phase", items=PHASE_FILTER_ITEMS, default='ANY', update=_refresh_listing
    )
    project_filter: StringProperty(name="Project Filter", update=_refresh_listing)
    include_deleted: BoolProperty(
        name="Deleted",
        description="Also list soft-deleted submissions",
        update=_refresh_listing,
    )
    page: IntProperty(name="Page", min=0)
    selected_submission: StringProperty(name="Selected Submission")
    selected_gallery_item: StringProperty(name="Selected Gallery Item")
    selected_project: StringProperty(name="Selected Project")


def library_settings(scene: bpy.types.Scene) -> THRIXEL_PG_library_scene:
    return cast(THRIXEL_PG_library_scene, scene.thrixel.library)  # type: ignore[attr-defined]


def ui_state(context: Context | None = None) -> THRIXEL_PG_library_ui:
    window_manager = (context or bpy.context).window_manager
    return cast(THRIXEL_PG_library_ui, window_manager.thrixel)  # type: ignore[union-attr]


def default_project_id(scene: bpy.types.Scene) -> str | None:
    """Return the project that new work joins, or None."""
    value = library_settings(scene).default_project_id
    return value or None


classes = (THRIXEL_PG_image_input, THRIXEL_PG_library_scene, THRIXEL_PG_library_ui)


def register() -> None:
    bpy.types.WindowManager.thrixel = PointerProperty(  # type: ignore[attr-defined]
        type=THRIXEL_PG_library_ui
    )


def unregister() -> None:
    del bpy.types.WindowManager.thrixel  # type: ignore[attr-defined]
