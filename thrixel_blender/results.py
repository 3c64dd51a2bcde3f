"""Where a finished job's model goes in the scene: one placement function per job kind.

The pump calls `place_result` on the main thread once a job's GLB is downloaded. A generated
model goes to the 3D cursor. A detail, remesh or retexture result goes where its source
objects are. Each result object is matched to a source by the original glTF node name and
takes the source's world matrix. The sources are hidden, never deleted, so `restore_sources`
can bring them back. Other features add their kinds with `register_placer`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import bpy
from mathutils import Matrix, Vector

from . import detail_jobs, importer, props
from .detail_props import THRIXEL_PG_job_source
from .importer import PROP_NODE_NAME, ImportedModel, ImportFailed

log = logging.getLogger(__name__)

Placer = Callable[[bpy.types.Scene, "props.THRIXEL_PG_job", Path], ImportedModel]
"""Imports the GLB at the path for a job record into the scene; raises ImportFailed."""


@dataclass(frozen=True)
class PlacedModel(ImportedModel):
    note: str = ""
    """A sentence for the job message about how the result was placed, or empty."""


def place_at_cursor(
    scene: bpy.types.Scene, record: props.THRIXEL_PG_job, glb_path: Path
) -> ImportedModel:
    """Import a new model into a collection of its own where the 3D cursor was at the start.

    Records from files saved before the start location was kept use the cursor of now.
    """
    location = Vector(record.placement) if record.has_placement else None
    return importer.import_glb(
        scene,
        glb_path,
        name=record.label,
        submission_id=record.submission_id,
        phase=record.phase,
        location=location,
    )


def place_generated(
    scene: bpy.types.Scene, record: props.THRIXEL_PG_job, glb_path: Path
) -> ImportedModel:
    """Import a generated model like `place_at_cursor`, then forget the request kept for Retry."""
    model = place_at_cursor(scene, record, glb_path)
    detail_jobs.forget_request(record.job_id)
    return model


def place_over_sources(
    scene: bpy.types.Scene, record: props.THRIXEL_PG_job, glb_path: Path
) -> ImportedModel:
    """Import a reworked model into a collection of its own on top of its source objects,
    then hide the sources."""
    model = place_at_cursor(scene, record, glb_path)
    objects = [bpy.data.objects[name] for name in model.object_names]
    try:
        importer.view_layer_of(scene).update()
        missing = _move_onto_sources(scene, record, objects)
        hidden = hide_sources(scene, record)
    except Exception as error:
        # The import itself succeeded; do not leave a half-placed model behind.
        log.error("Placing the result of job %s failed", record.job_id, exc_info=error)
        collection = bpy.data.collections.get(model.collection_name)
        bpy.data.batch_remove([*objects, *([collection] if collection else [])])
        raise ImportFailed(
            "The result was downloaded but could not be placed over its source objects. "
            "Nothing was added; the details are in the system console."
        ) from None
    detail_jobs.forget_request(record.job_id)
    note = f"{hidden} source object{'s' if hidden != 1 else ''} hidden."
    if missing:
        shown = ", ".join(f"\"{name}\"" for name in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        note += (
            f" The source objects {shown}{more} no longer exist, so their parts were placed "
            "where the sources were when the job was sent."
        )
    return PlacedModel(model.collection_name, model.object_names, note)


PLACERS: dict[str, Placer] = {
    "generate": place_generated,
    "detail": place_over_sources,
    "remesh": place_over_sources,
    "retexture": place_over_sources,
}
DEFAULT_PLACER: Placer = place_at_cursor

Resubmitter = Callable[[bpy.types.Scene, "props.THRIXEL_PG_job"], None]
"""Sends a failed or cancelled job's request again; raises UserFacingError when it cannot."""
RESUBMITTERS: dict[str, Resubmitter] = {
    "detail": detail_jobs.resubmit,
    "remesh": detail_jobs.resubmit,
    "retexture": detail_jobs.resubmit,
}
"""Kinds whose Retry is not "generate the prompt again"; see THRIXEL_OT_retry_job."""


def register_placer(kind: str, placer: Placer) -> None:
    """Use `placer` for the finished jobs of `kind`."""
    PLACERS[kind] = placer


def place_result(
    scene: bpy.types.Scene, record: props.THRIXEL_PG_job, glb_path: Path
) -> ImportedModel:
    """Import the finished job's GLB into `scene` with the placer registered for its kind.

    Raises ImportFailed, with the scene unchanged, when the model cannot be imported.
    """
    return PLACERS.get(record.kind, DEFAULT_PLACER)(scene, record, glb_path)


# ---------------------------------------------------------------------------------------------
# Sources


def live_source(scene: bpy.types.Scene, item: THRIXEL_PG_job_source) -> bpy.types.Object | None:
    """Return the recorded source object while it is still in `scene`, else None."""
    obj: bpy.types.Object | None = item.source_object
    if obj is None or scene.objects.get(obj.name) != obj:
        return None
    return obj


def hide_sources(scene: bpy.types.Scene, record: props.THRIXEL_PG_job) -> int:
    """Hide the job's source objects in every view layer and in renders; returns the count."""
    count = 0
    for item in record.sources:
        obj = live_source(scene, item)
        if obj is None:
            continue
        _set_hidden(scene, obj, True)
        if not obj.hide_render:
            obj.hide_render = True
            item.render_hidden_by_job = True
        count += 1
    record.sources_hidden = True
    return count


def restore_sources(scene: bpy.types.Scene, record: props.THRIXEL_PG_job) -> tuple[int, int]:
    """Show the job's source objects again and hide its result collection.

    Returns how many sources were shown and how many no longer exist.
    """
    shown = missing = 0
    for item in record.sources:
        obj = live_source(scene, item)
        if obj is None:
            missing += 1
            continue
        _set_hidden(scene, obj, False)
        if item.render_hidden_by_job:
            obj.hide_render = False
            item.render_hidden_by_job = False
        shown += 1
    collection = bpy.data.collections.get(record.collection_name)
    if collection is not None:
        for view_layer in scene.view_layers:
            layer_collection = importer.layer_collection_of(view_layer.layer_collection, collection)
            if layer_collection is not None:
                layer_collection.hide_viewport = True
        collection.hide_render = True
    record.sources_hidden = False
    return shown, missing


def show_result(scene: bpy.types.Scene, record: props.THRIXEL_PG_job) -> int:
    """Show the job's result collection again and hide its sources, undoing `restore_sources`.

    Returns how many sources were hidden. Raises LookupError when the result collection was
    deleted.
    """
    collection = bpy.data.collections.get(record.collection_name)
    if collection is None:
        raise LookupError(record.collection_name)
    for view_layer in scene.view_layers:
        layer_collection = importer.layer_collection_of(view_layer.layer_collection, collection)
        if layer_collection is not None:
            layer_collection.hide_viewport = False
    collection.hide_render = False
    return hide_sources(scene, record)


def _set_hidden(scene: bpy.types.Scene, obj: bpy.types.Object, hidden: bool) -> None:
    for view_layer in scene.view_layers:
        if view_layer.objects.get(obj.name) == obj:
            obj.hide_set(hidden, view_layer=view_layer)


# ---------------------------------------------------------------------------------------------
# Placement


def _move_onto_sources(
    scene: bpy.types.Scene, record: props.THRIXEL_PG_job, objects: list[bpy.types.Object]
) -> list[str]:
    """Give each result object the world matrix of its source; returns deleted sources' names.

    Objects are placed parents first, so a child's local matrix is computed against its
    parent's new world matrix rather than a stale one. A result object without a source
    keeps its transform relative to its parent; a root without one moves with the model.
    """
    by_node: dict[str, THRIXEL_PG_job_source] = {}
    for item in record.sources:
        by_node.setdefault(item.node_name, item)

    targets: dict[str, Matrix] = {}
    missing: list[str] = []
    for obj in objects:
        item = by_node.get(str(obj.get(PROP_NODE_NAME, "")))
        if item is None:
            continue
        source = live_source(scene, item)
        if source is None:
            missing.append(item.object_name)
            targets[obj.name] = item.get_matrix()
        else:
            targets[obj.name] = source.matrix_world.copy()

    imported_world = {obj.name: obj.matrix_world.copy() for obj in objects}
    model_delta = Matrix.Identity(4)
    for name, target in targets.items():
        model_delta = target @ imported_world[name].inverted_safe()
        break

    new_world: dict[str, Matrix] = {}
    in_result = {obj.name for obj in objects}
    for obj in sorted(objects, key=_depth):
        parent = obj.parent
        if parent is not None and parent.name in in_result:
            parent_world = new_world[parent.name]
        elif parent is not None:
            parent_world = parent.matrix_world.copy()
        else:
            parent_world = None

        if obj.name in targets:
            world = targets[obj.name]
        elif parent is None or parent.name not in in_result:
            world = model_delta @ imported_world[obj.name]
        elif parent_world is not None:
            world = parent_world @ obj.matrix_parent_inverse @ obj.matrix_basis
        else:
            world = imported_world[obj.name]
        if parent_world is None:
            obj.matrix_basis = world
        else:
            obj.matrix_basis = (parent_world @ obj.matrix_parent_inverse).inverted_safe() @ world
        new_world[obj.name] = world
    return missing


def _depth(obj: bpy.types.Object) -> int:
    depth = 0
    while obj.parent is not None:
        obj = obj.parent
        depth += 1
    return depth
