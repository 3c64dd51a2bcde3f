"""Operators of the submissions browser: refresh, select, lineage, find in scene, import,
and organising (nickname, archive, visibility, pin, project, soft-delete).

Every request runs in the background through `library_calls`; results update the library
cache on the main thread, and the panels redraw from it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import bpy
from bpy.props import BoolProperty, StringProperty
from bpy.types import Context, Event, Operator

from . import (
    background,
    importer,
    library_cache,
    library_calls,
    library_props,
    limits,
    messages,
    operators,
    preferences,
    previews,
    props,
    results,
    runtime,
    tracking,
)
from .client import SubmissionInfo, ThrixelClient
from .client.validation import validate_id
from .library_cache import Filters, SubmissionRow

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems

log = logging.getLogger(__name__)

LISTING_LIMIT = 500
"""Submissions fetched per refresh. The service's default is 50; the browser pages locally."""
DETAIL_ROWS = 60
"""Rows, from the top of the sorted list, whose prompt and flags are fetched after a refresh."""
MAX_LINEAGE_DEPTH = 50
"""Parents followed before giving up, in case the service ever reports a loop."""
DETAILS_IN_FLIGHT = 2


# ---------------------------------------------------------------------------
# Refreshing the listing


def current_filters(ui: library_props.THRIXEL_PG_library_ui) -> Filters:
    return Filters(
        status=None if ui.status_filter == 'ANY' else ui.status_filter,
        phase=None if ui.phase_filter == 'ANY' else int(ui.phase_filter),
        project_id=ui.project_filter or None,
        include_deleted=ui.include_deleted,
    )


def refresh_submissions(context: Context | None = None) -> bool:
    """Fetch the submissions listing for the browser's filters; False when one is running.

    Raises SettingsError when the key or base URL is unusable.
    """
    filters = current_filters(library_props.ui_state(context))
    # The documented list filters on phases 1 to 3 only; phases 4 and 5 are filtered here.
    phase = filters.phase if filters.phase in (1, 2, 3) else None

    def fetch(client: ThrixelClient, cancel: threading.Event) -> list[SubmissionRow]:
        summaries = client.list_submissions(
            status=filters.status,
            phase=phase,
            project_id=filters.project_id,
            include_deleted=filters.include_deleted,
            limit=LISTING_LIMIT,
            cancel=cancel,
        )
        return [SubmissionRow.from_summary(summary) for summary in summaries]

    def listed(rows: list[SubmissionRow]) -> None:
        if current_filters(library_props.ui_state()) != filters:
            return  # The filters changed while this listing was on its way.
        cache = library_cache.get()
        cache.set_submissions(rows, filters)
        if filters == Filters() or filters == Filters(include_deleted=True):
            limits.tracker().observe_listing(
                (row.created for row in rows), sum(1 for row in rows if row.is_active)
            )
        top = cache.visible(filters)
        previews.request(
            [
                row.submission_id
                for row in top[: previews.PREFETCH_ROWS]
                if row.status == "completed"
            ],
            "submission",
        )
        request_details([row.submission_id for row in top[:DETAIL_ROWS]])

    return library_calls.start(
        fetch,
        listed,
        area="submissions",
        action="Refresh Submissions",
        key=f"submissions:{filters}",
    )


def refresh_submissions_if_ready() -> None:
    """Refresh after a filter change, unless requests cannot be sent now."""
    if preferences.blocked_reason() is None:
        try:
            refresh_submissions()
        except messages.UserFacingError as error:
            library_cache.get().errors["submissions"] = str(error)


# Details (prompt, parent, flags) that the listing does not include.

_details: background.TrickleQueue | None = None


def details_queue() -> background.TrickleQueue:
    global _details
    if _details is None:
        _details = background.TrickleQueue(DETAILS_IN_FLIGHT, _start_details)
    return _details


def request_details(ids: list[str]) -> None:
    cache = library_cache.get()
    missing = [
        sid for sid in ids if sid in cache.submissions and not cache.submissions[sid].details_loaded
    ]
    details_queue().want(missing)


def _start_details(submission_id: str) -> bool:
    def fetch(client: ThrixelClient, cancel: threading.Event) -> SubmissionInfo:
        return client.get_info(submission_id, cancel=cancel)

    def stored(info: SubmissionInfo) -> None:
        details_queue().done(submission_id)
        library_cache.get().store_info(info)

    def failed(message: str, error: Any) -> None:
        details_queue().done(submission_id)
        log.info("Details of %s not fetched: %s", submission_id, message)

    key = f"info:{submission_id}"
    return background.get().call(fetch, stored, failed, key=key) is not None


def feed() -> None:
    """Start queued detail requests while there is room; the pump calls this every tick."""
    if _details is not None and preferences.blocked_reason() is None:
        _details.feed()


def reset() -> None:
    global _details
    _details = None


# ---------------------------------------------------------------------------
# Operators


def _report_start_failure(
    operator: Operator, error: Exception, action: str
) -> set[OperatorReturnItems]:
    operator.report({'ERROR'}, messages.user_message(error, action=action))
    return {'CANCELLED'}


class THRIXEL_OT_refresh_submissions(Operator):
    """Fetch the list of your submissions from the service"""

    bl_idname = "thrixel.refresh_submissions"
    bl_label = "Refresh Submissions"
    bl_options = {'REGISTER', 'INTERNAL'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        try:
            started = refresh_submissions(context)
        except Exception as error:
            return _report_start_failure(self, error, "Refresh Submissions")
        if not started:
            self.report({'INFO'}, "The submissions list is already being fetched.")
        return {'FINISHED'}


class THRIXEL_OT_change_page(Operator):
    """Show another page of the submissions list"""

    bl_idname = "thrixel.change_page"
    bl_label = "Change Page"
    bl_options = {'REGISTER', 'INTERNAL'}

    page: bpy.props.IntProperty(name="Page", min=0, options={'SKIP_SAVE'})

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        from . import panels_library

        ui = library_props.ui_state(context)
        ui.page = self.page
        rows = panels_library.page_rows(library_cache.get(), ui)
        ids = [row.submission_id for row in rows]
        previews.request(
            [row.submission_id for row in rows if row.status == "completed"], "submission"
        )
        request_details(ids)
        return {'FINISHED'}


class SubmissionOperator(Operator):
    """Base of the operators that act on one submission given by id."""

    submission_id: StringProperty(name="Submission ID", options={'SKIP_SAVE'})

    def checked_row(self) -> SubmissionRow | None:
        """Return the cached row of `submission_id`, reporting when the id is unusable."""
        try:
            validate_id(self.submission_id, "submission_id")
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action=self.bl_label))
            return None
        row = library_cache.get().submissions.get(self.submission_id)
        if row is None:
            self.report(
                {'ERROR'},
                f"Submission \"{self.submission_id}\" is not in the list. Refresh the list.",
            )
        return row


class THRIXEL_OT_select_submission(SubmissionOperator):
    """Select this submission in the browser"""

    bl_idname = "thrixel.select_submission"
    bl_label = "Select Submission"
    bl_options = {'REGISTER', 'INTERNAL'}

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        row = self.checked_row()
        if row is None:
            return {'CANCELLED'}
        library_props.ui_state(context).selected_submission = row.submission_id
        if preferences.blocked_reason() is None:
            request_details([row.submission_id])
        return {'FINISHED'}


class THRIXEL_OT_show_lineage(SubmissionOperator):
    """Fetch the chain of parents this submission was made from"""

    bl_idname = "thrixel.show_lineage"
    bl_label = "Show Lineage"
    bl_options = {'REGISTER', 'INTERNAL'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        row = self.checked_row()
        if row is None:
            return {'CANCELLED'}
        submission_id = row.submission_id

        def fetch(client: ThrixelClient, cancel: threading.Event) -> list[SubmissionInfo]:
            chain: list[SubmissionInfo] = []
            current: str | None = submission_id
            seen: set[str] = set()
            while current is not None and current not in seen and len(chain) < MAX_LINEAGE_DEPTH:
                seen.add(current)
                info = client.get_info(current, cancel=cancel)
                chain.append(info)
                current = info.parent_submission_id
            return chain

        def fetched(chain: list[SubmissionInfo]) -> None:
            cache = library_cache.get()
            for info in chain:
                cache.store_info(info)
            cache.lineages[submission_id] = tuple(info.submission_id for info in chain[1:])

        try:
            library_calls.start(
                fetch, fetched, area=f"lineage:{submission_id}", action="Show Lineage"
            )
        except Exception as error:
            return _report_start_failure(self, error, "Show Lineage")
        return {'FINISHED'}


def objects_from(submission_id: str, scene: bpy.types.Scene) -> list[bpy.types.Object]:
    """Objects of `scene` that were imported from `submission_id`."""
    return [obj for obj in scene.objects if obj.get(importer.PROP_SUBMISSION_ID) == submission_id]


class THRIXEL_OT_select_scene_objects(Operator):
    """Select the objects in this scene that came from this submission"""

    bl_idname = "thrixel.select_scene_objects"
    bl_label = "Find in Scene"
    bl_options = {'REGISTER', 'UNDO'}

    submission_id: StringProperty(name="Submission ID", options={'SKIP_SAVE'})

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        found = objects_from(self.submission_id, props.context_scene(context))
        if not found:
            self.report(
                {'WARNING'},
                f"No object in this scene came from submission \"{self.submission_id}\". "
                "Import it first.",
            )
            return {'CANCELLED'}
        view_layer = library_calls.view_layer(context)
        for obj in view_layer.objects:
            obj.select_set(False)
        selectable = [obj for obj in found if obj.name in view_layer.objects]
        for obj in selectable:
            obj.select_set(True)
        if selectable:
            view_layer.objects.active = selectable[0]
        self.report({'INFO'}, f"Selected {len(selectable)} of {len(found)} objects.")
        return {'FINISHED'}


class THRIXEL_OT_import_submission(SubmissionOperator):
    """Download this submission's model and import it at the 3D cursor"""

    bl_idname = "thrixel.import_submission"
    bl_label = "Import Submission"
    bl_options = {'REGISTER'}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        row = self.checked_row()
        if row is None:
            return {'CANCELLED'}
        if row.status == "failed":
            self.report(
                {'ERROR'}, f"\"{library_calls.shorten(row.label)}\" failed and has no model."
            )
            return {'CANCELLED'}
        try:
            start_submission_import(props.context_scene(context), row)
        except Exception as error:
            return _report_start_failure(self, error, "Import Submission")
        self.report({'INFO'}, f"Importing \"{library_calls.shorten(row.label)}\".")
        return {'FINISHED'}


def start_submission_import(scene: bpy.types.Scene, row: SubmissionRow) -> str:
    """Add a job record that follows `row`'s submission to its import; returns the record id."""
    runtime.get().set_config(preferences.client_config())
    record = props.scene_settings(scene).add_job(
        kind="submission_import", prompt=row.prompt or "", phase=row.phase
    )
    record.nickname = row.nickname or ("" if row.prompt else row.label)
    record.submission_id = row.submission_id
    record.remote_status = row.status
    record_id: str = record.job_id
    try:
        runtime.get().follow(
            record_id,
            submit=None,
            submission_id=row.submission_id,
            dest_dir=tracking.results_dir(record_id),
        )
    except Exception:
        props.scene_settings(scene).remove_job(record_id)
        raise
    record.status = "downloading" if row.status == "completed" else row.status
    record.message = "Fetching the model"
    return record_id


# ---------------------------------------------------------------------------
# Organising


class _OrganizeOperator(SubmissionOperator):
    """Shared execute: validate, send in the background, update the cached row."""

    action_label = ""

    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)

    def request(self) -> Callable[[ThrixelClient], Any]:
        """Return the call to send; it captures plain values, never the operator."""
        raise NotImplementedError

    def changes(self) -> dict[str, Any]:
        raise NotImplementedError

    def validate(self) -> None:
        """Raise ValidationError when an input breaks the documented rules."""

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        row = self.checked_row()
        if row is None:
            return {'CANCELLED'}
        try:
            self.validate()
        except Exception as error:
            return _report_start_failure(self, error, self.bl_label)
        submission_id = row.submission_id
        changes = self.changes()
        send = self.request()

        def run(client: ThrixelClient, cancel: threading.Event) -> Any:
            return send(client)

        def applied(_result: Any) -> None:
            library_cache.get().update_submission(submission_id, **changes)

        try:
            library_calls.start(
                run,
                applied,
                area=f"organize:{submission_id}",
                action=self.bl_label,
                key=f"organize:{submission_id}:{self.bl_idname}",
            )
        except Exception as error:
            return _report_start_failure(self, error, self.bl_label)
        self.report({'INFO'}, f"{self.action_label} \"{library_calls.shorten(row.label)}\".")
        return {'FINISHED'}


class THRIXEL_OT_set_submission_nickname(_OrganizeOperator):
    """Give this submission a nickname, or clear it"""

    bl_idname = "thrixel.set_submission_nickname"
    bl_label = "Set Nickname"
    bl_options = {'REGISTER', 'INTERNAL'}
    action_label = "Renaming"

    nickname: StringProperty(
        name="Nickname",
        description="Label shown instead of the prompt, at most 255 characters. "
        "Leave empty to clear",
        options={'SKIP_SAVE'},
    )

    def invoke(self, context: Context, event: Event) -> set[OperatorReturnItems]:
        row = library_cache.get().submissions.get(self.submission_id)
        if row is not None and not self.nickname:
            self.nickname = row.nickname or ""
        return library_calls.window_manager(context).invoke_props_dialog(self)

    def validate(self) -> None:
        from .client.validation import validate_text

        validate_text(self.nickname, "nickname", max_length=255)

    def request(self) -> Callable[[ThrixelClient], Any]:
        submission_id, nickname = self.submission_id, self.nickname.strip() or None
        return lambda client: client.set_nickname(submission_id, nickname)

    def changes(self) -> dict[str, Any]:
        return {"nickname": self.nickname.strip() or None}


class THRIXEL_OT_set_submission_archived(_OrganizeOperator):
    """Archive this submission, or restore it from the archive"""

    bl_idname = "thrixel.set_submission_archived"
    bl_label = "Archive Submission"
    bl_options = {'REGISTER', 'INTERNAL'}
    action_label = "Updating"

    archived: BoolProperty(name="Archived", default=True, options={'SKIP_SAVE'})

    def request(self) -> Callable[[ThrixelClient], Any]:
        submission_id, archived = self.submission_id, self.archived
        return lambda client: client.set_archived(submission_id, archived)

    def changes(self) -> dict[str, Any]:
        return {"is_archived": self.archived}


class THRIXEL_OT_set_submission_visible(_OrganizeOperator):
    """Hide this submission from listings without deleting it, or show it again"""

    bl_idname = "thrixel.set_submission_visible"
    bl_label = "Set Visibility"
    bl_options = {'REGISTER', 'INTERNAL'}
    action_label = "Updating"

    visible: BoolProperty(name="Visible", default=True, options={'SKIP_SAVE'})

    def request(self) -> Callable[[ThrixelClient], Any]:
        submission_id, visible = self.submission_id, self.visible
        return lambda client: client.set_visible(submission_id, visible)

    def changes(self) -> dict[str, Any]:
        return {"is_visible": self.visible}


class THRIXEL_OT_set_submission_pinned(_OrganizeOperator):
    """Pin this submission to the top of lists, or unpin it"""

    bl_idname = "thrixel.set_submission_pinned"
    bl_label = "Pin Submission"
    bl_options = {'REGISTER', 'INTERNAL'}
    action_label = "Updating"

    pinned: BoolProperty(name="Pinned", default=True, options={'SKIP_SAVE'})

    def request(self) -> Callable[[ThrixelClient], Any]:
        submission_id, pinned = self.submission_id, self.pinned
        return lambda client: client.set_pinned(submission_id, pinned)

    def changes(self) -> dict[str, Any]:
        return {"is_pinned": self.pinned}


class THRIXEL_OT_assign_submission_project(_OrganizeOperator):
    """Move this submission into a project, or out of any project"""

    bl_idname = "thrixel.assign_submission_project"
    bl_label = "Assign to Project"
    bl_options = {'REGISTER', 'INTERNAL'}
    action_label = "Moving"

    project_id: StringProperty(
        name="Project ID", description="Target project; empty to remove", options={'SKIP_SAVE'}
    )

    def validate(self) -> None:
        if self.project_id:
            validate_id(self.project_id, "project_id")

    def request(self) -> Callable[[ThrixelClient], Any]:
        submission_id, project_id = self.submission_id, self.project_id or None
        return lambda client: client.assign_project(submission_id, project_id)

    def changes(self) -> dict[str, Any]:
        return {"project_id": self.project_id or None}


class THRIXEL_OT_delete_submission(_OrganizeOperator):
    """Soft-delete this submission: hidden from lists, its data kept on the service"""

    bl_idname = "thrixel.delete_submission"
    bl_label = "Delete Submission"
    bl_options = {'REGISTER', 'INTERNAL'}
    action_label = "Deleting"

    def invoke(self, context: Context, event: Event) -> set[OperatorReturnItems]:
        return library_calls.window_manager(context).invoke_confirm(self, event)

    def request(self) -> Callable[[ThrixelClient], Any]:
        submission_id = self.submission_id
        return lambda client: client.delete_submission(submission_id)

    def changes(self) -> dict[str, Any]:
        return {"is_deleted": True}


class THRIXEL_OT_cancel_library_call(Operator):
    """Stop this request, such as one waiting for the service's rate limit"""

    bl_idname = "thrixel.cancel_library_call"
    bl_label = "Cancel Request"
    bl_options = {'REGISTER', 'INTERNAL'}

    call_id: StringProperty(name="Request ID", options={'HIDDEN', 'SKIP_SAVE'})

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        if not background.get().cancel(self.call_id):
            self.report({'WARNING'}, "That request has already ended.")
            return {'CANCELLED'}
        library_calls.tag_redraw()
        return {'FINISHED'}


def _retry_submission_import(scene: bpy.types.Scene, record: props.THRIXEL_PG_job) -> None:
    tracking.follow_submission(record)


results.register_placer("submission_import", results.place_at_cursor)
results.RESUBMITTERS["submission_import"] = _retry_submission_import


classes = (
    THRIXEL_OT_refresh_submissions,
    THRIXEL_OT_change_page,
    THRIXEL_OT_select_submission,
    THRIXEL_OT_show_lineage,
    THRIXEL_OT_select_scene_objects,
    THRIXEL_OT_import_submission,
    THRIXEL_OT_set_submission_nickname,
    THRIXEL_OT_set_submission_archived,
    THRIXEL_OT_set_submission_visible,
    THRIXEL_OT_set_submission_pinned,
    THRIXEL_OT_assign_submission_project,
    THRIXEL_OT_delete_submission,
    THRIXEL_OT_cancel_library_call,
)
