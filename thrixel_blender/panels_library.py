"""Sidebar panels for everything beyond Generate: reference images, refine and modify, the
submissions browser, projects, the gallery, downloads and the service's limits.

`draw()` reads only the library cache, the limits tracker, scene and window-manager
properties: no network, no file access. Background calls fill the cache.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from bpy.types import Context, Menu, UILayout, UIList

from . import (
    background,
    library_cache,
    library_calls,
    library_props,
    limits,
    panels,
    preferences,
    props,
)
from .library_cache import LibraryCache, SubmissionRow
from .refine_ops import resolve_parent

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import IconItems

PAGE_SIZE = 10
STATUS_ICONS: dict[str, IconItems] = {
    "queued": 'SORTTIME',
    "processing": 'PLAY',
    "completed": 'CHECKMARK',
    "failed": 'ERROR',
}
PHASE_NAMES = {1: "Create", 2: "Refine", 3: "Modify", 4: "Detail", 5: "Upload"}
TRANSFER_STAGES = {
    "queued": "Waiting",
    "waiting for conversion": "Waiting for the conversion",
    "converting": "Converting",
    "downloading": "Downloading",
}


def draw_blocked(layout: UILayout, context: Context) -> bool:
    """Draw why requests cannot be sent, if they cannot; returns whether it drew anything."""
    reason = preferences.blocked_reason()
    if reason is None:
        return False
    panels.wrapped_label(layout, context, reason, icon='ERROR')
    return True


def draw_area_state(layout: UILayout, context: Context, cache: LibraryCache, area: str) -> None:
    """Draw the loading note, rate-limit waits or the last error of one cache area."""
    waits = background.get().waits(area)
    if waits:
        draw_waits(layout, context, waits)
    elif area in cache.loading:
        layout.label(text="Fetching…", icon='SORTTIME')
    error = cache.errors.get(area)
    if error:
        panels.wrapped_label(layout, context, error, icon='ERROR')


def draw_waits(
    layout: UILayout,
    context: Context,
    waits: list[background.CallWait],
    *,
    with_action: bool = False,
) -> None:
    """Draw each rate-limited request's countdown with a button that cancels it."""
    now = time.time()
    for wait in waits:
        row = layout.row()
        text = wait.describe(now)
        if with_action:
            text = f"{wait.action}: {text[0].lower()}{text[1:]}"
        panels.wrapped_label(row.column(), context, text, icon='SORTTIME')
        row.operator("thrixel.cancel_library_call", text="", icon='X').call_id = wait.call_id


def phase_text(phase: int) -> str:
    name = PHASE_NAMES.get(phase)
    return f"Phase {phase} {name}" if name else f"Phase {phase}"


# ---------------------------------------------------------------------------
# Reference images for Generate


class THRIXEL_UL_image_inputs(UIList):
    def draw_item(
        self,
        context: Context,
        layout: UILayout,
        data: object,
        item: object,
        icon: int | None,
        active_data: object,
        active_property: str | None,
        index: int | None = 0,
        flt_flag: int | None = 0,
    ) -> None:
        entry = cast(library_props.THRIXEL_PG_image_input, item)
        column = layout.column(align=True)
        row = column.row(align=True)
        if entry.source == 'FILE':
            row.prop(entry, "filepath", text="", icon='FILE_IMAGE')
        elif entry.source == 'IMAGE':
            row.prop(entry, "image", text="", icon='IMAGE_DATA')
        else:
            row.prop(entry, "url", text="", icon='URL')
        row.operator("thrixel.remove_image_input", text="", icon='X').index = index or 0
        if entry.size_note:
            column.label(text=entry.size_note)


class VIEW3D_PT_thrixel_generate_images(panels.Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_generate_images"
    bl_label = "Reference Images"
    bl_parent_id = "VIEW3D_PT_thrixel_generate"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        settings = props.context_settings(context).library
        layout.template_list(
            "THRIXEL_UL_image_inputs",
            "",
            settings,
            "image_inputs",
            settings,
            "image_input_index",
            rows=2,
        )
        row = layout.row(align=True)
        row.operator("thrixel.add_image_input", text="File", icon='FILE_IMAGE').source = 'FILE'
        row.operator("thrixel.add_image_input", text="Image", icon='IMAGE_DATA').source = 'IMAGE'
        row.operator("thrixel.add_image_input", text="URL", icon='URL').source = 'URL'
        count = len(settings.image_inputs)
        if count:
            layout.label(text=f"{count} of 6 images; larger ones are scaled down to send.")
        project = settings.default_project_name
        layout.label(text=f"Joins project: {project}" if project else "Joins no project")


# ---------------------------------------------------------------------------
# Refine and modify


class VIEW3D_PT_thrixel_rework(panels.Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_rework"
    bl_label = "Refine & Modify"

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        if draw_blocked(layout, context):
            return
        parent = resolve_parent(context)
        if parent is None:
            panels.wrapped_label(
                layout,
                context,
                "Select an object imported from Thrixel, or a submission in the Submissions panel.",
                icon='INFO',
            )
            return
        layout.label(text=f"{parent.label} ({phase_text(parent.phase)})", icon='OBJECT_DATA')
        layout.operator("thrixel.refine_model", icon='SHADERFX')
        settings = props.context_settings(context).library
        layout.prop(settings, "modification_request", text="")
        layout.operator("thrixel.modify_model", icon='MODIFIER')


# ---------------------------------------------------------------------------
# Submissions browser


def page_rows(cache: LibraryCache, ui: library_props.THRIXEL_PG_library_ui) -> list[SubmissionRow]:
    """Return the rows of the browser's current page."""
    from .library_ops import current_filters

    rows = cache.visible(current_filters(ui))
    start = min(ui.page, max(0, (len(rows) - 1) // PAGE_SIZE)) * PAGE_SIZE
    return rows[start : start + PAGE_SIZE]


class VIEW3D_PT_thrixel_submissions(panels.Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_submissions"
    bl_label = "Submissions"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        if draw_blocked(layout, context):
            return
        cache = library_cache.get()
        ui = library_props.ui_state(context)
        self.draw_filters(layout, cache, ui)
        draw_area_state(layout, context, cache, "submissions")
        if "submissions" not in cache.fetched_at:
            layout.label(text="Press Refresh to list your submissions.")
            return
        from .library_ops import current_filters

        rows = cache.visible(current_filters(ui))
        if not rows:
            layout.label(text="No submissions match the filters.")
            return
        self.draw_page(layout, cache, ui, rows)
        selected = cache.get(ui.selected_submission) if ui.selected_submission else None
        if selected is not None:
            draw_selected(layout.box(), context, cache, selected)

    @staticmethod
    def draw_filters(
        layout: UILayout, cache: LibraryCache, ui: library_props.THRIXEL_PG_library_ui
    ) -> None:
        row = layout.row(align=True)
        row.prop(ui, "status_filter", text="")
        row.prop(ui, "phase_filter", text="")
        row.prop(ui, "include_deleted", toggle=True, icon='TRASH', text="")
        row.operator("thrixel.refresh_submissions", text="", icon='FILE_REFRESH')
        if ui.project_filter:
            row = layout.row(align=True)
            row.label(text=f"Project: {cache.project_name(ui.project_filter)}", icon='FILTER')
            row.operator("thrixel.set_project_filter", text="", icon='X').project_id = ""

    @staticmethod
    def draw_page(
        layout: UILayout,
        cache: LibraryCache,
        ui: library_props.THRIXEL_PG_library_ui,
        rows: list[SubmissionRow],
    ) -> None:
        pages = max(1, (len(rows) + PAGE_SIZE - 1) // PAGE_SIZE)
        page = min(ui.page, pages - 1)
        now = time.time()
        column = layout.column(align=True)
        for row in rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
            draw_row(column, cache, row, now, row.submission_id == ui.selected_submission)
        if pages > 1:
            nav = layout.row(align=True)
            nav.enabled = True
            previous = nav.operator("thrixel.change_page", text="", icon='TRIA_LEFT')
            previous.page = max(0, page - 1)
            nav.label(text=f"Page {page + 1} of {pages} ({len(rows)})")
            following = nav.operator("thrixel.change_page", text="", icon='TRIA_RIGHT')
            following.page = min(pages - 1, page + 1)


def draw_row(
    layout: UILayout, cache: LibraryCache, row: SubmissionRow, now: float, selected: bool
) -> None:
    """Draw one list row: thumbnail, name, phase, status and age. The name selects the row."""
    line = layout.row(align=True)
    icon_value = cache.icon(row.submission_id)
    if icon_value:
        line.label(text="", icon_value=icon_value)
    else:
        line.label(text="", icon=STATUS_ICONS.get(row.status, 'QUESTION'))
    name = line.operator(
        "thrixel.select_submission",
        text=library_calls.shorten(row.label, 28),
        icon='PINNED' if row.is_pinned else 'NONE',
        emboss=selected,
        depress=selected,
    )
    name.submission_id = row.submission_id
    age = library_cache.format_age(row.created, now)
    deleted = " deleted" if row.is_deleted else ""
    line.label(text=f"P{row.phase} {row.status}{deleted} {age}")


def draw_selected(
    layout: UILayout, context: Context, cache: LibraryCache, row: SubmissionRow
) -> None:
    """Draw the selected submission: details, lineage and every action on it."""
    icon_value = cache.icon(row.submission_id)
    if icon_value:
        layout.template_icon(icon_value=icon_value, scale=6.0)
    panels.wrapped_label(layout, context, row.label, icon='OBJECT_DATA')
    age = library_cache.format_age(row.created, time.time())
    layout.label(text=f"{phase_text(row.phase)}, {row.status}, {age} old")
    flags = [
        name
        for name, on in (
            ("pinned", row.is_pinned),
            ("archived", row.is_archived),
            ("hidden", not row.is_visible),
            ("deleted", row.is_deleted),
        )
        if on
    ]
    if row.project_id:
        flags.append(f"in \"{cache.project_name(row.project_id)}\"")
    if flags:
        layout.label(text=", ".join(flags).capitalize())
    draw_lineage(layout, context, cache, row)
    draw_actions(layout, context, row)
    for area in (
        f"organize:{row.submission_id}",
        f"script:{row.submission_id}",
        f"references:{row.submission_id}",
    ):
        draw_area_state(layout, context, cache, area)


def draw_lineage(
    layout: UILayout, context: Context, cache: LibraryCache, row: SubmissionRow
) -> None:
    lineage = cache.lineages.get(row.submission_id)
    line = layout.row(align=True)
    line.operator("thrixel.show_lineage", icon='OUTLINER').submission_id = row.submission_id
    draw_area_state(layout, context, cache, f"lineage:{row.submission_id}")
    if lineage is None:
        return
    if not lineage:
        layout.label(text="No parent: this is an original.")
        return
    column = layout.column(align=True)
    for depth, parent_id in enumerate(lineage, start=1):
        parent = cache.submissions.get(parent_id)
        text = parent.label if parent is not None else parent_id
        phase = phase_text(parent.phase) if parent is not None else ""
        column.operator(
            "thrixel.select_submission",
            text=f"{'  ' * depth}↳ {library_calls.shorten(text, 26)} {phase}",
            emboss=False,
        ).submission_id = parent_id


def draw_actions(layout: UILayout, context: Context, row: SubmissionRow) -> None:
    submission_id = row.submission_id
    settings = props.context_settings(context).library
    actions = layout.row(align=True)
    actions.operator(
        "thrixel.import_submission", text="Import", icon='IMPORT'
    ).submission_id = submission_id
    actions.operator(
        "thrixel.select_scene_objects", text="Find in Scene", icon='RESTRICT_SELECT_OFF'
    ).submission_id = submission_id

    download = layout.column(align=True)
    download.prop(settings, "download_format", text="Format")
    download.prop(settings, "download_directory", text="")
    download.prop(settings, "force_conversion")
    operator = download.operator("thrixel.download_submission", icon='EXPORT')
    operator.submission_id = submission_id
    operator.format = settings.download_format
    operator.force = settings.force_conversion

    files = layout.row(align=True)
    files.operator("thrixel.open_script", icon='TEXT').submission_id = submission_id
    files.operator(
        "thrixel.load_reference_images", text="References", icon='IMAGE_DATA'
    ).submission_id = submission_id

    rework = layout.row(align=True)
    rework.operator("thrixel.refine_model", icon='SHADERFX').submission_id = submission_id
    rework.operator("thrixel.modify_model", icon='MODIFIER').submission_id = submission_id

    draw_organize(layout, row)


def draw_organize(layout: UILayout, row: SubmissionRow) -> None:
    submission_id = row.submission_id
    first = layout.row(align=True)
    first.operator(
        "thrixel.set_submission_nickname", text="Nickname", icon='SORTALPHA'
    ).submission_id = submission_id
    pin = first.operator(
        "thrixel.set_submission_pinned",
        text="Unpin" if row.is_pinned else "Pin",
        icon='PINNED' if row.is_pinned else 'UNPINNED',
    )
    pin.submission_id = submission_id
    pin.pinned = not row.is_pinned
    second = layout.row(align=True)
    archive = second.operator(
        "thrixel.set_submission_archived",
        text="Restore" if row.is_archived else "Archive",
        icon='FILE_ARCHIVE',
    )
    archive.submission_id = submission_id
    archive.archived = not row.is_archived
    visible = second.operator(
        "thrixel.set_submission_visible",
        text="Show" if not row.is_visible else "Hide",
        icon='HIDE_OFF' if not row.is_visible else 'HIDE_ON',
    )
    visible.submission_id = submission_id
    visible.visible = not row.is_visible
    third = layout.row(align=True)
    third.menu("THRIXEL_MT_assign_project", text="Project", icon='FILE_FOLDER')
    if not row.is_deleted:
        third.operator(
            "thrixel.delete_submission", text="Delete", icon='TRASH'
        ).submission_id = submission_id


class THRIXEL_MT_assign_project(Menu):
    bl_idname = "THRIXEL_MT_assign_project"
    bl_label = "Assign to Project"

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        cache = library_cache.get()
        submission_id = library_props.ui_state(context).selected_submission
        for project in cache.project_list():
            operator = layout.operator("thrixel.assign_submission_project", text=project.name)
            operator.submission_id = submission_id
            operator.project_id = project.id
        if not cache.projects:
            layout.label(text="No projects: refresh or create one in the Projects panel.")
        layout.separator()
        operator = layout.operator("thrixel.assign_submission_project", text="No Project")
        operator.submission_id = submission_id
        operator.project_id = ""


# ---------------------------------------------------------------------------
# Projects


class VIEW3D_PT_thrixel_projects(panels.Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_projects"
    bl_label = "Projects"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        if draw_blocked(layout, context):
            return
        cache = library_cache.get()
        settings = props.context_settings(context).library
        row = layout.row(align=True)
        row.operator("thrixel.create_project", icon='ADD')
        row.operator("thrixel.refresh_projects", text="", icon='FILE_REFRESH')
        default = settings.default_project_name or "none"
        line = layout.row(align=True)
        line.label(text=f"New work joins: {default}", icon='SOLO_ON')
        if settings.default_project_id:
            line.operator("thrixel.set_default_project", text="", icon='X').project_id = ""
        draw_area_state(layout, context, cache, "projects")
        for project in cache.project_list():
            draw_project(layout.box(), cache, project, settings.default_project_id)


def draw_project(
    layout: UILayout, cache: LibraryCache, project: library_cache.ProjectRow, default_id: str
) -> None:
    row = layout.row(align=True)
    count = project.submission_count
    archived = ", archived" if project.is_archived else ""
    row.label(text=f"{project.name} ({count}{archived})", icon='FILE_FOLDER')
    star = row.operator(
        "thrixel.set_default_project",
        text="",
        icon='SOLO_ON' if project.id == default_id else 'SOLO_OFF',
    )
    star.project_id = project.id
    row.operator("thrixel.show_project", text="", icon='FILTER').project_id = project.id
    row.operator("thrixel.update_project", text="", icon='GREASEPENCIL').project_id = project.id
    row.operator("thrixel.delete_project", text="", icon='TRASH').project_id = project.id
    if project.description:
        layout.label(text=library_calls.shorten(project.description, 60))


# ---------------------------------------------------------------------------
# Gallery


class VIEW3D_PT_thrixel_gallery(panels.Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_gallery"
    bl_label = "Gallery"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        if draw_blocked(layout, context):
            return
        cache = library_cache.get()
        layout.operator("thrixel.refresh_gallery", icon='FILE_REFRESH')
        draw_area_state(layout, context, cache, "gallery")
        if "gallery" not in cache.fetched_at:
            return
        ui = library_props.ui_state(context)
        column = layout.column(align=True)
        for node, depth in cache.gallery_rows():
            draw_gallery_row(column, cache, node, depth, node.id == ui.selected_gallery_item)
        selected = cache.gallery.get(ui.selected_gallery_item)
        if selected is not None:
            box = layout.box()
            icon_value = cache.icon(selected.id)
            if icon_value:
                box.template_icon(icon_value=icon_value, scale=6.0)
            box.label(text=selected.label)
            row = box.row(align=True)
            row.operator(
                "thrixel.import_gallery_item", text="Import", icon='IMPORT'
            ).item_id = selected.id
            row.operator("thrixel.load_gallery_subtree", icon='OUTLINER').item_id = selected.id
            draw_area_state(box, context, cache, f"gallery:{selected.id}")


def draw_gallery_row(
    layout: UILayout,
    cache: LibraryCache,
    node: library_cache.GalleryNode,
    depth: int,
    selected: bool,
) -> None:
    row = layout.row(align=True)
    for _ in range(depth):
        row.label(text="", icon='BLANK1')
    expanded = node.id in cache.expanded
    arrow: IconItems = 'DISCLOSURE_TRI_DOWN' if expanded else 'DISCLOSURE_TRI_RIGHT'
    row.operator("thrixel.toggle_gallery_item", text="", icon=arrow, emboss=False).item_id = node.id
    icon_value = cache.icon(node.id)
    if icon_value:
        row.label(text="", icon_value=icon_value)
    row.operator(
        "thrixel.toggle_gallery_item",
        text=library_calls.shorten(node.label, 30),
        emboss=selected,
        depress=selected,
    ).item_id = node.id


# ---------------------------------------------------------------------------
# Downloads and limits


class VIEW3D_PT_thrixel_transfers(panels.Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_transfers"
    bl_label = "Downloads"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        cache = library_cache.get()
        if not cache.transfers:
            layout.label(text="No downloads yet. Start one from the Submissions panel.")
            return
        for transfer in reversed(list(cache.transfers.values())):
            draw_transfer(layout.box(), context, transfer)


def draw_transfer(layout: UILayout, context: Context, transfer: library_cache.Transfer) -> None:
    row = layout.row()
    row.label(text=f"{library_calls.shorten(transfer.label, 24)} {transfer.format.upper()}")
    if transfer.state == "running":
        waits = background.get().waits(f"transfer:{transfer.transfer_id}")
        if waits:
            draw_waits(layout, context, waits)
            return
        stage, fraction = transfer.progress.snapshot()
        text = TRANSFER_STAGES.get(stage, stage.capitalize())
        if fraction is not None:
            layout.progress(factor=min(1.0, max(0.0, fraction)), text=f"{text} {fraction:.0%}")
        else:
            layout.label(text=f"{text}…", icon='SORTTIME')
        return
    panels.wrapped_label(
        layout, context, transfer.message, icon='CHECKMARK' if transfer.state == "done" else 'ERROR'
    )
    buttons = layout.row(align=True)
    if transfer.can_force:
        again = buttons.operator(
            "thrixel.download_submission", text="Convert Again", icon='FILE_REFRESH'
        )
        again.submission_id = transfer.submission_id
        again.format = transfer.format
        again.force = True
        again.directory = transfer.destination
    buttons.operator("thrixel.dismiss_transfer", icon='X').transfer_id = transfer.transfer_id


class VIEW3D_PT_thrixel_limits(panels.Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_limits"
    bl_label = "Usage"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        now = time.time()
        usage = limits.tracker().usage(now)
        column = layout.column(align=True)
        column.label(text=f"Active jobs: {usage.active} of {usage.limits.active}")
        column.label(text=f"Requests this hour: {usage.last_hour} of {usage.limits.hourly}")
        column.label(text=f"Requests today: {usage.last_day} of {usage.limits.daily}")
        layout.label(text="Limits are the documented defaults; plans differ.", icon='INFO')
        for wait in usage.waits:
            panels.wrapped_label(layout, context, wait.describe(usage.limits, now), icon='SORTTIME')
        draw_waits(layout, context, background.get().waits(), with_action=True)
        if usage.at_active_limit:
            panels.wrapped_label(
                layout, context, "New work waits here until a job finishes.", icon='INFO'
            )


classes = (
    THRIXEL_UL_image_inputs,
    VIEW3D_PT_thrixel_generate_images,
    VIEW3D_PT_thrixel_rework,
    THRIXEL_MT_assign_project,
    VIEW3D_PT_thrixel_submissions,
    VIEW3D_PT_thrixel_projects,
    VIEW3D_PT_thrixel_gallery,
    VIEW3D_PT_thrixel_transfers,
    VIEW3D_PT_thrixel_limits,
)
