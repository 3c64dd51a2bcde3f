"""Auto-refine (phase 2) and modify (phase 3) an imported model; results land beside it.

The parent is the submission of the active object (its `thrixel_submission_id`), or the one
selected in the submissions browser. Both kinds are job records followed by the main runner;
their submit call waits on this machine while the active-job estimate is at the limit and
outlasts 429 responses (see `limits`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import bpy
from bpy.props import StringProperty
from bpy.types import Context, Operator
from mathutils import Vector

from . import (
    importer,
    library_cache,
    library_calls,
    library_props,
    limits,
    messages,
    operators,
    preferences,
    props,
    results,
    runtime,
    tracking,
)
from .client import Phase2Request, Phase3Request
from .client.validation import validate_id

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

log = logging.getLogger(__name__)

GAP_FRACTION = 0.25
"""Space left between a parent and its result, as a fraction of the parent's width."""
MIN_GAP = 0.25
REFINABLE_PHASES = (1, 2)


@dataclass(frozen=True)
class Parent:
    submission_id: str
    phase: int
    label: str
    status: str = "completed"


def resolve_parent(context: Context, submission_id: str = "") -> Parent | None:
    """Return the submission to work on: the given id, the active object's, or the browser's."""
    cache = library_cache.get()
    if not submission_id:
        obj = context.active_object
        if obj is not None and obj.get(importer.PROP_SUBMISSION_ID):
            phase = obj.get(importer.PROP_PHASE, 0)
            submission_id = str(obj[importer.PROP_SUBMISSION_ID])
            row = cache.submissions.get(submission_id)
            label = row.label if row is not None else obj.name
            return Parent(submission_id, int(phase) if isinstance(phase, int) else 0, label)
        submission_id = library_props.ui_state(context).selected_submission
    if not submission_id:
        return None
    row = cache.submissions.get(submission_id)
    if row is None:
        return Parent(submission_id, 0, f"Submission {submission_id[:8]}", "unknown")
    return Parent(submission_id, row.phase, row.label, row.status)


def _parent_poll(cls: type[Operator], context: Context) -> bool:
    if not operators.network_ready(cls):
        return False
    if resolve_parent(context) is None:
        cls.poll_message_set(
            "Select an object imported from Thrixel, or a submission in the Submissions panel"
        )
        return False
    return True


def start_rework(
    scene: bpy.types.Scene,
    kind: str,
    parent: Parent,
    *,
    modification: str = "",
    adaptive_thinking: bool = False,
) -> str:
    """Add a refine or modify job record and start following it; returns the record id.

    Raises ValidationError for an unusable request and SettingsError for unusable settings.
    """
    project_id = library_props.default_project_id(scene)
    if kind == "refine":
        request: Phase2Request | Phase3Request = Phase2Request(
            parent_submission_id=parent.submission_id,
            project_id=project_id,
            adaptive_thinking=adaptive_thinking,
        )
        prompt, phase = f"Refined {parent.label}", 2
    else:
        request = Phase3Request(
            parent_submission_id=parent.submission_id,
            modification_request=modification,
            project_id=project_id,
            adaptive_thinking=adaptive_thinking,
        )
        prompt, phase = modification.strip(), 3
    request.validate()
    runtime.get().set_config(preferences.client_config())

    settings = props.scene_settings(scene)
    record = settings.add_job(kind=kind, prompt=prompt, phase=phase)
    record.parent_submission_id = parent.submission_id
    record_id: str = record.job_id
    submit = limits.gated_submit(limits.tracker(), record_id, _submitter(request))
    try:
        runtime.get().follow(
            record_id, submit=submit, submission_id=None, dest_dir=tracking.results_dir(record_id)
        )
    except Exception:
        settings.remove_job(record_id)
        raise
    return record_id


def _submitter(request: Phase2Request | Phase3Request) -> limits.SubmitFunction:
    if isinstance(request, Phase2Request):
        return lambda client, cancel: client.submit_phase2(request)
    return lambda client, cancel: client.submit_phase3(request)


class _ReworkOperator(Operator):
    """Base of Refine and Modify: the parent is the button's submission or the context's."""

    submission_id: StringProperty(name="Submission ID", options={'SKIP_SAVE'})

    @classmethod
    def poll(cls, context: Context) -> bool:
        return _parent_poll(cls, context)

    def checked_parent(self, context: Context) -> Parent | None:
        """Return the parent to work on, or report that there is none and return None."""
        parent = resolve_parent(context, self.submission_id)
        if parent is None:
            self.report({'ERROR'}, "Select an object imported from Thrixel first.")
        return parent


class THRIXEL_OT_refine_model(_ReworkOperator):
    """Auto-refine the model: the service critiques it and makes an improved version, imported
    beside it"""

    bl_idname = "thrixel.refine_model"
    bl_label = "Refine"
    bl_options = {'REGISTER'}

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        parent = self.checked_parent(context)
        if parent is None:
            return {'CANCELLED'}
        if parent.phase not in REFINABLE_PHASES and parent.phase != 0:
            self.report(
                {'ERROR'},
                f"\"{library_calls.shorten(parent.label)}\" is a phase {parent.phase} model. "
                "Refine works on phase 1 and 2 models; use Modify or Detail instead.",
            )
            return {'CANCELLED'}
        if parent.status not in ("completed", "unknown"):
            self.report(
                {'ERROR'},
                f"\"{library_calls.shorten(parent.label)}\" is {parent.status}. "
                "Refine it once it is completed.",
            )
            return {'CANCELLED'}
        settings = props.context_settings(context)
        try:
            start_rework(
                props.context_scene(context),
                "refine",
                parent,
                adaptive_thinking=settings.adaptive_thinking,
            )
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Refine"))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Refining \"{library_calls.shorten(parent.label)}\".")
        return {'FINISHED'}


class THRIXEL_OT_modify_model(_ReworkOperator):
    """Apply the change described in words to the model; the result is imported beside it"""

    bl_idname = "thrixel.modify_model"
    bl_label = "Modify"
    bl_options = {'REGISTER'}

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        parent = self.checked_parent(context)
        if parent is None:
            return {'CANCELLED'}
        scene = props.context_scene(context)
        change = props.scene_settings(scene).library.modification_request.strip()
        if not change:
            self.report({'ERROR'}, "The change is empty. Describe the change, then press Modify.")
            return {'CANCELLED'}
        settings = props.context_settings(context)
        try:
            start_rework(
                scene,
                "modify",
                parent,
                modification=change,
                adaptive_thinking=settings.adaptive_thinking,
            )
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Modify"))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Modifying \"{library_calls.shorten(parent.label)}\".")
        return {'FINISHED'}


# ---------------------------------------------------------------------------
# Placing the result beside its parent


def place_beside_parent(
    scene: bpy.types.Scene, record: bpy.types.PropertyGroup, glb_path: Path
) -> importer.ImportedModel:
    """Import the result at the cursor, then move it to the right of its parent's objects."""
    job = cast(props.THRIXEL_PG_job, record)
    model = results.place_at_cursor(scene, job, glb_path)
    objects = [bpy.data.objects[name] for name in model.object_names]
    parents = [
        obj
        for obj in scene.objects
        if obj.get(importer.PROP_SUBMISSION_ID) == job.parent_submission_id
        and obj.name not in model.object_names
    ]
    if not parents:
        return results.PlacedModel(
            model.collection_name,
            model.object_names,
            "The parent is not in this scene, so the result was placed at the 3D cursor.",
        )
    view_layer = bpy.context.view_layer if bpy.context.scene == scene else None
    (view_layer or scene.view_layers[0]).update()
    parent_low, parent_high = world_bounds(parents)
    result_low, result_high = world_bounds(objects)
    gap = max(MIN_GAP, (parent_high.x - parent_low.x) * GAP_FRACTION)
    offset = Vector(
        (
            parent_high.x + gap - result_low.x,
            (parent_low.y + parent_high.y) / 2 - (result_low.y + result_high.y) / 2,
            parent_low.z - result_low.z,
        )
    )
    for obj in objects:
        if obj.parent is None:
            obj.location = obj.location + offset
    return results.PlacedModel(
        model.collection_name, model.object_names, "Placed beside its parent."
    )


def world_bounds(objects: list[bpy.types.Object]) -> tuple[Vector, Vector]:
    """Corners of the world-space box around `objects` (their origins when they have no box)."""
    points = []
    for obj in objects:
        if obj.type in ('MESH', 'CURVE', 'SURFACE', 'META', 'FONT', 'CURVES', 'POINTCLOUD'):
            points += [obj.matrix_world @ Vector(corner) for corner in obj.bound_box]
        else:
            points.append(obj.matrix_world.translation.copy())
    low = Vector((min(p.x for p in points), min(p.y for p in points), min(p.z for p in points)))
    high = Vector((max(p.x for p in points), max(p.y for p in points), max(p.z for p in points)))
    return low, high


# ---------------------------------------------------------------------------
# Retry


def _resubmit(scene: bpy.types.Scene, group: bpy.types.PropertyGroup) -> None:
    record = cast(props.THRIXEL_PG_job, group)
    validate_id(record.parent_submission_id, "parent_submission_id")
    label = record.prompt.removeprefix("Refined ") if record.kind == "refine" else record.label
    parent = Parent(record.parent_submission_id, 0, label)
    settings = props.scene_settings(scene)
    old_id = record.job_id
    start_rework(
        scene,
        record.kind,
        parent,
        modification=record.prompt if record.kind == "modify" else "",
        adaptive_thinking=settings.adaptive_thinking,
    )
    settings.remove_job(old_id)


def _register_kinds() -> None:
    for kind in ("refine", "modify"):
        results.register_placer(kind, place_beside_parent)
        results.RESUBMITTERS[kind] = _resubmit


_register_kinds()

classes = (THRIXEL_OT_refine_model, THRIXEL_OT_modify_model)
