"""Start and retry detail, remesh and retexture jobs for the selected objects (main thread).

Everything a job needs from the scene is captured here before it starts: the checked request,
the exported GLB for scene meshes, and the source objects that the result will replace, with
their node names and world matrices. The request is also saved beside the upload, so Retry can
send it again after Blender restarts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from pathlib import Path

import bpy

from . import preferences, props, runtime, tracking
from .client.uploads import format_bytes
from .detail_requests import (
    PLACEHOLDER_PARENT_ID,
    detail_request,
    remesh_request,
    retexture_request,
)
from .detail_submit import SavedRequest, SubmitSelected, UploadPlan
from .importer import PROP_NODE_NAME
from .jobs import recovery
from .messages import UserFacingError
from .selection_export import (
    SelectionError,
    SelectionInfo,
    export_glb,
    inspect_selection,
    model_objects,
    submission_family,
    uploads_dir,
)

log = logging.getLogger(__name__)

KIND_LABELS = {"detail": "Detail", "remesh": "Remesh", "retexture": "Retexture"}
RESULT_DOWNLOADS = ("glb", "reference_image")
"""The model, then the reference image that guided it, for Load Reference Image."""
MAX_TASK_NAMES = 20
"""Object names listed in the upload's task label."""


# ---------------------------------------------------------------------------------------------
# What the selection allows


def detail_problem(info: SelectionInfo) -> str | None:
    """Why Detail cannot run on the selection, or None."""
    return info.problem


def phase4_problem(info: SelectionInfo, kind: str) -> str | None:
    """Why Remesh or Retexture cannot run on the selection, or None."""
    if info.problem:
        return info.problem
    label = KIND_LABELS[kind]
    if info.untagged:
        return (
            f"\"{info.untagged[0]}\" was not imported from Thrixel. {label} works on detail "
            "results only: use Detail first."
        )
    if len(info.submission_ids) > 1:
        return (
            f"The selection mixes parts of {len(info.submission_ids)} models. Select parts of "
            f"one model to {label.lower()} it."
        )
    if info.phase != 4:
        return (
            f"{label} works on detail results (phase 4) only, and the selected model is phase "
            f"{info.phase}. Detail it first."
        )
    return None


# ---------------------------------------------------------------------------------------------
# Starting jobs


def start_detail(context: bpy.types.Context) -> str:
    """Start detailing the selection; returns the message to report."""
    info = inspect_selection(context)
    if info.problem:
        raise SelectionError(info.problem)
    options = props.context_settings(context).detail
    selected = _objects(info.usable)
    if info.submission_id and not options.use_scene_geometry:
        return _start_detail_submission(context, info.submission_id, selected)
    return _start_detail_upload(context, selected)


def _start_detail_submission(
    context: bpy.types.Context, submission_id: str, selected: list[bpy.types.Object]
) -> str:
    options = props.context_settings(context).detail
    focus = tagged_node_names(selected)
    request = detail_request(options, submission_id, focus)
    sources = submission_objects(_view_layer(context), selected)
    _start(
        props.context_scene(context),
        kind="detail",
        prompt=request.prompt or "",
        saved=SavedRequest("detail", request.to_json()),
        sources=sources,
        node_of={obj.name: str(obj.get(PROP_NODE_NAME, "")) for obj in sources},
        focused=selected,
    )
    return f"Detailing {_count(selected, 'part')} of the model. Progress shows in the Jobs panel."


def _start_detail_upload(context: bpy.types.Context, selected: list[bpy.types.Object]) -> str:
    options = props.context_settings(context).detail
    # Check every option before the export, so a bad value costs no export time.
    request = detail_request(options, PLACEHOLDER_PARENT_ID, [])
    if options.scope == 'MODEL':
        exported_objects = model_objects(_view_layer(context), selected)
    else:
        exported_objects = selected
    path = uploads_dir() / f"{uuid.uuid4().hex}.glb"
    exported = export_glb(context, exported_objects, selected, path)
    try:
        request.focus_on_node_names = exported.focus_node_names
        body = request.to_json()
        del body["parent_submission_id"]
        upload = UploadPlan(path, _task_label(exported_objects), request.project_id, exported.size)
        _start(
            props.context_scene(context),
            kind="detail",
            prompt=request.prompt or "",
            saved=SavedRequest("detail", body, upload),
            sources=exported_objects,
            node_of=exported.node_of_object,
            focused=selected,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return (
        f"Uploading {_count(exported_objects, 'object')} ({format_bytes(exported.size)}) for "
        "detailing. Progress shows in the Jobs panel."
    )


def start_remesh(context: bpy.types.Context) -> str:
    """Start remeshing the model of the selection; returns the message to report."""
    info, selected = _phase4_selection(context, "remesh")
    request = remesh_request(props.context_settings(context).detail, info.submission_id or "")
    sources = submission_objects(_view_layer(context), selected)
    _start(
        props.context_scene(context),
        kind="remesh",
        prompt="",
        saved=SavedRequest("remesh", request.to_json()),
        sources=sources,
        node_of={obj.name: str(obj.get(PROP_NODE_NAME, "")) for obj in sources},
        focused=selected,
    )
    return "Remeshing the model. Progress shows in the Jobs panel."


def start_retexture(context: bpy.types.Context) -> str:
    """Start retexturing the selected parts; returns the message to report."""
    info, selected = _phase4_selection(context, "retexture")
    options = props.context_settings(context).detail
    apply_to = tagged_node_names(selected)
    request = retexture_request(options, info.submission_id or "", apply_to)
    sources = submission_objects(_view_layer(context), selected)
    _start(
        props.context_scene(context),
        kind="retexture",
        prompt="",
        saved=SavedRequest("retexture", request.to_json()),
        sources=sources,
        node_of={obj.name: str(obj.get(PROP_NODE_NAME, "")) for obj in sources},
        focused=selected,
    )
    return f"Retexturing {_count(selected, 'part')}. Progress shows in the Jobs panel."


def _phase4_selection(
    context: bpy.types.Context, kind: str
) -> tuple[SelectionInfo, list[bpy.types.Object]]:
    info = inspect_selection(context)
    problem = phase4_problem(info, kind)
    if problem:
        raise SelectionError(problem)
    return info, _objects(info.usable)


def _start(
    scene: bpy.types.Scene,
    *,
    kind: str,
    prompt: str,
    saved: SavedRequest,
    sources: list[bpy.types.Object],
    node_of: dict[str, str],
    focused: list[bpy.types.Object],
) -> str:
    """Add the job record with its sources, save the request and start following it."""
    runtime.get().set_config(preferences.client_config())
    settings = props.scene_settings(scene)
    record = settings.add_job(kind=kind, prompt=prompt, phase=4)
    record_id = str(record.job_id)
    record.nickname = _label(kind, focused)
    record.parent_submission_id = str(saved.body.get("parent_submission_id", ""))
    focused_names = {obj.name for obj in focused}
    for obj in sources:
        item = record.sources.add()
        item.source_object = obj
        item.object_name = obj.name
        item.node_name = node_of.get(obj.name, "")
        item.focused = obj.name in focused_names
        item.set_matrix(obj.matrix_world)
    request_path = request_file(record_id)
    try:
        saved.write(request_path)
        _follow(record_id, saved, upload_id=None)
    except BaseException:
        settings.remove_job(record_id)
        request_path.unlink(missing_ok=True)
        raise
    log.info("Started %s job %s on %d source objects", kind, record_id, len(sources))
    return record_id


def _follow(
    record_id: str, saved: SavedRequest, upload_id: str | None, *, adopt_since: str = ""
) -> None:
    known_ids = frozenset(
        submission_id
        for _, record in props.all_jobs()
        for submission_id in (record.submission_id, record.upload_submission_id)
    )
    submit = SubmitSelected(
        record_id,
        saved,
        upload_id,
        adopt_since=recovery.parse_timestamp(adopt_since),
        known_ids=known_ids - {""},
        request_path=request_file(record_id),
    )
    runtime.get().follow(
        record_id,
        submit=submit,
        submission_id=None,
        dest_dir=tracking.results_dir(record_id),
        downloads=RESULT_DOWNLOADS,
    )


# ---------------------------------------------------------------------------------------------
# Retry


def resubmit(scene: bpy.types.Scene, record: props.THRIXEL_PG_job) -> None:
    """Send a failed or cancelled job's saved request again, reusing its upload if it has one.

    An upload whose id never reached the record (the job was cancelled or the file closed
    while it was sent) is found in the saved request, or on the service, before the exported
    file is uploaded again. Raises UserFacingError when the saved request is gone.
    """
    path = request_file(record.job_id)
    try:
        saved = SavedRequest.read(path)
    except (OSError, ValueError, KeyError) as error:
        log.warning("Saved request %s cannot be read: %s", path, error)
        raise UserFacingError(
            "The request of this job is no longer saved on this computer, so it cannot be "
            "sent again. Select the objects and send them again from the Selected panel."
        ) from None
    upload_id = record.upload_submission_id or saved.upload_id
    runtime.get().set_config(preferences.client_config())
    record.upload_submission_id = upload_id or ""
    record.submission_id = ""
    record.remote_status = ""
    record.status = "submitting"
    record.progress = 0.0
    record.message = "Sending the request again"
    # The failed attempt may have created its submission after all: Retry takes it over.
    _follow(record.job_id, saved, upload_id, adopt_since=record.created)


def request_file(record_id: str) -> Path:
    """Return the path where a job's request is saved for Retry."""
    return uploads_dir() / f"{record_id}.json"


def save_request(record_id: str, saved: SavedRequest) -> bool:
    """Save a job's request for Retry in the extension's user folder; False when it failed.

    The request stays out of the .blend file, because reference images can be megabytes.
    """
    path = request_file(record_id)
    try:
        saved.write(path)
    except OSError as error:
        log.warning("Could not save the request of job %s to %s: %s", record_id, path, error)
        return False
    return True


def read_request(record_id: str) -> SavedRequest | None:
    """Return a job's saved request, or None when it is missing or unreadable."""
    path = request_file(record_id)
    try:
        return SavedRequest.read(path)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError) as error:
        log.warning("Saved request %s cannot be read: %s", path, error)
        return None


def forget_request(record_id: str) -> None:
    """Delete a job's saved request and any upload left from it.

    Called when a result is placed and when the job is removed from the list.
    """
    path = request_file(record_id)
    try:
        saved = SavedRequest.read(path)
    except (OSError, ValueError, KeyError):
        saved = None
    if saved is not None and saved.upload is not None:
        saved.upload.path.unlink(missing_ok=True)
    path.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Helpers


def submission_objects(
    view_layer: bpy.types.ViewLayer, anchors: Iterable[bpy.types.Object]
) -> list[bpy.types.Object]:
    """Return the visible objects of the imported models that `anchors` are part of."""
    members: dict[str, bpy.types.Object] = {}
    for anchor in anchors:
        for obj in submission_family(view_layer, anchor):
            members.setdefault(obj.name, obj)
    return [
        obj
        for obj in sorted(members.values(), key=lambda item: item.name)
        if obj.visible_get(view_layer=view_layer)
    ]


def tagged_node_names(objects: Iterable[bpy.types.Object]) -> list[str]:
    """Return the original glTF node names kept on imported objects, each once, in order."""
    names: list[str] = []
    for obj in objects:
        name = str(obj.get(PROP_NODE_NAME, "") or "")
        if not name:
            raise SelectionError(
                f"\"{obj.name}\" does not record which part of the model it is, so it cannot be "
                "named to the service. Turn on \"Send Scene Geometry\" to upload it instead."
            )
        if name not in names:
            names.append(name)
    return names


def _view_layer(context: bpy.types.Context) -> bpy.types.ViewLayer:
    view_layer = context.view_layer
    if view_layer is None:
        raise SelectionError("There is no view layer to send objects from. Open a 3D viewport.")
    return view_layer


def _objects(names: Iterable[str]) -> list[bpy.types.Object]:
    return [bpy.data.objects[name] for name in names]


def _label(kind: str, focused: list[bpy.types.Object]) -> str:
    first = focused[0].name if focused else "model"
    more = f" +{len(focused) - 1}" if len(focused) > 1 else ""
    return f"{KIND_LABELS[kind]} {first}{more}"


def _task_label(objects: list[bpy.types.Object]) -> str:
    names = [obj.name for obj in objects]
    text = "Blender selection: " + ", ".join(names[:MAX_TASK_NAMES])
    if len(names) > MAX_TASK_NAMES:
        text += f" and {len(names) - MAX_TASK_NAMES} more"
    return text[:2000]


def _count(objects: list[bpy.types.Object], noun: str) -> str:
    return f"{len(objects)} {noun}{'s' if len(objects) != 1 else ''}"
