"""Downloads and conversions to a folder, the model's script as a text, reference images.

Non-GLB model formats go through the service's conversion jobs: queue, poll until ready or
failed, then download; 409 (not ready yet) keeps polling and 410 (failed) ends with an offer to
convert again. The script (`format=py`) is code from the network: it opens in the Text Editor,
marked as downloaded, and the add-on never runs it.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy.types import Context, Event, Operator

from . import library_cache, library_calls, library_props, messages, operators, props
from .client import CONVERT_FORMATS, ThrixelClient
from .client import errors as client_errors
from .library_cache import Transfer, TransferProgress

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

log = logging.getLogger(__name__)

EXTENSIONS = {"thumbnail": "png", "reference_image": "png"}
POLL_INITIAL_SECONDS = 0.5
POLL_MAX_SECONDS = 5.0
CONVERSION_TIMEOUT_SECONDS = 900.0
"""How long a conversion may stay queued or running before the download gives up."""
SCRIPT_FOLDER = "scripts"
REFERENCE_FOLDER = "references"
MAX_REFERENCE_INDEX = 5
PROP_DOWNLOADED_CODE = "thrixel_downloaded_code"
SCRIPT_HEADER = (
    "# Downloaded from the Thrixel service: submission {submission_id}.\n"
    "# The Thrixel add-on never runs this script. Read it before you run it yourself.\n\n"
)


class ConversionFailed(client_errors.GoneError):
    """The service could not convert the model; converting again may help."""


STEM_MAX_CHARACTERS = 40
_NOT_IN_FILE_NAMES = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]+')
"""Path separators and the characters Windows rejects in file names (a superset of what macOS
and Linux reject), control characters included."""


def file_stem(label: str, submission_id: str) -> str:
    """Return a file name stem from the label, safe on every platform, ending with the short id.

    Letters of any script are kept; characters no platform allows become spaces, and spaces
    become underscores.
    """
    safe = " ".join(_NOT_IN_FILE_NAMES.sub(" ", label).split())
    # Windows drops trailing dots and spaces, so they are cut after the length is.
    safe = safe[:STEM_MAX_CHARACTERS].strip(" .")
    safe = safe.replace(" ", "_")
    return f"{safe}_{submission_id[:8]}" if safe else submission_id


def destination(
    directory: Path,
    label: str,
    submission_id: str,
    fmt: str,
    index: int,
    taken: Collection[Path] = (),
) -> Path:
    """Return a path in `directory` for the download that overwrites no file.

    When the plain name is on disk or in `taken` (downloads still running), " (2)", " (3)" and
    so on are added before the extension.
    """
    suffix = f"_reference{index}" if fmt == "reference_image" else ""
    if fmt == "thumbnail":
        suffix = "_thumbnail"
    extension = EXTENSIONS.get(fmt, fmt)
    stem = f"{file_stem(label, submission_id)}{suffix}"
    path = directory / f"{stem}.{extension}"
    number = 2
    while path.exists() or path in taken:
        path = directory / f"{stem} ({number}).{extension}"
        number += 1
    return path


# ---------------------------------------------------------------------------
# Downloads and conversions, on a worker thread


@dataclass(frozen=True)
class DownloadPlan:
    submission_id: str
    fmt: str
    dest: Path
    index: int = 0
    force: bool = False


@dataclass
class QueuedConversion:
    """The conversion job a download queued. A run sent again after a 429 response polls this
    job instead of queueing (or forcing) another one."""

    job_id: str | None = None


def run_download(
    client: ThrixelClient,
    cancel: threading.Event,
    plan: DownloadPlan,
    progress: TransferProgress,
    queued: QueuedConversion | None = None,
) -> Path:
    """Download `plan` to its destination, converting first when the format needs it."""

    def on_bytes(done: int, total: int | None) -> None:
        progress.set("downloading", done / total if total else None)

    if plan.fmt not in CONVERT_FORMATS:
        progress.set("downloading")
        index = plan.index if plan.fmt == "reference_image" else None
        return client.download(
            plan.submission_id,
            plan.dest,
            fmt=plan.fmt,
            index=index,
            cancel=cancel,
            progress=on_bytes,
        )
    queued = queued if queued is not None else QueuedConversion()
    if queued.job_id is None:
        job = client.queue_conversion(plan.submission_id, plan.fmt, force=plan.force)
        queued.job_id = job.job_id
        job_id = _wait_for_conversion(client, cancel, job.job_id, job.status, job.error, progress)
    else:
        job_id = _wait_for_conversion(client, cancel, queued.job_id, "queued", None, progress)
    deadline = time.monotonic() + CONVERSION_TIMEOUT_SECONDS
    delay = POLL_INITIAL_SECONDS
    while True:
        try:
            return client.download_conversion(job_id, plan.dest, cancel=cancel, progress=on_bytes)
        except client_errors.ConflictError:
            # 409: the job went back to running (another client forced it); wait again.
            if time.monotonic() > deadline:
                raise
            progress.set("converting")
            if cancel.wait(delay):
                raise client_errors.CancelledError("Cancelled") from None
            delay = min(POLL_MAX_SECONDS, delay * 2)
        except client_errors.GoneError as error:
            raise ConversionFailed(
                f"The service's conversion to {plan.fmt.upper()} failed ({error.message}). "
                "Press Convert Again to run it once more",
                status=error.status,
            ) from None


def _wait_for_conversion(
    client: ThrixelClient,
    cancel: threading.Event,
    job_id: str,
    status: str,
    error: str | None,
    progress: TransferProgress,
) -> str:
    deadline = time.monotonic() + CONVERSION_TIMEOUT_SECONDS
    delay = POLL_INITIAL_SECONDS
    while status not in ("ready", "failed"):
        progress.set("converting" if status == "running" else "waiting for conversion")
        if time.monotonic() > deadline:
            raise client_errors.RequestTimeoutError(
                f"The conversion was still {status} after {CONVERSION_TIMEOUT_SECONDS:.0f} s. "
                "Try the download again later"
            )
        if cancel.wait(delay):
            raise client_errors.CancelledError("Cancelled")
        delay = min(POLL_MAX_SECONDS, delay * 1.5)
        job = client.get_conversion(job_id, cancel=cancel)
        status, error = job.status, job.error
    if status == "failed":
        raise ConversionFailed(
            f"The service could not convert the model ({error or 'no reason given'}). "
            "Press Convert Again to run the conversion once more"
        )
    return job_id


# ---------------------------------------------------------------------------
# Starting transfers, on the main thread


def folder_problem(directory: Path) -> client_errors.LocalFileError | None:
    """Return why no file can be created in `directory`, or None when one can.

    A real file is created and deleted, because permission bits alone do not say whether the
    process can write (an administrator can, a read-only disk cannot).
    """
    if directory.exists() and not directory.is_dir():
        return client_errors.LocalFileError(
            f"Cannot write to {directory}: it is a file, not a folder",
            path=str(directory),
            fix="Choose a folder",
        )
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".thrixel-check-"):
            pass
    except OSError as error:
        return client_errors.local_file_error(directory, error)
    return None


def start_download(
    submission_id: str,
    label: str,
    fmt: str,
    directory: Path,
    *,
    index: int = 0,
    force: bool = False,
) -> Transfer:
    """Start a download in the background and list it in the Transfers panel.

    The file gets a name no other file or running download has, so nothing is overwritten.
    """
    cache = library_cache.get()
    running = {Path(item.path) for item in cache.transfers.values() if item.state == "running"}
    dest = destination(directory, label, submission_id, fmt, index, running)
    plan = DownloadPlan(submission_id, fmt, dest, index, force)
    transfer = Transfer(uuid.uuid4().hex, submission_id, label, fmt, str(directory))
    # Until the download ends, the path is the one it will be saved to.
    transfer.path = str(dest)
    progress = transfer.progress
    queued = QueuedConversion()

    def run(client: ThrixelClient, cancel: threading.Event) -> Path:
        return run_download(client, cancel, plan, progress, queued)

    def saved(path: Path) -> None:
        transfer.state = "done"
        transfer.path = str(path)
        transfer.message = f"Saved \"{path.name}\" in {path.parent}"
        transfer.can_force = fmt in CONVERT_FORMATS

    def failed(message: str) -> None:
        transfer.state = "failed"
        transfer.message = message
        transfer.can_force = fmt in CONVERT_FORMATS

    cache.transfers[transfer.transfer_id] = transfer
    try:
        library_calls.start(
            run,
            saved,
            area=f"transfer:{transfer.transfer_id}",
            action=f"Download {fmt.upper()}",
            on_failure=failed,
        )
    except Exception:
        del cache.transfers[transfer.transfer_id]
        raise
    return transfer


def _label_of(submission_id: str) -> str:
    row = library_cache.get().submissions.get(submission_id)
    return row.label if row is not None else submission_id


def _check_id(operator: Operator, submission_id: str) -> bool:
    from .client.validation import validate_id

    try:
        validate_id(submission_id, "submission_id")
    except client_errors.ValidationError as error:
        operator.report({'ERROR'}, messages.user_message(error, action=operator.bl_label))
        return False
    return True


class THRIXEL_OT_download_submission(Operator):
    """Save this submission to a folder in the chosen format, converting it when needed"""

    bl_idname = "thrixel.download_submission"
    bl_label = "Download"
    bl_options = {'REGISTER', 'INTERNAL'}

    submission_id: StringProperty(name="Submission ID", options={'SKIP_SAVE'})
    format: EnumProperty(name="Format", items=library_props.DOWNLOAD_FORMAT_ITEMS)
    index: IntProperty(
        name="Reference Index",
        description="Which input reference image, for the Reference Image format",
        min=0,
        max=MAX_REFERENCE_INDEX,
    )
    force: BoolProperty(
        name="Convert Again",
        description="Run the conversion again even when the service has a finished one",
        options={'SKIP_SAVE'},
    )
    directory: StringProperty(name="Folder", subtype='DIR_PATH', options={'SKIP_SAVE'})
    filter_folder: BoolProperty(default=True, options={'HIDDEN', 'SKIP_SAVE'})

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def invoke(self, context: Context, event: Event) -> set[OperatorReturnItems]:
        settings = props.context_settings(context).library
        if not self.properties.is_property_set("format"):
            self.format = settings.download_format
        if not self.properties.is_property_set("force"):
            self.force = settings.force_conversion
        if settings.download_directory and not self.directory:
            self.directory = bpy.path.abspath(settings.download_directory)
            return self.execute(context)
        library_calls.window_manager(context).fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        if not _check_id(self, self.submission_id):
            return {'CANCELLED'}
        if not self.directory:
            self.report({'ERROR'}, "No folder chosen. Choose a folder to save the download in.")
            return {'CANCELLED'}
        directory = Path(bpy.path.abspath(self.directory))
        problem = folder_problem(directory)
        if problem is not None:
            self.report({'ERROR'}, messages.user_message(problem, action="Download"))
            return {'CANCELLED'}
        label = _label_of(self.submission_id)
        try:
            transfer = start_download(
                self.submission_id,
                label,
                self.format,
                directory,
                index=self.index,
                force=self.force,
            )
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Download"))
            return {'CANCELLED'}
        self.report(
            {'INFO'},
            f"Downloading \"{library_calls.shorten(label)}\" as {self.format.upper()} "
            f"to \"{Path(transfer.path).name}\".",
        )
        return {'FINISHED'}


class THRIXEL_OT_dismiss_transfer(Operator):
    """Remove this finished download from the list. The file stays on disk"""

    bl_idname = "thrixel.dismiss_transfer"
    bl_label = "Dismiss"
    bl_options = {'REGISTER', 'INTERNAL'}

    transfer_id: StringProperty(name="Transfer ID", options={'SKIP_SAVE'})

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        transfer = library_cache.get().transfers.get(self.transfer_id)
        if transfer is None or transfer.state == "running":
            return {'CANCELLED'}
        del library_cache.get().transfers[self.transfer_id]
        return {'FINISHED'}


# ---------------------------------------------------------------------------
# The script


def open_script_text(submission_id: str, label: str, source: str) -> bpy.types.Text:
    """Create a text datablock holding `source`, marked as downloaded code; never run it."""
    text = bpy.data.texts.new(f"{file_stem(label, submission_id)}.py")
    text.from_string(SCRIPT_HEADER.format(submission_id=submission_id) + source)
    # Not registered as a module, so Blender never runs it when the file is opened.
    text.use_module = False
    text[PROP_DOWNLOADED_CODE] = True
    text["thrixel_submission_id"] = submission_id
    _show_in_text_editor(text)
    return text


def _show_in_text_editor(text: bpy.types.Text) -> None:
    window_manager = bpy.context.window_manager
    if window_manager is None:
        return
    for window in window_manager.windows:
        for area in window.screen.areas:
            if area.type == 'TEXT_EDITOR':
                space = area.spaces.active
                if isinstance(space, bpy.types.SpaceTextEditor):
                    space.text = text
                return


class THRIXEL_OT_open_script(Operator):
    """Open the Python script that builds this model in the Text Editor. It is not run"""

    bl_idname = "thrixel.open_script"
    bl_label = "Open Script"
    bl_options = {'REGISTER', 'INTERNAL'}

    submission_id: StringProperty(name="Submission ID", options={'SKIP_SAVE'})

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        if not _check_id(self, self.submission_id):
            return {'CANCELLED'}
        submission_id = self.submission_id
        label = _label_of(submission_id)
        dest = library_calls.user_dir(SCRIPT_FOLDER) / f"{submission_id}.py"

        def fetch(client: ThrixelClient, cancel: threading.Event) -> str:
            path = client.download(submission_id, dest, fmt="py", cancel=cancel)
            # Read as text only; the bytes are never compiled or executed here.
            return path.read_text(encoding="utf-8", errors="replace")

        def opened(source: str) -> None:
            text = open_script_text(submission_id, label, source)
            log.info("Opened the script of %s as text %r", submission_id, text.name)

        try:
            library_calls.start(fetch, opened, area=f"script:{submission_id}", action="Open Script")
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Open Script"))
            return {'CANCELLED'}
        self.report({'INFO'}, f"Fetching the script of \"{library_calls.shorten(label)}\".")
        return {'FINISHED'}


# ---------------------------------------------------------------------------
# Reference images


def fetch_references(
    client: ThrixelClient,
    cancel: threading.Event,
    submission_id: str,
    folder: Path,
    with_detailer: bool,
) -> list[tuple[str, Path]]:
    """Download the detailer reference (phase 4) and input references 0 to 5 that exist."""
    found: list[tuple[str, Path]] = []
    if with_detailer:
        try:
            path = client.download_reference(submission_id, folder / "detailer.png", cancel=cancel)
            found.append(("Detailer Reference", path))
        except client_errors.NotFoundError:
            log.info("Submission %s has no detailer reference", submission_id)
    for index in range(MAX_REFERENCE_INDEX + 1):
        try:
            path = client.download(
                submission_id,
                folder / f"input{index}.png",
                fmt="reference_image",
                index=index,
                cancel=cancel,
            )
        except client_errors.NotFoundError:
            break
        found.append((f"Input Reference {index}", path))
    return found


def load_reference_images(
    submission_id: str, label: str, found: list[tuple[str, Path]]
) -> list[bpy.types.Image]:
    """Load each file as an image datablock, packed so the .blend file keeps it."""
    images = []
    for name, path in found:
        image = bpy.data.images.load(str(path), check_existing=False)
        image.name = f"{library_calls.shorten(label, 30)} {name}"
        image.pack()
        image["thrixel_submission_id"] = submission_id
        images.append(image)
    return images


class THRIXEL_OT_load_reference_images(Operator):
    """Load the reference images of this submission as images in this file"""

    bl_idname = "thrixel.load_reference_images"
    bl_label = "Load Reference Images"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    submission_id: StringProperty(name="Submission ID", options={'SKIP_SAVE'})

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        if not _check_id(self, self.submission_id):
            return {'CANCELLED'}
        submission_id = self.submission_id
        row = library_cache.get().submissions.get(submission_id)
        label = _label_of(submission_id)
        # Only phase 4 has a detailer reference; an unknown phase tries it.
        with_detailer = row is None or row.phase in (0, 4)
        folder = library_calls.user_dir(REFERENCE_FOLDER) / submission_id
        folder.mkdir(parents=True, exist_ok=True)

        def fetch(client: ThrixelClient, cancel: threading.Event) -> list[tuple[str, Path]]:
            return fetch_references(client, cancel, submission_id, folder, with_detailer)

        def loaded(found: list[tuple[str, Path]]) -> None:
            cache = library_cache.get()
            if not found:
                cache.errors[f"references:{submission_id}"] = (
                    f"\"{label}\" has no reference images on the service."
                )
                return
            images = load_reference_images(submission_id, label, found)
            log.info("Loaded %d reference images of %s", len(images), submission_id)

        try:
            library_calls.start(
                fetch, loaded, area=f"references:{submission_id}", action="Load Reference Images"
            )
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action="Load Reference Images"))
            return {'CANCELLED'}
        self.report(
            {'INFO'}, f"Fetching the reference images of \"{library_calls.shorten(label)}\"."
        )
        return {'FINISHED'}


classes = (
    THRIXEL_OT_download_submission,
    THRIXEL_OT_dismiss_transfer,
    THRIXEL_OT_open_script,
    THRIXEL_OT_load_reference_images,
)
