"""The Selected panel in the Thrixel sidebar tab: what Detail, Remesh and Retexture can do with
the active selection, each greyed out with the reason when it does not apply, and the imported
results, each with a button that shows either the result or the originals it replaced.

`draw()` reads the selection, the scene's options and job records only: no I/O.
"""

from __future__ import annotations

from typing import cast

import bpy
from bpy.types import Context, UILayout

from . import detail_jobs, detail_ops, preferences, props
from .panels import Sidebar, draw_cannot_send, wrapped_label
from .selection_export import SelectionInfo, inspect_selection

RESULT_KINDS = frozenset(detail_jobs.KIND_LABELS)


class VIEW3D_PT_thrixel_selected(Sidebar):
    bl_idname = "VIEW3D_PT_thrixel_selected"
    bl_label = "Selected"

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        if draw_cannot_send(layout, context):
            return
        info = inspect_selection(context)
        if info.problem:
            wrapped_label(layout, context, info.problem, icon='INFO')
            return

        layout.label(text=_summary(info), icon='OBJECT_DATA')
        if info.skipped:
            wrapped_label(
                layout, context, "Not sent: " + ", ".join(info.skipped.values()), icon='BLANK1'
            )
        options = props.context_settings(context).detail
        if info.submission_id:
            layout.prop(options, "use_scene_geometry")
        uploads = info.submission_id is None or options.use_scene_geometry
        row = layout.row()
        row.enabled = uploads
        row.prop(options, "scope", expand=True)
        if not uploads:
            wrapped_label(
                layout,
                context,
                "The service holds this model already; only the focus is sent.",
                icon='BLANK1',
            )


def can_send(context: Context) -> bool:
    """Sub-panels of the Selected panel show only when requests can be sent."""
    return preferences.blocked_reason() is None


class _SelectedPart(Sidebar):
    """Base of the sub-panels of the Selected panel, shown only when requests can be sent."""

    bl_parent_id = "VIEW3D_PT_thrixel_selected"

    @classmethod
    def poll(cls, context: Context) -> bool:
        return can_send(context)


class VIEW3D_PT_thrixel_selected_detail(_SelectedPart):
    bl_idname = "VIEW3D_PT_thrixel_selected_detail"
    bl_label = "Detail"

    def draw(self, context: Context) -> None:
        column = _action_column(
            self.layout, context, detail_jobs.detail_problem(inspect_selection(context))
        )
        if column is None:
            return
        options = props.context_settings(context).detail
        column.prop(options, "prompt")
        _draw_image_choice(column, options, "image_source", "image_path", "image")
        column.prop(options, "texture_size")
        column.prop(options, "decimation_target")
        column.prop(options, "seed")
        column.prop(options, "preserve_parts")
        column.prop(options, "focus_mode")

        # UILayout.panel() returns (header, body), and body is None while folded; the 4.2 stubs
        # declare no return type.
        header, body = cast(
            "tuple[UILayout, UILayout | None]",
            column.panel("thrixel_selected_detail_advanced", default_closed=True),
        )
        header.label(text="Advanced")
        if body is not None:
            body.prop(options, "control_mesh_voxelize_res")
            body.prop(options, "pipeline_type")
            body.prop(options, "use_noise_timestep")
            timestep = body.row()
            timestep.enabled = options.use_noise_timestep
            timestep.prop(options, "noise_timestep")
            body.prop(options, "control_mesh_url")
            body.prop(options, "project_id")
        column.operator("thrixel.detail_selected", icon='SHADERFX')


class VIEW3D_PT_thrixel_selected_remesh(_SelectedPart):
    bl_idname = "VIEW3D_PT_thrixel_selected_remesh"
    bl_label = "Remesh"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: Context) -> None:
        column = _action_column(
            self.layout, context, detail_jobs.phase4_problem(inspect_selection(context), "remesh")
        )
        if column is None:
            return
        options = props.context_settings(context).detail
        column.prop(options, "remesh_decimation_target")
        column.prop(options, "remesh_quads")
        column.label(text="Remesh always works on the whole model.", icon='INFO')
        column.operator("thrixel.remesh_selected", icon='MOD_REMESH')


class VIEW3D_PT_thrixel_selected_retexture(_SelectedPart):
    bl_idname = "VIEW3D_PT_thrixel_selected_retexture"
    bl_label = "Retexture"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context: Context) -> None:
        column = _action_column(
            self.layout,
            context,
            detail_jobs.phase4_problem(inspect_selection(context), "retexture"),
        )
        if column is None:
            return
        options = props.context_settings(context).detail
        column.prop(options, "retexture_mode")
        column.prop(options, "retexture_texture_size")
        if options.retexture_mode == 'regenerate':
            _draw_image_choice(
                column,
                options,
                "retexture_image_source",
                "retexture_image_path",
                "retexture_image",
            )
        column.operator("thrixel.retexture_selected", icon='TEXTURE')


class VIEW3D_PT_thrixel_selected_results(_SelectedPart):
    bl_idname = "VIEW3D_PT_thrixel_selected_results"
    bl_label = "Results"

    def draw(self, context: Context) -> None:
        layout = self.layout
        if layout is None:
            return
        records = [
            record
            for record in props.context_settings(context).jobs
            if record.kind in RESULT_KINDS and record.imported
        ]
        if not records:
            layout.label(text="Results of Detail, Remesh and Retexture show up here.")
            return
        for record in reversed(records):
            _draw_result(layout.box(), context, record)


def _draw_result(layout: UILayout, context: Context, record: props.THRIXEL_PG_job) -> None:
    layout.label(text=record.label, icon='CHECKMARK')
    row = layout.row(align=True)
    if record.sources_hidden:
        row.operator(
            "thrixel.restore_sources", text="Show Originals", icon='HIDE_OFF'
        ).job_id = record.job_id
    elif bpy.data.collections.get(record.collection_name) is not None:
        row.operator(
            "thrixel.show_result", text="Show Result", icon='HIDE_OFF'
        ).job_id = record.job_id
    row.operator(
        "thrixel.load_reference_image", text="Reference Image", icon='IMAGE_DATA'
    ).submission_id = record.submission_id
    status = detail_ops.reference_status.get(record.submission_id)
    if status:
        wrapped_label(layout, context, status)


def _action_column(
    layout: UILayout | None, context: Context, problem: str | None
) -> UILayout | None:
    """Set up the sub-panel of one action and return the column for its options.

    The column is greyed out under `problem` when that is set. Without a layout, return None.
    """
    if layout is None:
        return None
    layout.use_property_split = True
    layout.use_property_decorate = False
    return _greyed(layout, context, problem)


def _greyed(layout: UILayout, context: Context, problem: str | None) -> UILayout:
    """Return a column that is greyed out, under the reason, when `problem` is set."""
    if problem:
        wrapped_label(layout, context, problem, icon='INFO')
    column = layout.column()
    column.enabled = problem is None
    return column


def _draw_image_choice(
    layout: UILayout, options: object, source: str, path: str, image: str
) -> None:
    layout.prop(options, source)
    choice = getattr(options, source)
    if choice == 'FILE':
        layout.prop(options, path)
    elif choice == 'DATABLOCK':
        layout.prop(options, image)


def _summary(info: SelectionInfo) -> str:
    count = len(info.usable)
    objects = f"{count} object{'s' if count != 1 else ''}"
    if info.submission_id:
        return f"{objects} of a Thrixel model (phase {info.phase})"
    if info.submission_ids:
        return f"{objects}, not all from one Thrixel model"
    return f"{objects} from the scene"


classes = (
    VIEW3D_PT_thrixel_selected,
    VIEW3D_PT_thrixel_selected_detail,
    VIEW3D_PT_thrixel_selected_remesh,
    VIEW3D_PT_thrixel_selected_retexture,
    VIEW3D_PT_thrixel_selected_results,
)
