"""Import a downloaded GLB into a new collection at the 3D cursor, all or nothing.

Every imported object is tagged with the submission it came from, its phase and the original
glTF node name, read from the file itself, because Blender renames colliding names (`Head`
becomes `Head.001`). A failed import removes every datablock it created, so the file is left
exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bpy
from mathutils import Vector

from . import gltf_support
from .client.glb import InvalidGLBError, node_names
from .glb_stamp import NODE_INDEX_KEY, write_stamped_copy
from .messages import UserFacingError

log = logging.getLogger(__name__)

PROP_SUBMISSION_ID = "thrixel_submission_id"
PROP_PHASE = "thrixel_phase"
PROP_NODE_NAME = "thrixel_node_name"

DEFAULT_COLLECTION_NAME = "Thrixel Model"
BONE_SHAPES_COLLECTION = "glTF_not_exported"
"""The hidden collection where Blender's glTF importer (4.2 to 5.0) puts the bone shape of
skinned models; the pose bones use that object as their custom shape, so it must stay."""
_PREFERRED_OPTIONS = {
    # 4.5 and newer: a single glTF scene goes into the context's collection, several scenes
    # into one child collection each. 4.2 has no such option and links into the context's
    # collection or the scene's; `_gather_into` collects whatever lands outside.
    "import_scene_as_collection": True,
}


class ImportFailed(UserFacingError):
    """The model could not be imported; the message gives the reason and what to do."""


@dataclass(frozen=True)
class ImportedModel:
    collection_name: str
    object_names: list[str]


def import_glb(
    scene: bpy.types.Scene,
    path: Path,
    *,
    name: str,
    submission_id: str,
    phase: int,
    location: Vector | None = None,
) -> ImportedModel:
    """Import the GLB at `path` into a new collection named `name` in `scene`.

    The model's origin goes to `location`, or to the 3D cursor when it is None. Raises
    ImportFailed, with the scene unchanged, when the file cannot be read or imported.
    """
    stamped = path.with_name(path.stem + ".stamped.glb")
    try:
        # "the file" keeps the message free of the download's own file name.
        document = write_stamped_copy(path, stamped, label="the file")
    except InvalidGLBError as error:
        raise ImportFailed(
            f"The downloaded model for \"{name}\" is damaged: {error.message}. Nothing was "
            "added; press Retry to download it again."
        ) from None
    except OSError as error:
        raise ImportFailed(
            f"The downloaded model \"{path}\" could not be read ({error.strerror}). "
            "Check the disk and retry the job."
        ) from None

    try:
        _check_extensions(document, name)
        origin = scene.cursor.location.copy() if location is None else location
        return _import_stamped(scene, stamped, document, name, submission_id, phase, origin)
    finally:
        stamped.unlink(missing_ok=True)


def _check_extensions(document: dict[str, Any], name: str) -> None:
    """Raise ImportFailed when the file requires a glTF extension this Blender cannot import."""
    missing = gltf_support.unsupported_required(document)
    if not missing:
        return
    listed = ", ".join(missing)
    noun = "extension" if len(missing) == 1 else "extensions"
    raise ImportFailed(
        f"The model for \"{name}\" requires the glTF {noun} {listed}, which Blender "
        f"{bpy.app.version_string} cannot import. Nothing was added; download the submission "
        "as FBX or OBJ and import that instead."
    )


def _import_stamped(
    scene: bpy.types.Scene,
    stamped: Path,
    document: dict[str, Any],
    name: str,
    submission_id: str,
    phase: int,
    origin: Vector,
) -> ImportedModel:
    view_layer = view_layer_of(scene)
    snapshot = _snapshot_ids()
    selection = _SelectionState.capture(view_layer)
    active_layer = view_layer.active_layer_collection
    previous_active = None
    if active_layer is not None and active_layer != view_layer.layer_collection:
        previous_active = active_layer.collection.name
    try:
        collection = bpy.data.collections.new(name or DEFAULT_COLLECTION_NAME)
        scene.collection.children.link(collection)
        layer_collection = layer_collection_of(view_layer.layer_collection, collection)
        if layer_collection is None:
            raise RuntimeError(f"The new collection {collection.name!r} is not in the view layer")
        view_layer.active_layer_collection = layer_collection
        _run_importer(scene, view_layer, layer_collection, stamped)
        new_objects = [obj for obj in bpy.data.objects if obj.session_uid not in snapshot]
        _check_has_meshes(new_objects, name)
        _gather_into(scene, collection, new_objects, snapshot)
        _tag_objects(new_objects, node_names(document), submission_id, phase)
        _move_to_origin(new_objects, collection, origin)
    except Exception as error:
        _remove_new_ids(snapshot)
        # The view layers still list the removed objects until they are synced again, and
        # reading such an entry crashes Blender 4.2. Sync first, then restore by name.
        for layer in scene.view_layers:
            layer.update()
        selection.restore(view_layer)
        _restore_active_collection(view_layer, previous_active)
        message = str(error) if isinstance(error, ImportFailed) else _failure_message(name, error)
        raise ImportFailed(message) from None
    _restore_active_collection(view_layer, previous_active)

    log.info("Imported %d objects into collection %r", len(new_objects), collection.name)
    return ImportedModel(collection.name, [obj.name for obj in new_objects])


def _check_has_meshes(objects: list[bpy.types.Object], name: str) -> None:
    """Raise ImportFailed when the import created no mesh object: there is no model to show."""
    if any(obj.type == 'MESH' for obj in objects):
        return
    if objects:
        count = len(objects)
        found = f"contains {count} object{'s' if count != 1 else ''} but no mesh"
    else:
        found = "contains no objects"
    raise ImportFailed(
        f"The model for \"{name}\" {found}, so there is nothing to import. Nothing was added; "
        "press Retry to download it again, or report the submission if it happens again."
    )


def _run_importer(
    scene: bpy.types.Scene,
    view_layer: bpy.types.ViewLayer,
    layer_collection: bpy.types.LayerCollection,
    path: Path,
) -> None:
    """Run Blender's glTF importer with `layer_collection` as the context's collection.

    The importer links new objects into `bpy.context.collection`, which is not the view
    layer's active collection when no window is open (timers, background mode).
    """
    operator_type = bpy.ops.import_scene.gltf.get_rna_type()  # type: ignore[call-arg]
    available = {prop.identifier for prop in operator_type.properties}
    options: dict[str, Any] = {
        key: value for key, value in _PREFERRED_OPTIONS.items() if key in available
    }
    with bpy.context.temp_override(
        scene=scene,
        view_layer=view_layer,
        collection=layer_collection.collection,
        layer_collection=layer_collection,
    ):
        bpy.ops.import_scene.gltf(filepath=str(path), **options)


def _tag_objects(
    objects: list[bpy.types.Object], names: list[str], submission_id: str, phase: int
) -> None:
    """Tag each object and map it to its glTF node through the stamped index."""
    for obj in objects:
        index = obj.get(NODE_INDEX_KEY)
        node_name = ""
        if isinstance(index, int) and 0 <= index < len(names):
            node_name = names[index]
        elif obj.name in names:
            # A node whose extras were not an object could not be stamped. Its name is then
            # the best evidence, because Blender keeps a name that did not collide.
            node_name = obj.name
        obj[PROP_SUBMISSION_ID] = submission_id
        obj[PROP_PHASE] = phase
        obj[PROP_NODE_NAME] = node_name
        _remove_stamp(obj)


def _remove_stamp(obj: bpy.types.Object) -> None:
    obj.pop(NODE_INDEX_KEY, None)
    if isinstance(obj.data, bpy.types.Armature):
        # Joint nodes become bones, and their extras land on the bone and the pose bone.
        for bone in obj.data.bones:
            bone.pop(NODE_INDEX_KEY, None)
        for pose_bone in obj.pose.bones if obj.pose else []:
            pose_bone.pop(NODE_INDEX_KEY, None)


def _gather_into(
    scene: bpy.types.Scene,
    collection: bpy.types.Collection,
    objects: list[bpy.types.Object],
    snapshot: set[int],
) -> None:
    """Put everything the import created inside `collection`.

    Objects in collections the importer created itself (one per extra glTF scene, or the
    hidden one for bone shapes) stay there, and such a collection that the importer linked
    to the scene's root moves under `collection`. Objects linked into existing collections
    move into `collection`, except bone shapes, which move into a hidden child collection.
    """
    root = scene.collection
    for child in list(root.children):
        if child.session_uid not in snapshot and child != collection:
            root.children.unlink(child)
            collection.children.link(child)

    bone_shapes: bpy.types.Collection | None = None
    for obj in objects:
        created = [
            owner
            for owner in obj.users_collection
            if owner.session_uid not in snapshot and not owner.is_embedded_data
        ]
        if created:
            continue
        # Blender's importer reuses a bone shape collection left by an earlier import.
        is_bone_shape = any(owner.name == BONE_SHAPES_COLLECTION for owner in obj.users_collection)
        for owner in list(obj.users_collection):
            owner.objects.unlink(obj)
        if is_bone_shape:
            if bone_shapes is None:
                bone_shapes = _hidden_child(collection, BONE_SHAPES_COLLECTION)
            bone_shapes.objects.link(obj)
        else:
            collection.objects.link(obj)


def _hidden_child(parent: bpy.types.Collection, name: str) -> bpy.types.Collection:
    child = bpy.data.collections.new(name)
    child.hide_viewport = True
    child.hide_render = True
    parent.children.link(child)
    return child


def _move_to_origin(
    objects: list[bpy.types.Object], collection: bpy.types.Collection, origin: Vector
) -> None:
    """Shift the model's root objects so the model's origin sits at `origin`."""
    for obj in objects:
        if obj.parent is None and collection in obj.users_collection:
            obj.location = obj.location + origin


def _failure_message(name: str, error: Exception) -> str:
    if isinstance(error, RuntimeError):
        reason = _importer_reason(str(error))
        return (
            f"Blender could not import the model for \"{name}\": {reason}. "
            "Nothing was added; retry the job, or report the submission if it fails again."
        )
    log.error("Importing the model for %r failed unexpectedly", name, exc_info=error)
    return (
        f"Importing the model for \"{name}\" failed because of an unexpected error. "
        "Nothing was added; the details are in the system console."
    )


def _importer_reason(text: str) -> str:
    """Return the last line of the importer's error, without traceback or class name."""
    lines = [
        line.strip()
        for line in text.strip().splitlines()
        if line.strip() and not line.strip().startswith("Location:")
    ]
    reason = lines[-1] if lines else "no reason given"
    if reason.startswith("Error:"):
        reason = reason[len("Error:") :].strip()
    head, separator, tail = reason.partition(": ")
    if separator and head.isidentifier() and head.endswith(("Error", "Exception")):
        reason = tail
    return reason.rstrip(".") or "no reason given"


# Leaving the file as it was.


def _id_collections() -> Iterator[bpy.types.bpy_prop_collection]:
    for prop in bpy.data.bl_rna.properties:
        if prop.type == 'COLLECTION':
            yield getattr(bpy.data, prop.identifier)


def _snapshot_ids() -> set[int]:
    return {datablock.session_uid for ids in _id_collections() for datablock in ids}


def _remove_new_ids(snapshot: set[int]) -> None:
    new_ids = [
        datablock
        for ids in _id_collections()
        for datablock in ids
        if datablock.session_uid not in snapshot
    ]
    if new_ids:
        bpy.data.batch_remove(new_ids)
    log.info("Removed %d datablocks left by a failed import", len(new_ids))


@dataclass
class _SelectionState:
    selected: list[str]
    active: str | None

    @classmethod
    def capture(cls, view_layer: bpy.types.ViewLayer) -> _SelectionState:
        selected = [obj.name for obj in view_layer.objects if obj.select_get(view_layer=view_layer)]
        active = view_layer.objects.active
        return cls(selected, active.name if active is not None else None)

    def restore(self, view_layer: bpy.types.ViewLayer) -> None:
        """Select the captured objects again; call only on a view layer synced since removal."""
        selected = set(self.selected)
        for obj in view_layer.objects:
            if obj is not None:
                obj.select_set(obj.name in selected, view_layer=view_layer)
        active = bpy.data.objects.get(self.active) if self.active else None
        if active is not None and view_layer.objects.get(active.name) is None:
            active = None
        view_layer.objects.active = active


def view_layer_of(scene: bpy.types.Scene) -> bpy.types.ViewLayer:
    """Return the context's view layer when `scene` is the context's scene, else its first."""
    if bpy.context.scene == scene and bpy.context.view_layer is not None:
        return bpy.context.view_layer
    return scene.view_layers[0]


def layer_collection_of(
    root: bpy.types.LayerCollection, collection: bpy.types.Collection
) -> bpy.types.LayerCollection | None:
    """Return the layer collection of `collection` in the tree below `root`, or None."""
    if root.collection == collection:
        return root
    for child in root.children:
        found = layer_collection_of(child, collection)
        if found is not None:
            return found
    return None


def _restore_active_collection(
    view_layer: bpy.types.ViewLayer, collection_name: str | None
) -> None:
    """Make the collection named `collection_name` active again, else the scene's own.

    Looked up by name in the current tree, because a layer collection captured before the
    import may have been freed with the failed import's leftovers.
    """
    root = view_layer.layer_collection
    found = None
    collection = bpy.data.collections.get(collection_name) if collection_name else None
    if collection is not None:
        found = layer_collection_of(root, collection)
    view_layer.active_layer_collection = found if found is not None else root
