"""Operators: generate a model, cancel, retry or remove a job, check the connection."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bpy.props import StringProperty
from bpy.types import Context, Operator

from . import (
    detail_jobs,
    image_inputs,
    messages,
    preferences,
    props,
    results,
    runtime,
    tracking,
)
from .client import Phase1Request, ThrixelClient
from .client.errors import ValidationError
from .client.validation import validate_id
from .detail_submit import SavedRequest

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

log = logging.getLogger(__name__)


def network_ready(cls: type[Operator]) -> bool:
    """Poll helper for operators that send requests; explains in the tooltip when they can't."""
    problem = preferences.blocked_reason()
    if problem:
        cls.poll_message_set(problem)
        return False
    return True


def _find_record(operator: Operator, context: Context, job_id: str) -> props.THRIXEL_PG_job | None:
    record = props.context_settings(context).find_job(job_id)
    if record is None:
        operator.report({'ERROR'}, f"No job with id \"{job_id}\" in this scene.")
    return record


class THRIXEL_OT_generate_model(Operator):
    """Generate a 3D model from the prompt with Thrixel and import it at the 3D cursor"""

    bl_idname = "thrixel.generate_model"
    bl_label = "Generate"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        settings = props.context_settings(context)
        prompt = settings.prompt.strip()
        if not prompt and len(settings.library.image_inputs) == 0:
            self.report(
                {'ERROR'},
                "The prompt is empty. Describe the model or add a reference image, "
                "then press Generate.",
            )
            return {'CANCELLED'}
        try:
            request, images = image_inputs.build_phase1_request(props.context_scene(context))
            record_id = tracking.start_generate(props.context_scene(context), request)
            detail_jobs.save_request(record_id, SavedRequest("generate", request.to_json()))
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Generate"))
            return {'CANCELLED'}
        self.report(
            {'INFO'},
            f"Submitted \"{_shorten(prompt or 'reference images')}\". "
            + image_inputs.describe_sent(images)
            + "Progress shows in the Jobs panel.",
        )
        return {'FINISHED'}


class THRIXEL_OT_cancel_job(Operator):
    """Stop following this job. Work already sent keeps running on the service"""

    bl_idname = "thrixel.cancel_job"
    bl_label = "Cancel Job"
    bl_options = {'REGISTER', 'INTERNAL'}

    job_id: StringProperty(name="Job ID", options={'SKIP_SAVE'})

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        record = _find_record(self, context, self.job_id)
        if record is None:
            return {'CANCELLED'}
        if not record.is_active:
            self.report({'WARNING'}, f"The job \"{_shorten(record.label)}\" is not running.")
            return {'CANCELLED'}
        # The runner also queues a "cancelled" event. Setting the state here shows it at once
        # and also covers a record that no run follows, such as one paused while offline.
        runtime.get().cancel(record.job_id)
        record.status = "cancelled"
        record.message = "Stopped following. The service may still finish the submission."
        self.report({'INFO'}, f"Stopped following \"{_shorten(record.label)}\".")
        return {'FINISHED'}


class THRIXEL_OT_retry_job(Operator):
    """Try this job again: follow its submission again, or send it again if it failed remotely"""

    bl_idname = "thrixel.retry_job"
    bl_label = "Retry Job"
    bl_options = {'REGISTER', 'INTERNAL'}

    job_id: StringProperty(name="Job ID", options={'SKIP_SAVE'})

    @classmethod
    def poll(cls, context: Context) -> bool:
        return network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        record = _find_record(self, context, self.job_id)
        if record is None:
            return {'CANCELLED'}
        if record.is_active:
            self.report({'WARNING'}, f"The job \"{_shorten(record.label)}\" is still running.")
            return {'CANCELLED'}
        # A Generate retry replaces the record, so its label is read first.
        label = record.label
        try:
            self._retry(context, record)
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Retry"))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Trying \"{_shorten(label)}\" again.")
        return {'FINISHED'}

    def _retry(self, context: Context, record: props.THRIXEL_PG_job) -> None:
        if _valid_id(record.submission_id) and record.remote_status != "failed":
            # The submission exists and did not fail on the service: only following it, the
            # download or the import failed here, and sending it again would duplicate it.
            tracking.follow_submission(record)
            return
        resubmit = results.RESUBMITTERS.get(record.kind)
        if resubmit is not None:
            resubmit(props.context_scene(context), record)
            return
        request = _saved_generate_request(context, record)
        request.validate()
        old_id = record.job_id
        placement = (record.placement[:], record.has_placement)
        # Without a submission id, the earlier attempt may still have reached the service.
        adopt_since = None if record.submission_id else record.created
        new_id = tracking.start_generate(
            props.context_scene(context), request, adopt_since=adopt_since
        )
        settings = props.context_settings(context)
        new_record = settings.find_job(new_id)
        if new_record is not None and placement[1]:
            # The model goes where the cursor was for the first attempt.
            new_record.placement = placement[0]
        detail_jobs.save_request(new_id, SavedRequest("generate", request.to_json()))
        detail_jobs.forget_request(old_id)
        settings.remove_job(old_id)


def _saved_generate_request(context: Context, record: props.THRIXEL_PG_job) -> Phase1Request:
    """Return the request a Generate job was started with, reference images included.

    A job started before requests were saved (or whose saved request was deleted) is sent
    again from its prompt with the current Generate settings, which is only faithful when
    it had no reference images.
    """
    saved = detail_jobs.read_request(record.job_id)
    if saved is not None and saved.kind == "generate":
        return Phase1Request(**saved.body)
    if not record.prompt:
        raise messages.UserFacingError(
            "The reference images of this job are no longer saved on this computer, so it "
            "cannot be sent again. Add the images again and press Generate."
        )
    settings = props.context_settings(context)
    return Phase1Request(
        task=record.prompt,
        model=settings.model_override.strip() or None,
        adaptive_thinking=settings.adaptive_thinking,
    )


class THRIXEL_OT_import_result(Operator):
    """Download this job's finished model again and import it. Nothing is sent to be made again"""

    bl_idname = "thrixel.import_result"
    bl_label = "Import Result"
    bl_options = {'REGISTER', 'INTERNAL'}

    job_id: StringProperty(name="Job ID", options={'SKIP_SAVE'})

    @classmethod
    def poll(cls, context: Context) -> bool:
        return network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        record = _find_record(self, context, self.job_id)
        if record is None:
            return {'CANCELLED'}
        if record.is_active or record.imported or record.remote_status != "completed":
            self.report(
                {'WARNING'},
                f"The job \"{_shorten(record.label)}\" has no finished model waiting to be "
                "imported.",
            )
            return {'CANCELLED'}
        try:
            tracking.follow_submission(record)
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Import"))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Importing \"{_shorten(record.label)}\".")
        return {'FINISHED'}


class THRIXEL_OT_remove_job(Operator):
    """Remove this finished job from the list. Imported objects stay in the scene"""

    bl_idname = "thrixel.remove_job"
    bl_label = "Remove Job"
    bl_options = {'REGISTER', 'INTERNAL'}

    job_id: StringProperty(name="Job ID", options={'SKIP_SAVE'})

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        record = _find_record(self, context, self.job_id)
        if record is None:
            return {'CANCELLED'}
        if record.is_active:
            self.report({'WARNING'}, "Cancel the job before removing it from the list.")
            return {'CANCELLED'}
        props.context_settings(context).remove_job(self.job_id)
        # Without the record nothing can Retry the job, so its saved request and upload go too.
        detail_jobs.forget_request(self.job_id)
        return {'FINISHED'}


class THRIXEL_OT_check_connection(Operator):
    """Check that the service can be reached and accepts the API key"""

    bl_idname = "thrixel.check_connection"
    bl_label = "Check Connection"
    bl_options = {'REGISTER', 'INTERNAL'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        try:
            config = preferences.client_config()
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Check Connection"))
            return {'CANCELLED'}
        state = runtime.get()
        state.connection_status = runtime.ConnectionStatus(
            f"Checking {config.host}…", ok=True, base_url=config.base_url
        )
        state.start_check(config, _check_key)
        self.report({'INFO'}, f"Checking the connection to {config.host}.")
        return {'FINISHED'}


def _check_key(client: ThrixelClient) -> str:
    """Send one authenticated request; runs on the check's worker thread."""
    client.list_submissions(limit=1)
    return f"Connected to {client.config.host}; the API key is accepted."


def _valid_id(value: str) -> bool:
    """Return whether `value` is a usable id. A damaged id saved in a file is not usable, so
    Retry sends the request again."""
    try:
        validate_id(value, "submission_id")
    except ValidationError:
        return False
    return True


def _shorten(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


classes = (
    THRIXEL_OT_generate_model,
    THRIXEL_OT_cancel_job,
    THRIXEL_OT_retry_job,
    THRIXEL_OT_import_result,
    THRIXEL_OT_remove_job,
    THRIXEL_OT_check_connection,
)
