"""Start, resume and retry following jobs, and the file handlers that keep runs in step.

Job records live on the scene, so they survive saving and reopening; runs live in `runtime`
and do not. When a file is loaded, every run of the previous file is cancelled and forgotten,
and each record of the new file that is still active is followed again from its submission id.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

import bpy
from bpy.app.handlers import persistent

from . import preferences, props, runtime
from .client import Phase1Request, SubmitResult, ThrixelClient
from .client.errors import ThrixelError, ValidationError
from .client.validation import validate_id
from .jobs import recovery

log = logging.getLogger(__name__)

RESULTS_FOLDER = "results"


def results_dir(record_id: str) -> Path:
    """Folder for one job's downloads, inside the extension's user folder when it has one."""
    try:
        base = Path(bpy.utils.extension_path_user(__package__, path=RESULTS_FOLDER, create=True))
    except ValueError:
        # Enabled as a plain add-on (not from an extension repository): no user folder.
        base = Path(tempfile.gettempdir()) / "thrixel_blender" / RESULTS_FOLDER
    folder = base / record_id
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def start_generate(
    scene: bpy.types.Scene, request: Phase1Request, *, adopt_since: str | None = None
) -> str:
    """Add a job record for `request` and start following it; returns the record's id.

    `adopt_since` is the start time (ISO 8601) of an earlier attempt that got no submission
    id: a matching submission created since then is followed instead of submitting again.
    Raises SettingsError when the key or base URL is unusable. Call on the main thread.
    """
    runtime.get().set_config(preferences.client_config())
    known = frozenset(record.submission_id for _, record in props.all_jobs())
    since = recovery.parse_timestamp(adopt_since)

    def submit(client: ThrixelClient, cancel: threading.Event) -> SubmitResult:
        return recovery.submit_once(
            client,
            cancel,
            submit=lambda: client.submit_phase1(request),
            matches=recovery.task_matcher(1, request.task),
            exclude=known,
            adopt_since=since,
        )

    settings = props.scene_settings(scene)
    record = settings.add_job(kind="generate", prompt=request.task or "", phase=1)
    record_id = str(record.job_id)
    try:
        runtime.get().follow(
            record_id,
            submit=submit,
            submission_id=None,
            dest_dir=results_dir(record_id),
        )
    except Exception:
        settings.remove_job(record_id)
        raise
    return record_id


def follow_submission(record: props.THRIXEL_PG_job) -> None:
    """Follow the existing submission of `record` again, through to download and import."""
    validate_id(record.submission_id, "submission_id")
    runtime.get().set_config(preferences.client_config())
    runtime.get().follow(
        record.job_id,
        submit=None,
        submission_id=record.submission_id,
        dest_dir=results_dir(record.job_id),
    )
    if record.remote_status == "completed":
        record.status = "downloading"
    else:
        record.status = record.remote_status or "queued"
        record.progress = 0.0
    record.message = "Following the submission again"


def resume_all() -> None:
    """Follow again every active record of the open file that no run follows yet.

    While online access is off or the settings are incomplete, the records wait with a
    message saying why, and the pump calls this again once that changes.
    """
    state = runtime.get()
    blocked = preferences.blocked_reason()
    for _scene, record in props.all_jobs():
        if not record.is_active or state.is_following(record.job_id):
            continue
        if blocked:
            record.message = "Paused. " + blocked
            continue
        _resume(record)
    state.resume_pending = bool(blocked)


def _resume(record: props.THRIXEL_PG_job) -> None:
    if not record.submission_id:
        try:
            _adopt_unconfirmed(record)
        except Exception:
            log.exception("Could not look for the submission of job %s", record.job_id)
            record.status = "failed"
            record.message = f"{UNCONFIRMED}, and it could not be looked up. Press Retry."
        return
    try:
        follow_submission(record)
    except ValidationError:
        record.status = "failed"
        record.message = (
            f"The saved submission id \"{record.submission_id}\" is not a valid id, so the job "
            "cannot be followed. Press Retry to send the request again."
        )
    except Exception:
        log.exception("Could not resume job %s", record.job_id)
        record.status = "failed"
        record.message = "The job could not be resumed. The details are in the system console."
    else:
        log.info("Resumed job %s for submission %s", record.job_id, record.submission_id)


UNCONFIRMED = "The file was saved before the service confirmed this job"


def _adopt_unconfirmed(record: props.THRIXEL_PG_job) -> None:
    """Follow the submission that an unconfirmed job's request may have created.

    The request may have reached the service before the file was saved, so the key's
    submissions made since the job started are searched for it. When none matches, or the
    job's request cannot be identified, the job fails and Retry sends it (Retry searches too).
    """
    matches = _unconfirmed_matcher(record)
    since = recovery.parse_timestamp(record.created)
    if matches is None or since is None:
        record.status = "failed"
        record.message = f"{UNCONFIRMED}, so there is no submission to follow. Press Retry."
        return
    known = frozenset(other.submission_id for _, other in props.all_jobs()) - {""}

    def adopt(client: ThrixelClient, cancel: threading.Event) -> SubmitResult:
        found = recovery.find_submitted(
            client, since=since, matches=matches, exclude=known, cancel=cancel
        )
        if found is None:
            raise ThrixelError(
                f"{UNCONFIRMED}, and the service has no submission made from it",
                fix="Press Retry to send the request again",
            )
        log.info("Job %s saved unconfirmed is submission %s", record_id, found.submission_id)
        return found

    record_id = str(record.job_id)
    runtime.get().set_config(preferences.client_config())
    runtime.get().follow(
        record_id, submit=adopt, submission_id=None, dest_dir=results_dir(record_id)
    )
    record.status = "submitting"
    record.message = "Looking for the submission this job may have created before it was saved"


def _unconfirmed_matcher(record: props.THRIXEL_PG_job) -> recovery.Matcher | None:
    """Return what the job's submission looks like, or None when that is unknown."""
    # Imported here because detail_jobs imports this module.
    from . import detail_jobs

    saved = detail_jobs.read_request(record.job_id)
    if record.kind == "generate":
        if saved is not None and saved.kind == "generate":
            return recovery.task_matcher(1, saved.body.get("task"))
        return recovery.task_matcher(1, record.prompt or None)
    if saved is None or saved.kind != record.kind:
        return None
    parent_id = record.upload_submission_id or str(saved.body.get("parent_submission_id", ""))
    if not parent_id:
        # An upload that never reported its id: the parent, and so the job, cannot be found.
        return None
    body = {**saved.body, "parent_submission_id": parent_id}
    return recovery.parameters_matcher(record.phase, parent_id, body)


@persistent
def on_load_pre(*_args: object) -> None:
    """Forget the runs of the file being closed; their records go away with it."""
    runtime.get().cancel_all()


@persistent
def on_undo_post(*_args: object) -> None:
    """Settle the records that undo or redo brought back to an earlier, active state.

    The runs do not go back in time with the records. A model the pump imported this session
    is not fetched again behind the user's back: its record offers Import instead. Other
    records follow their submission again, or fail with a Retry when they have none.
    """
    state = runtime.get()
    for _scene, record in props.all_jobs():
        if not record.is_active or state.is_following(record.job_id):
            continue
        if record.job_id in state.imported_records and record.submission_id:
            record.status = "ready"
            record.remote_status = "completed"
            record.progress = 1.0
            record.imported = False
            record.collection_name = ""
            record.message = "The import was undone. Press Import to add the model again."
        elif not record.submission_id:
            record.status = "failed"
            record.message = (
                "This job had ended before the undo, so it is no longer followed. "
                "Press Retry to send it again."
            )
        else:
            state.resume_pending = True


@persistent
def on_load_post(*_args: object) -> None:
    """Resume the active job records of the file just opened."""
    runtime.get().resume_pending = True
    resume_all()


def register() -> None:
    bpy.app.handlers.load_pre.append(on_load_pre)
    bpy.app.handlers.load_post.append(on_load_post)
    bpy.app.handlers.undo_post.append(on_undo_post)
    bpy.app.handlers.redo_post.append(on_undo_post)


def unregister() -> None:
    for handlers, handler in (
        (bpy.app.handlers.redo_post, on_undo_post),
        (bpy.app.handlers.undo_post, on_undo_post),
        (bpy.app.handlers.load_post, on_load_post),
        (bpy.app.handlers.load_pre, on_load_pre),
    ):
        if handler in handlers:
            handlers.remove(handler)
