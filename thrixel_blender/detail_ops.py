"""Operators for the selected objects: detail, remesh, retexture, switch between a result and
the sources it replaced, and load a detail result's reference image."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import bpy
from bpy.props import StringProperty
from bpy.types import Context, Operator

from . import detail_jobs, messages, online, props, results, runtime, tracking
from .client import ThrixelClient
from .client.errors import ThrixelError, ValidationError
from .client.validation import validate_id
from .importer import PROP_PHASE, PROP_SUBMISSION_ID
from .operators import network_ready
from .selection_export import inspect_selection, uploads_dir

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

log = logging.getLogger(__name__)

REFERENCES_FOLDER = "references"
reference_status: dict[str, str] = {}
"""Submission id -> the last message about loading its reference image, for the panel."""


def _run(
    operator: Operator, action: str, start: Callable[[Context], str], context: Context
) -> set[OperatorReturnItems]:
    try:
        text = start(context)
    except Exception as error:
        operator.report({'ERROR'}, messages.user_message(error, action=action))
        return {'CANCELLED'}
    operator.report({'INFO'}, text)
    return {'FINISHED'}


class THRIXEL_OT_detail_selected(Operator):
    """Detail and texture the selected objects with Thrixel, focused on them. The result
    replaces them in place; the originals are hidden, not deleted"""

    bl_idname = "thrixel.detail_selected"
    bl_label = "Detail Selected"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not network_ready(cls):
            return False
        problem = detail_jobs.detail_problem(inspect_selection(context))
        if problem:
            cls.poll_message_set(problem)
        return problem is None

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        return _run(self, "Detail", detail_jobs.start_detail, context)


class THRIXEL_OT_remesh_selected(Operator):
    """Make a new mesh with another triangle count for the selected detail result. The result
    replaces the model in place; the original is hidden, not deleted"""

    bl_idname = "thrixel.remesh_selected"
    bl_label = "Remesh"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not network_ready(cls):
            return False
        problem = detail_jobs.phase4_problem(inspect_selection(context), "remesh")
        if problem:
            cls.poll_message_set(problem)
        return problem is None

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        return _run(self, "Remesh", detail_jobs.start_remesh, context)


class THRIXEL_OT_retexture_selected(Operator):
    """Make new textures for the selected parts of a detail result. The result replaces the
    model in place; the original is hidden, not deleted"""

    bl_idname = "thrixel.retexture_selected"
    bl_label = "Retexture Selected"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        if not network_ready(cls):
            return False
        problem = detail_jobs.phase4_problem(inspect_selection(context), "retexture")
        if problem:
            cls.poll_message_set(problem)
        return problem is None

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        return _run(self, "Retexture", detail_jobs.start_retexture, context)


class _ResultOperator(Operator):
    """Base of the operators that switch between a job's result and the objects it replaced."""

    job_id: StringProperty(name="Job ID", options={'SKIP_SAVE'})

    def switch(self, scene: bpy.types.Scene, record: props.THRIXEL_PG_job) -> str | None:
        """Switch what is shown; return the message to report, or None after reporting."""
        raise NotImplementedError

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        scene = props.context_scene(context)
        record = props.scene_settings(scene).find_job(self.job_id)
        if record is None:
            self.report({'ERROR'}, f"No job with id \"{self.job_id}\" in this scene.")
            return {'CANCELLED'}
        text = self.switch(scene, record)
        if text is None:
            return {'CANCELLED'}
        self.report({'INFO'}, text)
        return {'FINISHED'}


class THRIXEL_OT_restore_sources(_ResultOperator):
    """Show the objects this job's result replaced again, and hide the result"""

    bl_idname = "thrixel.restore_sources"
    bl_label = "Show Originals"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    def switch(self, scene: bpy.types.Scene, record: props.THRIXEL_PG_job) -> str | None:
        if not record.sources_hidden:
            self.report({'WARNING'}, f"The originals of \"{record.label}\" are not hidden.")
            return None
        shown, missing = results.restore_sources(scene, record)
        text = f"Showing {shown} original object{'s' if shown != 1 else ''} again"
        if record.collection_name:
            text += f" and hiding \"{record.collection_name}\""
        if missing:
            text += f". {missing} of them no longer exist"
        return text + "."


class THRIXEL_OT_show_result(_ResultOperator):
    """Show this job's result again and hide the objects it replaced"""

    bl_idname = "thrixel.show_result"
    bl_label = "Show Result"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    def switch(self, scene: bpy.types.Scene, record: props.THRIXEL_PG_job) -> str | None:
        if record.sources_hidden:
            self.report({'WARNING'}, f"The result of \"{record.label}\" is already shown.")
            return None
        try:
            hidden = results.show_result(scene, record)
        except LookupError:
            self.report(
                {'ERROR'},
                f"The result collection \"{record.collection_name}\" of \"{record.label}\" "
                "was deleted, so there is no result to show.",
            )
            return None
        return (
            f"Showing \"{record.collection_name}\" and hiding {hidden} original "
            f"object{'s' if hidden != 1 else ''}."
        )


class THRIXEL_OT_load_reference_image(Operator):
    """Load the reference image that guided a detail result as an image in this file"""

    bl_idname = "thrixel.load_reference_image"
    bl_label = "Load Reference Image"
    bl_options = {'REGISTER', 'UNDO'}

    submission_id: StringProperty(
        name="Submission ID",
        description="Phase 4 submission whose reference image to load. Empty: the active object's",
        options={'SKIP_SAVE'},
    )

    @classmethod
    def poll(cls, context: Context) -> bool:
        # poll() cannot see the operator's properties, so a button that passes submission_id
        # (the Results panel's) is enabled whenever the file lists any detail result.
        if _active_phase4_submission(context) is not None or _listed_phase4_results(context):
            return True
        cls.poll_message_set(NO_PHASE4_REASON)
        return False

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        submission_id = self.submission_id or _active_phase4_submission(context) or ""
        if not submission_id:
            self.report({'ERROR'}, NO_PHASE4_REASON)
            return {'CANCELLED'}
        try:
            validate_id(submission_id, "submission id")
        except ValidationError as error:
            self.report({'ERROR'}, messages.user_message(error, action="Load Reference Image"))
            return {'CANCELLED'}
        cached = cached_reference(context, submission_id)
        if cached is not None:
            image = load_reference(submission_id, cached)
            self.report({'INFO'}, f"Loaded the reference image as \"{image.name}\".")
            return {'FINISHED'}
        if not online.is_allowed():
            self.report({'ERROR'}, online.OFFLINE_REASON)
            return {'CANCELLED'}
        try:
            _download_reference(submission_id)
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Load Reference Image"))
            return {'CANCELLED'}
        self.report({'INFO'}, "Downloading the reference image. It appears in the Image Editor.")
        return {'FINISHED'}


# ---------------------------------------------------------------------------------------------
# Reference images


NO_PHASE4_REASON = (
    "The active object is not part of a detail result (phase 4). Select one, or use the "
    "Reference Image button of a result in the Results panel."
)


def _listed_phase4_results(context: Context) -> bool:
    return any(
        record.phase == 4 and record.submission_id
        for record in props.context_settings(context).jobs
    )


def _active_phase4_submission(context: Context) -> str | None:
    obj = context.active_object
    if obj is None or obj.get(PROP_PHASE) != 4:
        return None
    submission_id = obj.get(PROP_SUBMISSION_ID)
    return str(submission_id) if submission_id else None


def references_dir() -> Path:
    folder = uploads_dir().parent / REFERENCES_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached_reference(context: Context, submission_id: str) -> Path | None:
    """Return a reference image already on disk: downloaded with the job, or loaded before."""
    candidates = [references_dir() / f"{submission_id}.png"]
    for record in props.context_settings(context).jobs:
        if record.submission_id == submission_id:
            candidates.append(tracking.results_dir(record.job_id) / f"{submission_id}.png")
    return next((path for path in candidates if path.is_file()), None)


def load_reference(submission_id: str, path: Path) -> bpy.types.Image:
    """Load the PNG at `path` as an image packed into this file."""
    image = bpy.data.images.load(str(path), check_existing=True)
    image.name = f"Reference {submission_id[:8]}"
    if image.packed_file is None:
        image.pack()
    reference_status[submission_id] = f"Loaded as \"{image.name}\""
    return image


def _download_reference(submission_id: str) -> None:
    from . import background, preferences

    runtime.get().set_config(preferences.client_config())
    destination = references_dir() / f"{submission_id}.png"

    def download(client: ThrixelClient, cancel: threading.Event) -> Path:
        return client.download_reference(submission_id, destination, cancel=cancel)

    def loaded(path: Path) -> None:
        load_reference(submission_id, Path(path))

    def failed(message: str, error: ThrixelError | None) -> None:
        text = messages.user_message(error, action="Load Reference Image") if error else message
        reference_status[submission_id] = text
        log.warning("Downloading the reference image of %s failed: %s", submission_id, text)

    reference_status[submission_id] = "Downloading"
    background.get().call(download, loaded, failed, key=f"reference:{submission_id}")


classes = (
    THRIXEL_OT_detail_selected,
    THRIXEL_OT_remesh_selected,
    THRIXEL_OT_retexture_selected,
    THRIXEL_OT_restore_sources,
    THRIXEL_OT_show_result,
    THRIXEL_OT_load_reference_image,
)
