"""Export selected objects to a GLB for upload, and read back the node names it holds.

Runs on the main thread only. The export keeps world transforms, applies modifiers, includes
unsaved Edit Mode changes and writes nothing but the chosen objects. The selection, the active
object and the mode are restored afterwards. Focus names are read from the written file, never
from the objects, so what is sent always matches what is uploaded.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy

from .client.api import MAX_UPLOAD_BYTES
from .client.glb import InvalidGLBError, node_names, read_glb_json
from .importer import PROP_PHASE, PROP_SUBMISSION_ID
from .messages import UserFacingError

log = logging.getLogger(__name__)

UPLOADS_FOLDER = "uploads"
MESH_TYPES = frozenset({'MESH', 'CURVE', 'SURFACE', 'FONT', 'META'})
"""Object types the glTF exporter writes as meshes."""
TYPE_NAMES = {
    'CAMERA': "a camera",
    'LIGHT': "a light",
    'EMPTY': "an empty",
    'ARMATURE': "an armature",
    'LATTICE': "a lattice",
    'SPEAKER': "a speaker",
    'LIGHT_PROBE': "a light probe",
    'GPENCIL': "a grease pencil object",
    'GREASEPENCIL': "a grease pencil object",
    'CURVES': "a hair curves object",
    'POINTCLOUD': "a point cloud",
    'VOLUME': "a volume",
}
_EXPORT_OPTIONS = {
    "export_format": 'GLB',
    "use_selection": True,
    "use_visible": False,
    "use_active_collection": False,
    "use_active_scene": False,
    "export_apply": True,
    # Custom properties stay out, because node names are enough to match the result and the
    # properties users keep on objects should not reach the service.
    "export_extras": False,
    "export_cameras": False,
    "export_lights": False,
    "export_animations": False,
    # The 4.2 wheel silently writes an uncompressed file, and the service reads plain GLB.
    "export_draco_mesh_compression_enable": False,
    "export_yup": True,
}


class SelectionError(UserFacingError):
    """The selection cannot be sent; the message names the object and the fix."""


@dataclass(frozen=True)
class ExportedSelection:
    """A written GLB and how its nodes map to the objects that were exported."""

    path: Path
    size: int
    node_of_object: dict[str, str]
    """Object name -> name of the node the exporter wrote for it."""
    focus_objects: list[str]

    @property
    def focus_node_names(self) -> list[str]:
        return [self.node_of_object[name] for name in self.focus_objects]


@dataclass
class SelectionInfo:
    """Summary of the current selection, for poll(), the panel and the operators."""

    selected: list[str] = field(default_factory=list)
    usable: list[str] = field(default_factory=list)
    """Selected objects that can be sent, in a stable order."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Selected objects that cannot be sent -> the reason."""
    submission_ids: list[str] = field(default_factory=list)
    """Distinct submissions the usable objects were imported from."""
    untagged: list[str] = field(default_factory=list)
    """Usable objects that were not imported from a submission."""
    phase: int = 0
    """Phase of the single submission the usable objects came from, else 0."""

    @property
    def submission_id(self) -> str | None:
        """The one submission every usable object came from, or None."""
        if len(self.submission_ids) == 1 and not self.untagged:
            return self.submission_ids[0]
        return None

    @property
    def problem(self) -> str | None:
        """Why nothing can be sent, or None."""
        if not self.selected:
            return "Nothing is selected. Select one or more mesh objects in the 3D viewport."
        if not self.usable:
            return "None of the selected objects can be sent: " + describe_skipped(self.skipped)
        return None


def inspect_selection(context: bpy.types.Context) -> SelectionInfo:
    """Describe the selected objects without exporting anything; cheap enough for poll()."""
    info = SelectionInfo()
    submissions: dict[str, int] = {}
    for obj in sorted(context.selected_objects or [], key=lambda item: item.name):
        info.selected.append(obj.name)
        reason = unsupported_reason(obj)
        if reason:
            info.skipped[obj.name] = reason
            continue
        info.usable.append(obj.name)
        submission_id = str(obj.get(PROP_SUBMISSION_ID, "") or "")
        if submission_id:
            submissions.setdefault(submission_id, int(obj.get(PROP_PHASE, 0) or 0))
        else:
            info.untagged.append(obj.name)
    info.submission_ids = list(submissions)
    if len(submissions) == 1:
        info.phase = next(iter(submissions.values()))
    return info


def unsupported_reason(obj: bpy.types.Object) -> str | None:
    """Return why `obj` cannot be sent by type alone, or None when it is a mesh-like object."""
    if obj.type in MESH_TYPES:
        return None
    return f"\"{obj.name}\" is {TYPE_NAMES.get(obj.type, obj.type.lower())}"


def describe_skipped(skipped: dict[str, str], limit: int = 3) -> str:
    reasons = list(skipped.values())
    text = ", ".join(reasons[:limit])
    if len(reasons) > limit:
        text += f" and {len(reasons) - limit} more"
    return text + ". Select mesh objects."


# ---------------------------------------------------------------------------------------------
# Choosing what to export


def model_objects(
    view_layer: bpy.types.ViewLayer, selected: Iterable[bpy.types.Object]
) -> list[bpy.types.Object]:
    """Return the visible objects of the models that `selected` belongs to.

    An object imported from a submission belongs to its `submission_family`; any other object
    belongs to the hierarchy under its topmost parent. Empties are
    kept, so the exported hierarchy matches the scene's; cameras, lights and other types that
    the upload cannot use are left out.
    """
    members: dict[str, bpy.types.Object] = {}
    for obj in selected:
        if obj.get(PROP_SUBMISSION_ID):
            family = submission_family(view_layer, obj)
        else:
            root = obj
            while root.parent is not None:
                root = root.parent
            family = [root, *root.children_recursive]
        for member in family:
            members.setdefault(member.name, member)
    kept_types = MESH_TYPES | {'EMPTY'}
    return [
        obj
        for obj in sorted(members.values(), key=lambda item: item.name)
        if obj.type in kept_types and obj.visible_get(view_layer=view_layer)
    ]


def submission_family(
    view_layer: bpy.types.ViewLayer, anchor: bpy.types.Object
) -> list[bpy.types.Object]:
    """Return the objects of the one import of a model that `anchor` is part of.

    They carry the same submission id and share a collection with `anchor`: the importer puts
    each import in a collection of its own, so a model imported twice makes two families.
    """
    submission_id = anchor.get(PROP_SUBMISSION_ID)
    collections = {collection.session_uid for collection in anchor.users_collection}
    return [
        obj
        for obj in view_layer.objects
        if obj.get(PROP_SUBMISSION_ID) == submission_id
        and any(collection.session_uid in collections for collection in obj.users_collection)
    ]


def check_geometry(objects: Iterable[bpy.types.Object], depsgraph: bpy.types.Depsgraph) -> None:
    """Raise SelectionError for a mesh-like object that evaluates to no faces at all."""
    for obj in objects:
        if obj.type not in MESH_TYPES:
            continue
        evaluated = obj.evaluated_get(depsgraph)
        try:
            mesh = evaluated.to_mesh()
            faces = len(mesh.polygons) if mesh is not None else 0
        finally:
            evaluated.to_mesh_clear()
        if faces:
            continue
        if obj.type == 'CURVE':
            raise SelectionError(
                f"\"{obj.name}\" is a curve without geometry. Give it a bevel or an "
                "extrusion, or convert it to a mesh, then send it again."
            )
        raise SelectionError(
            f"\"{obj.name}\" has no faces, so there is nothing to send. Deselect it or add "
            "geometry."
        )


# ---------------------------------------------------------------------------------------------
# Exporting


def uploads_dir() -> Path:
    """Folder for exported uploads, inside the extension's user folder when it has one."""
    try:
        base = Path(bpy.utils.extension_path_user(__package__, path=UPLOADS_FOLDER, create=True))
    except ValueError:
        # Enabled as a plain add-on (not from an extension repository): no user folder.
        base = Path(tempfile.gettempdir()) / "thrixel_blender" / UPLOADS_FOLDER
        base.mkdir(parents=True, exist_ok=True)
    return base


def export_glb(
    context: bpy.types.Context,
    objects: list[bpy.types.Object],
    focus: list[bpy.types.Object],
    path: Path,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> ExportedSelection:
    """Write `objects` to the GLB at `path` and map them to the nodes of the written file.

    Raises SelectionError, leaving no file behind, when an object has no geometry, the
    exporter fails, the file is over `max_bytes`, or a node name cannot be matched.
    """
    if not objects:
        raise SelectionError("There is nothing to export. Select one or more mesh objects.")
    names = [obj.name for obj in objects]
    focus_names = [obj.name for obj in focus]
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _export_state(context) as view_layer:
            check_geometry(objects, context.evaluated_depsgraph_get())
            _run_exporter(context, view_layer, names, path)
        size = path.stat().st_size
        _check_size(size, len(names), max_bytes)
        node_of_object = _match_nodes(path, names)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    log.info("Exported %d objects to %s (%d bytes)", len(names), path.name, size)
    return ExportedSelection(path, size, node_of_object, focus_names)


def _run_exporter(
    context: bpy.types.Context, view_layer: bpy.types.ViewLayer, names: list[str], path: Path
) -> None:
    wanted = set(names)
    for obj in view_layer.objects:
        obj.select_set(obj.name in wanted, view_layer=view_layer)
    operator_type = bpy.ops.export_scene.gltf.get_rna_type()  # type: ignore[call-arg]
    available = {prop.identifier for prop in operator_type.properties}
    options: dict[str, Any] = {
        key: value for key, value in _EXPORT_OPTIONS.items() if key in available
    }
    try:
        with context.temp_override(view_layer=view_layer):
            bpy.ops.export_scene.gltf(filepath=str(path), **options)
    except RuntimeError as error:
        raise SelectionError(
            f"Blender could not export the selection: {_last_line(str(error))}. Nothing was sent."
        ) from None


def _check_size(size: int, count: int, max_bytes: int) -> None:
    if size <= max_bytes:
        return
    megabytes = size / 1024**2
    limit = max_bytes / 1024**2
    raise SelectionError(
        f"The {count} exported object{'s' if count != 1 else ''} make a {megabytes:,.1f} MB "
        f"file, over the service's {limit:,.0f} MB upload limit. Select fewer objects, or "
        "reduce them with a Decimate modifier, then send again."
    )


def _match_nodes(path: Path, names: list[str]) -> dict[str, str]:
    """Map each object to the one node the exporter named after it."""
    try:
        written = node_names(read_glb_json(path))
    except InvalidGLBError as error:
        raise SelectionError(
            f"The exported file could not be read back ({error.message}). Nothing was sent."
        ) from None
    counts = Counter(written)
    for name in names:
        if counts[name] == 0:
            raise SelectionError(
                f"The exported file has no node named after \"{name}\", so its parts cannot "
                "be named to the service. Rename the object with a shorter name and try again."
            )
        if counts[name] > 1:
            raise SelectionError(
                f"The exported file has {counts[name]} nodes named \"{name}\", so the focus "
                "would be ambiguous. Rename one of the objects or bones with that name."
            )
    return {name: name for name in names}


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no reason given").rstrip(".")


# ---------------------------------------------------------------------------------------------
# Leaving the user's selection and mode as they were


@contextmanager
def _export_state(context: bpy.types.Context) -> Iterator[bpy.types.ViewLayer]:
    """Switch to Object Mode (writing Edit Mode changes into the meshes), and afterwards
    restore the selection, the active object and the mode."""
    view_layer = context.view_layer
    if view_layer is None:
        raise SelectionError("There is no view layer to export from. Open a 3D viewport.")
    selected = [obj.name for obj in view_layer.objects if obj.select_get(view_layer=view_layer)]
    active = view_layer.objects.active
    active_name = active.name if active is not None else None
    mode = active.mode if active is not None else 'OBJECT'
    in_mode = [obj.name for obj in view_layer.objects if obj.mode == mode and mode != 'OBJECT']
    if mode != 'OBJECT':
        with context.temp_override(view_layer=view_layer, active_object=active, object=active):
            bpy.ops.object.mode_set(mode='OBJECT')
    try:
        yield view_layer
    finally:
        _restore_state(context, view_layer, selected, active_name, mode, in_mode)


def _restore_state(
    context: bpy.types.Context,
    view_layer: bpy.types.ViewLayer,
    selected: list[str],
    active_name: str | None,
    mode: str,
    in_mode: list[str],
) -> None:
    objects = view_layer.objects
    active = objects.get(active_name) if active_name else None
    if mode != 'OBJECT' and active is not None:
        # Entering a mode applies to every selected object that supports it, which puts back
        # a multi-object Edit Mode exactly.
        for obj in objects:
            obj.select_set(obj.name in in_mode, view_layer=view_layer)
        objects.active = active
        try:
            with context.temp_override(view_layer=view_layer, active_object=active, object=active):
                bpy.ops.object.mode_set(mode=mode)
        except RuntimeError as error:
            log.warning("Could not return to %s mode after the export: %s", mode, error)
    for obj in objects:
        obj.select_set(obj.name in selected, view_layer=view_layer)
    objects.active = active
