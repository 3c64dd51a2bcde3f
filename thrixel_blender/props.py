"""Scene properties: the Generate form and one record per job.

Everything lives under one pointer, `Scene.thrixel`, so a file saved mid-job keeps its job
records and resumes following them when opened again. No secret is ever stored here.
"""

from __future__ import annotations

import time
import uuid
from typing import cast

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    FloatProperty,
    FloatVectorProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)
from bpy.types import PropertyGroup

from .detail_props import THRIXEL_PG_detail_options, THRIXEL_PG_job_source
from .library_props import THRIXEL_PG_library_scene

STOPPED_STATUSES = frozenset({"failed", "cancelled", "ready"})
"""Statuses after which nothing happens to a job until the user acts. "ready" is a finished
model that is not in the scene (its import was undone) and waits for Import. A completed job
is finished once imported; any other status, unknown ones included, means the job is still
followed."""


class THRIXEL_PG_job(PropertyGroup):
    """One remote job followed from this scene."""

    job_id: StringProperty(name="Job ID", description="Local id of this job record")
    kind: StringProperty(name="Kind", default="generate")
    submission_id: StringProperty(
        name="Submission ID", description="The service's id of the submission, once known"
    )
    status: StringProperty(
        name="Status",
        description="Where the job stands: the service's status, or submitting, downloading, "
        "failed or cancelled on this side",
        default="submitting",
    )
    remote_status: StringProperty(
        name="Service Status", description="The last status the service reported"
    )
    progress: FloatProperty(name="Progress", min=0.0, max=1.0, subtype='FACTOR')
    message: StringProperty(name="Message", description="Last message about this job")
    prompt: StringProperty(name="Prompt")
    nickname: StringProperty(name="Nickname")
    phase: IntProperty(name="Phase", min=0, max=5)
    collection_name: StringProperty(
        name="Collection", description="Collection that contains the imported model"
    )
    imported: BoolProperty(name="Imported")
    created: StringProperty(name="Created", description="When the job was started, ISO 8601 in UTC")
    placement: FloatVectorProperty(
        name="Placement",
        description="Where the 3D cursor was when the job started: a new model is placed there",
        size=3,
        subtype='TRANSLATION',
    )
    has_placement: BoolProperty(
        name="Has Placement",
        description="Whether Placement was recorded; records from older files place the model "
        "at the 3D cursor instead",
    )
    # Detail, remesh and retexture jobs: what the result replaces, and where the work started.
    sources: CollectionProperty(type=THRIXEL_PG_job_source)
    sources_hidden: BoolProperty(
        name="Sources Hidden", description="Whether the result currently hides its sources"
    )
    parent_submission_id: StringProperty(
        name="Parent Submission ID", description="The submission the job works on"
    )
    upload_submission_id: StringProperty(
        name="Upload Submission ID",
        description="The upload (phase 5) submission made from the selection, once uploaded",
    )

    @property
    def label(self) -> str:
        """What the job is called in the interface: the nickname, else the prompt."""
        return self.nickname or self.prompt or self.submission_id or "Untitled job"

    @property
    def is_active(self) -> bool:
        """Whether the job still waits on the service or on the import."""
        if self.status == "completed":
            return not self.imported
        return self.status not in STOPPED_STATUSES


class THRIXEL_PG_scene(PropertyGroup):
    """The Generate form and the scene's job records."""

    prompt: StringProperty(name="Prompt", description="Describe the model to generate")
    adaptive_thinking: BoolProperty(
        name="Adaptive Thinking",
        description="Run a deeper reasoning pass: slower, but higher quality",
    )
    model_override: StringProperty(
        name="Model Override",
        description="Name of the language model to use instead of the service's default. "
        "Leave empty for the default",
    )
    jobs: CollectionProperty(type=THRIXEL_PG_job)
    detail: PointerProperty(type=THRIXEL_PG_detail_options)
    library: PointerProperty(type=THRIXEL_PG_library_scene)

    def add_job(self, *, kind: str, prompt: str, phase: int) -> THRIXEL_PG_job:
        """Append a new job record in the submitting state."""
        record: THRIXEL_PG_job = self.jobs.add()
        record.job_id = uuid.uuid4().hex
        record.kind = kind
        record.prompt = prompt
        record.phase = phase
        record.status = "submitting"
        record.message = "Sending the request"
        record.created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        scene = self.id_data
        if isinstance(scene, bpy.types.Scene):
            record.placement = scene.cursor.location
            record.has_placement = True
        return record

    def find_job(self, job_id: str) -> THRIXEL_PG_job | None:
        record: THRIXEL_PG_job
        for record in self.jobs:
            if record.job_id == job_id:
                return record
        return None

    def remove_job(self, job_id: str) -> bool:
        for index, record in enumerate(self.jobs):
            if record.job_id == job_id:
                self.jobs.remove(index)
                return True
        return False


def scene_settings(scene: bpy.types.Scene) -> THRIXEL_PG_scene:
    """Return the add-on's properties of `scene`."""
    return cast(THRIXEL_PG_scene, scene.thrixel)  # type: ignore[attr-defined]


def context_settings(context: bpy.types.Context) -> THRIXEL_PG_scene:
    """Return the add-on's properties of the context's scene."""
    return scene_settings(context_scene(context))


def context_scene(context: bpy.types.Context) -> bpy.types.Scene:
    scene = context.scene
    if scene is None:
        # Operators and panels of the 3D viewport always run with a scene.
        raise RuntimeError("The context has no scene")
    return scene


def find_job(job_id: str) -> tuple[bpy.types.Scene, THRIXEL_PG_job] | None:
    """Find a job record by its local id in any scene of the open file."""
    for scene in bpy.data.scenes:
        record = scene_settings(scene).find_job(job_id)
        if record is not None:
            return scene, record
    return None


def all_jobs() -> list[tuple[bpy.types.Scene, THRIXEL_PG_job]]:
    """Return every job record of the open file, with its scene."""
    return [(scene, record) for scene in bpy.data.scenes for record in scene_settings(scene).jobs]


classes = (THRIXEL_PG_job, THRIXEL_PG_scene)


def register() -> None:
    bpy.types.Scene.thrixel = PointerProperty(type=THRIXEL_PG_scene)  # type: ignore[attr-defined]


def unregister() -> None:
    del bpy.types.Scene.thrixel  # type: ignore[attr-defined]
