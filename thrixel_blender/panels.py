"""Sidebar panels in the 3D viewport, tab "Thrixel": Generate and Jobs.

`draw()` only reads the scene's job records and the add-on's settings: no I/O.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, cast

from bpy.types import Context, Panel, UILayout

from . import online, preferences, props

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import IconItems

STATUS_ICONS: dict[str, IconItems] = {
    "submitting": 'EXPORT',
    "queued": 'SORTTIME',
    "processing": 'PLAY',
    "downloading": 'IMPORT',
    "completed": 'CHECKMARK',
    "failed": 'ERROR',
    "cancelled": 'CANCEL',
    "ready": 'IMPORT',
}
CHARACTER_WIDTH_PIXELS = 7
"""Rough width of one character of the interface font at scale 1, for wrapping labels."""


class Sidebar(Panel):
    """Base of the panels in the 3D viewport's sidebar tab "Thrixel"."""

    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Thrixel"


class VIEW3D_PT_thrixel_generate(Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_generate"
    bl_label = "Generate"

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        if draw_cannot_send(layout, context, addon_preferences_button=True):
            return

        settings = props.context_settings(context)
        layout.prop(settings, "prompt", text="")
        layout.prop(settings, "adaptive_thinking")
        # UILayout.panel() returns (header, body), and body is None while folded; the 4.2 stubs
        # declare no return type.
        header, body = cast(
            "tuple[UILayout, UILayout | None]",
            layout.panel("thrixel_generate_advanced", default_closed=True),
        )
        header.label(text="Advanced")
        if body is not None:
            body.prop(settings, "model_override")
        layout.operator("thrixel.generate_model", icon='SHADERFX')


class VIEW3D_PT_thrixel_jobs(Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_jobs"
    bl_label = "Jobs"

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        jobs = props.context_settings(context).jobs
        if len(jobs) == 0:
            layout.label(text="No jobs yet. Generated models show up here.")
            return
        for record in reversed(jobs):
            draw_job(layout.box(), context, record)


def draw_job(layout: UILayout, context: Context, record: props.THRIXEL_PG_job) -> None:
    """Draw one job: its name and status, a progress bar while active, its last message."""
    row = layout.row()
    row.label(text=record.label, icon=STATUS_ICONS.get(record.status, 'QUESTION'))
    row.label(text=record.status.capitalize())
    if record.is_active:
        layout.progress(factor=record.progress, text=f"{round(record.progress * 100)}%")
    if record.message:
        wrapped_label(layout, context, record.message)

    buttons = layout.row(align=True)
    if record.is_active:
        buttons.operator("thrixel.cancel_job", text="Cancel", icon='X').job_id = record.job_id
        return
    if record.status == "ready":
        buttons.operator(
            "thrixel.import_result", text="Import", icon='IMPORT'
        ).job_id = record.job_id
    if record.status in ("failed", "cancelled"):
        buttons.operator(
            "thrixel.retry_job", text="Retry", icon='FILE_REFRESH'
        ).job_id = record.job_id
    buttons.operator("thrixel.remove_job", text="Remove", icon='TRASH').job_id = record.job_id


def draw_cannot_send(
    layout: UILayout, context: Context, *, addon_preferences_button: bool = False
) -> bool:
    """Draw why no request can be sent and a way to fix it. Return whether it drew anything.

    When online access is off, a button opens the System preferences. When the settings are
    incomplete, the problem is drawn, with a button to the add-on's preferences if
    `addon_preferences_button` is set.
    """
    if not online.is_allowed():
        draw_offline(layout, context)
        return True
    problem = preferences.missing_setting()
    if not problem:
        return False
    wrapped_label(layout, context, problem, icon='ERROR')
    if addon_preferences_button:
        layout.operator(
            "preferences.addon_show", text="Open Add-on Preferences"
        ).module = __package__
    return True


def draw_offline(layout: UILayout, context: Context) -> None:
    wrapped_label(layout, context, online.OFFLINE_REASON, icon='INTERNET_OFFLINE')
    layout.operator("screen.userpref_show", text="Open Preferences").section = 'SYSTEM'


def wrapped_label(layout: UILayout, context: Context, text: str, icon: IconItems = 'NONE') -> None:
    """Draw `text` as labels wrapped to the sidebar's width."""
    region = context.region
    width = region.width if region is not None else 300
    preferences = context.preferences
    scale = (preferences.system.ui_scale if preferences is not None else 0.0) or 1.0
    columns = max(20, int(width / (CHARACTER_WIDTH_PIXELS * scale)) - 4)
    # Continuation lines get a blank icon so they line up with the first line's text.
    indent: IconItems = 'NONE' if icon == 'NONE' else 'BLANK1'
    column = layout.column(align=True)
    for index, line in enumerate(textwrap.wrap(text, columns) or [""]):
        column.label(text=line, icon=icon if index == 0 else indent)


classes = (VIEW3D_PT_thrixel_generate, VIEW3D_PT_thrixel_jobs)
