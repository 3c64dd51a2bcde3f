"""The pump: the one timer that applies job events to the scene on the main thread.

Workers only put events on queues. The pump drains them within a time budget, updates the job
records, imports finished models and tags the 3D viewports for redraw. It does no network I/O
and never waits. Timers do not fire in background Blender, so tests call `pump()` directly.
"""

from __future__ import annotations

import logging
import queue
import time
from pathlib import Path

import bpy

from . import importer, library_pump, messages, props, results, runtime, tracking
from .jobs import JobEvent

log = logging.getLogger(__name__)

TIME_BUDGET_SECONDS = 0.02
"""Time a tick may spend on events; an import always ends the tick, since it takes longer."""
BUSY_INTERVAL_SECONDS = 0.1
IDLE_INTERVAL_SECONDS = 0.5


def pump() -> float:
    """Timer callback: apply pending events and return the delay until the next tick."""
    try:
        drain()
    except Exception:
        # A timer that raises is dropped by Blender, which would freeze every job's progress.
        log.exception("The job pump failed; it keeps running")
    state = runtime.get()
    busy = state.has_runner() and not state.runner.events.empty()
    busy = busy or library_pump.busy()
    return BUSY_INTERVAL_SECONDS if busy else IDLE_INTERVAL_SECONDS


def drain(budget: float = TIME_BUDGET_SECONDS) -> int:
    """Apply queued events until the queue is empty or `budget` seconds have passed.

    Returns how many job events were applied.
    """
    state = runtime.get()
    _apply_check_results(state)
    library_pump.step(budget)
    if state.resume_pending:
        tracking.resume_all()
    if not state.has_runner():
        return 0
    if _import_deferred(state):
        tag_redraw('VIEW_3D')
        return 1

    applied = 0
    deadline = time.monotonic() + budget
    while applied == 0 or time.monotonic() < deadline:
        try:
            event = state.runner.events.get_nowait()
        except queue.Empty:
            break
        applied += 1
        if _apply_event_safely(state, event):
            break
    if applied:
        tag_redraw('VIEW_3D')
    return applied


def _apply_event_safely(state: runtime.Runtime, event: JobEvent) -> bool:
    """Apply one event; a failure fails its record instead of leaving the job stuck.

    An event that raises is consumed, so the record would otherwise keep its old status with
    no run behind it, and Retry would refuse it as still running.
    """
    try:
        return _apply_event(state, event)
    except Exception as error:
        # user_message logs an unexpected error with its traceback.
        action = "Importing the model" if event.kind == "completed" else "Updating the job"
        message = messages.user_message(error, action=action, in_job=True)
        log.warning("Applying a %s event of run %s failed: %s", event.kind, event.job_id, error)
        _fail_run(state, event.job_id, message)
        return event.kind == "completed"


def _fail_run(state: runtime.Runtime, run_id: str, message: str) -> None:
    """Stop run `run_id` and mark its record failed with `message`, so Retry is offered."""
    record_id = state.record_of_run(run_id)
    state.runner.cancel(run_id)
    state.forget_run(run_id)
    found = props.find_job(record_id) if record_id is not None else None
    if found is None:
        return
    _scene, record = found
    if record.imported:
        # The model is in the scene; failing the record would offer a second import.
        return
    record.status = "failed"
    record.message = message


def _apply_event(state: runtime.Runtime, event: JobEvent) -> bool:
    """Apply one event to its record; returns True when it imported a model."""
    record_id = state.record_of_run(event.job_id)
    if record_id is None:
        log.debug("Ignoring a %s event of a forgotten run", event.kind)
        return False
    found = props.find_job(record_id)
    if found is None:
        # The record was removed or undone, so the run has no record to update any more.
        state.runner.cancel(event.job_id)
        state.forget_run(event.job_id)
        return False
    scene, record = found
    if event.kind == "completed" and not _can_import():
        _defer_import(state, record, event)
        return False

    if event.kind in ("completed", "failed", "cancelled"):
        state.forget_run(event.job_id)
    if event.submission_id and not record.submission_id:
        record.submission_id = event.submission_id
    if event.status:
        record.remote_status = event.status

    if event.kind == "completed":
        _import_result(scene, record, event)
        return True
    _APPLIERS.get(event.kind, _apply_nothing)(record, event)
    return False


# Importing changes the mode and the active object, so it waits while the user is in Edit
# Mode, Sculpt Mode or any other mode but Object Mode.

_MODE_NAMES = {
    "SCULPT": "Sculpt Mode",
    "PAINT_WEIGHT": "Weight Paint",
    "PAINT_VERTEX": "Vertex Paint",
    "PAINT_TEXTURE": "Texture Paint",
    "POSE": "Pose Mode",
}


def _can_import() -> bool:
    return bpy.context.mode == 'OBJECT'


def _mode_name() -> str:
    mode = bpy.context.mode
    return "Edit Mode" if mode.startswith("EDIT") else _MODE_NAMES.get(mode, "another mode")


def _defer_import(state: runtime.Runtime, record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    """Keep a finished run's files until Object Mode; the run stays followed meanwhile."""
    if event.submission_id and not record.submission_id:
        record.submission_id = event.submission_id
    record.remote_status = "completed"
    record.status = "downloading"
    record.progress = 1.0
    record.message = (
        f"Downloaded. The model is imported when you return to Object Mode "
        f"(the viewport is in {_mode_name()})."
    )
    if event.job_id not in state.deferred_imports:
        log.info("Import for job %s waits for Object Mode", record.job_id)
    state.deferred_imports[event.job_id] = event


def _import_deferred(state: runtime.Runtime) -> bool:
    """Import one result that waited for Object Mode; returns True when one was applied."""
    if not state.deferred_imports or not _can_import():
        return False
    run_id = next(iter(state.deferred_imports))
    event = state.deferred_imports.pop(run_id)
    _apply_event_safely(state, event)
    return True


def _apply_queued(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    record.message = event.message or "Waiting for a free slot"


def _display_status(remote_status: str) -> str:
    # A completed submission still has its download and import ahead on this side.
    return "downloading" if remote_status == "completed" else remote_status


def _apply_submitted(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    record.status = _display_status(event.status or "queued")
    record.message = "Submitted"
    log.info("Job %s is submission %s", record.job_id, record.submission_id)


def _apply_status(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    if event.status:
        record.status = _display_status(event.status)


def _apply_progress(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    if event.progress is not None:
        record.progress = min(1.0, max(0.0, event.progress))
        if record.status in ("queued", "submitting"):
            record.status = "processing"
    if event.message:
        record.message = event.message


def _apply_message(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    if event.message:
        record.message = event.message


def _apply_failed(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    record.status = "failed"
    if event.error is not None:
        record.message = messages.user_message(event.error, action="Following the job", in_job=True)
    else:
        record.message = messages.user_message(
            messages.UserFacingError(event.message or "The job failed without a reason."),
            action="Following the job",
            in_job=True,
        )
    log.warning("Job %s failed: %s", record.job_id, record.message)


def _apply_cancelled(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    record.status = "cancelled"
    record.message = "Stopped following. The service may still finish the submission."


def _apply_uploaded(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    # The upload is a submission of its own; keeping its id lets Retry skip uploading again.
    if isinstance(event.payload, str):
        record.upload_submission_id = event.payload
    record.message = event.message or "Uploaded"


def _apply_nothing(record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    log.debug("Ignoring a %s event for job %s", event.kind, record.job_id)


_APPLIERS = {
    "queued": _apply_queued,
    "submitted": _apply_submitted,
    "status": _apply_status,
    "progress": _apply_progress,
    "message": _apply_message,
    "failed": _apply_failed,
    "cancelled": _apply_cancelled,
    "uploaded": _apply_uploaded,
}


def _import_result(scene: bpy.types.Scene, record: props.THRIXEL_PG_job, event: JobEvent) -> None:
    record.remote_status = "completed"
    record.progress = 1.0
    glb = event.files.get("glb")
    if not glb:
        record.status = "failed"
        record.message = "The service finished, but no model file was downloaded. Retry the job."
        return
    try:
        model = results.place_result(scene, record, Path(glb))
    except importer.ImportFailed as error:
        record.status = "failed"
        record.message = str(error)
        log.warning("Import for job %s failed: %s", record.job_id, error)
        return
    except Exception as error:
        # A bug in a placer must fail the job with a Retry, not leave it downloading forever.
        record.status = "failed"
        record.message = messages.user_message(error, action="Importing the model", in_job=True)
        return
    record.status = "completed"
    record.imported = True
    record.collection_name = model.collection_name
    runtime.get().imported_records.add(record.job_id)
    # Changes made from a timer get no undo step of their own; this one lets Ctrl+Z remove
    # just the imported model.
    if bpy.ops.ed.undo_push.poll():  # type: ignore[call-arg]
        bpy.ops.ed.undo_push(message="Import Thrixel Model")
    _remove_download(Path(glb))
    count = len(model.object_names)
    record.message = f"Imported {count} object{'s' if count != 1 else ''} into " + (
        f"\"{model.collection_name}\""
    )
    note = getattr(model, "note", "")
    if note:
        record.message += f". {note}"


def _remove_download(path: Path) -> None:
    """Delete an imported GLB and its job folder; the service keeps the model for re-download."""
    try:
        path.unlink(missing_ok=True)
        path.parent.rmdir()
    except OSError as error:
        # A folder that still contains other files (a thumbnail, say) stays, and nothing depends
        # on the deletion.
        log.debug("Kept %s after import: %s", path.parent, error.strerror)


def _apply_check_results(state: runtime.Runtime) -> None:
    changed = False
    while True:
        try:
            status = state.check_results.get_nowait()
        except queue.Empty:
            break
        state.connection_status = status
        changed = True
        log.info("Connection check: %s", status.text)
    if changed:
        tag_redraw('PREFERENCES')


def tag_redraw(area_type: str) -> None:
    """Ask every area of `area_type` in every window to redraw."""
    window_manager = bpy.context.window_manager
    if window_manager is None:
        return
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type == area_type:
                area.tag_redraw()


def register() -> None:
    if not bpy.app.timers.is_registered(pump):
        bpy.app.timers.register(pump, first_interval=IDLE_INTERVAL_SECONDS, persistent=True)


def unregister() -> None:
    if bpy.app.timers.is_registered(pump):
        bpy.app.timers.unregister(pump)
