"""Operators for projects: list, create, show, rename or re-describe, delete, filter the
browser by one, and choose the default project for new work."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from bpy.props import StringProperty
from bpy.types import Context, Event, Operator

from . import library_cache, library_calls, library_props, messages, operators, props
from .client import ThrixelClient
from .client.models import Project
from .client.validation import validate_id, validate_text
from .library_cache import ProjectRow

if TYPE_CHECKING:
    from bpy.stub_internal.rna_enums import OperatorReturnItems


NAME_MAX = 255
DESCRIPTION_MAX = 2000


def refresh_projects() -> bool:
    """Fetch the project list in the background. Raises SettingsError on unusable settings."""

    def fetch(client: ThrixelClient, cancel: threading.Event) -> list[Project]:
        return client.list_projects(include_archived=True)

    def listed(projects: list[Project]) -> None:
        library_cache.get().set_projects(projects)

    return library_calls.start(fetch, listed, area="projects", action="Refresh Projects")


def _is_set(operator: Operator, name: str) -> bool:
    # Operator.is_property_set() looks at the Operator struct's own properties, where "name"
    # is the operator's label (always set) and any other name raises TypeError (4.2 and 5.0).
    # The operator's arguments live in `operator.properties`.
    return bool(operator.properties.is_property_set(name))


def _fail(operator: Operator, error: Exception) -> set[OperatorReturnItems]:
    operator.report({'ERROR'}, messages.user_message(error, action=operator.bl_label))
    return {'CANCELLED'}


class _NetworkOperator(Operator):
    @classmethod
    def poll(cls, context: Context) -> bool:
        return operators.network_ready(cls)


class THRIXEL_OT_refresh_projects(_NetworkOperator):
    """Fetch your projects from the service"""

    bl_idname = "thrixel.refresh_projects"
    bl_label = "Refresh Projects"
    bl_options = {'REGISTER', 'INTERNAL'}

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        try:
            refresh_projects()
        except Exception as error:
            return _fail(self, error)
        return {'FINISHED'}


class THRIXEL_OT_create_project(_NetworkOperator):
    """Create a project to group submissions"""

    bl_idname = "thrixel.create_project"
    bl_label = "New Project"
    bl_options = {'REGISTER', 'INTERNAL'}

    name: StringProperty(name="Name", description="1 to 255 characters", options={'SKIP_SAVE'})
    # Not "description": operators use that name for their tooltip function.
    project_description: StringProperty(
        name="Description", description="Optional, at most 2000 characters", options={'SKIP_SAVE'}
    )

    def invoke(self, context: Context, event: Event) -> set[OperatorReturnItems]:
        return library_calls.window_manager(context).invoke_props_dialog(self)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        name, description = self.name.strip(), self.project_description.strip() or None
        try:
            validate_text(name, "name", max_length=NAME_MAX, required=True)
            if description is not None:
                validate_text(description, "description", max_length=DESCRIPTION_MAX)
        except Exception as error:
            return _fail(self, error)

        def create(client: ThrixelClient, cancel: threading.Event) -> Project:
            return client.create_project(name, description)

        def created(project: Project) -> None:
            library_cache.get().store_project(ProjectRow.from_project(project))

        try:
            library_calls.start(create, created, area="projects", action="New Project", key=None)
        except Exception as error:
            return _fail(self, error)
        self.report({'INFO'}, f"Creating project \"{name}\".")
        return {'FINISHED'}


class _ProjectOperator(_NetworkOperator):
    project_id: StringProperty(name="Project ID", options={'SKIP_SAVE'})

    def checked_project(self) -> ProjectRow | None:
        try:
            validate_id(self.project_id, "project_id")
        except Exception as error:
            self.report({'ERROR'}, messages.user_message(error, action=self.bl_label))
            return None
        project = library_cache.get().projects.get(self.project_id)
        if project is None:
            self.report(
                {'ERROR'}, f"Project \"{self.project_id}\" is not in the list. Refresh projects."
            )
        return project


class THRIXEL_OT_update_project(_ProjectOperator):
    """Rename this project or change its description"""

    bl_idname = "thrixel.update_project"
    bl_label = "Edit Project"
    bl_options = {'REGISTER', 'INTERNAL'}

    name: StringProperty(name="Name", description="1 to 255 characters", options={'SKIP_SAVE'})
    project_description: StringProperty(
        name="Description", description="At most 2000 characters", options={'SKIP_SAVE'}
    )

    def invoke(self, context: Context, event: Event) -> set[OperatorReturnItems]:
        project = library_cache.get().projects.get(self.project_id)
        if project is not None:
            self.name = self.name or project.name
            self.project_description = self.project_description or project.description or ""
        return library_calls.window_manager(context).invoke_props_dialog(self)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        project = self.checked_project()
        if project is None:
            return {'CANCELLED'}
        # A field the caller did not set keeps its value; invoke() fills both for the dialog.
        changes: dict[str, Any] = {}
        name = self.name.strip()
        if _is_set(self, "name") and name != project.name:
            changes["name"] = name
        description = self.project_description.strip()
        if _is_set(self, "project_description") and description != (project.description or ""):
            changes["description"] = description
        if not changes:
            self.report({'INFO'}, "Nothing changed: enter a new name or description.")
            return {'CANCELLED'}
        try:
            if "name" in changes:
                validate_text(changes["name"], "name", max_length=NAME_MAX, required=True)
            if "description" in changes:
                validate_text(changes["description"], "description", max_length=DESCRIPTION_MAX)
        except Exception as error:
            return _fail(self, error)
        project_id = project.id

        def update(client: ThrixelClient, cancel: threading.Event) -> dict[str, Any]:
            return client.update_project(project_id, **changes)

        def updated(_answer: dict[str, Any]) -> None:
            cache = library_cache.get()
            known = cache.projects.get(project_id)
            if known is not None:
                cache.store_project(
                    ProjectRow(
                        known.id,
                        changes.get("name", known.name),
                        changes.get("description", known.description),
                        known.is_archived,
                        known.submission_count,
                        known.submission_ids,
                    )
                )

        try:
            library_calls.start(update, updated, area="projects", action="Edit Project", key=None)
        except Exception as error:
            return _fail(self, error)
        return {'FINISHED'}


class THRIXEL_OT_delete_project(_ProjectOperator):
    """Delete this project for good. Its submissions stay, without a project"""

    bl_idname = "thrixel.delete_project"
    bl_label = "Delete Project"
    bl_options = {'REGISTER', 'INTERNAL'}

    def invoke(self, context: Context, event: Event) -> set[OperatorReturnItems]:
        return library_calls.window_manager(context).invoke_confirm(self, event)

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        project = self.checked_project()
        if project is None:
            return {'CANCELLED'}
        project_id = project.id

        def delete(client: ThrixelClient, cancel: threading.Event) -> dict[str, Any]:
            return client.delete_project(project_id)

        def deleted(_answer: dict[str, Any]) -> None:
            library_cache.get().remove_project(project_id)
            for scene in context_scenes():
                settings = props.scene_settings(scene).library
                if settings.default_project_id == project_id:
                    settings.default_project_id = ""
                    settings.default_project_name = ""
            ui = library_props.ui_state()
            if ui.project_filter == project_id:
                ui.project_filter = ""

        try:
            library_calls.start(delete, deleted, area="projects", action="Delete Project", key=None)
        except Exception as error:
            return _fail(self, error)
        self.report({'INFO'}, f"Deleting project \"{project.name}\".")
        return {'FINISHED'}


def context_scenes() -> list[Any]:
    import bpy

    return list(bpy.data.scenes)


class THRIXEL_OT_show_project(_ProjectOperator):
    """Fetch this project's submissions and show only them in the browser"""

    bl_idname = "thrixel.show_project"
    bl_label = "Show Project"
    bl_options = {'REGISTER', 'INTERNAL'}

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        project = self.checked_project()
        if project is None:
            return {'CANCELLED'}
        project_id = project.id

        def fetch(client: ThrixelClient, cancel: threading.Event) -> dict[str, Any]:
            return client.get_project(project_id)

        def fetched(answer: dict[str, Any]) -> None:
            cache = library_cache.get()
            known = cache.projects.get(project_id)
            if known is None:
                return
            entries = answer.get("submissions")
            ids = tuple(
                entry["submission_id"]
                for entry in (entries if isinstance(entries, list) else [])
                if isinstance(entry, dict) and isinstance(entry.get("submission_id"), str)
            )
            description = answer.get("description")
            cache.store_project(
                ProjectRow(
                    known.id,
                    str(answer.get("name") or known.name),
                    description if isinstance(description, str) else known.description,
                    known.is_archived,
                    len(ids),
                    ids,
                )
            )

        ui = library_props.ui_state(context)
        ui.selected_project = project_id
        try:
            library_calls.start(fetch, fetched, area=f"project:{project_id}", action="Show Project")
        except Exception as error:
            return _fail(self, error)
        # Setting the filter fetches the listing for this project.
        ui.project_filter = project_id
        return {'FINISHED'}


class THRIXEL_OT_set_project_filter(Operator):
    """List only the submissions of this project, or of every project when empty"""

    bl_idname = "thrixel.set_project_filter"
    bl_label = "Filter by Project"
    bl_options = {'REGISTER', 'INTERNAL'}

    project_id: StringProperty(name="Project ID", options={'SKIP_SAVE'})

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        library_props.ui_state(context).project_filter = self.project_id
        return {'FINISHED'}


class THRIXEL_OT_set_default_project(Operator):
    """Make new generations, refinements and modifications join this project"""

    bl_idname = "thrixel.set_default_project"
    bl_label = "Use for New Work"
    bl_options = {'REGISTER', 'UNDO', 'INTERNAL'}

    project_id: StringProperty(
        name="Project ID", description="Empty for no project", options={'SKIP_SAVE'}
    )

    def execute(self, context: Context) -> set[OperatorReturnItems]:
        settings = props.context_settings(context).library
        if not self.project_id:
            settings.default_project_id = ""
            settings.default_project_name = ""
            self.report({'INFO'}, "New work joins no project.")
            return {'FINISHED'}
        project = library_cache.get().projects.get(self.project_id)
        if project is None:
            self.report(
                {'ERROR'}, f"Project \"{self.project_id}\" is not in the list. Refresh projects."
            )
            return {'CANCELLED'}
        settings.default_project_id = project.id
        settings.default_project_name = project.name
        self.report({'INFO'}, f"New work joins the project \"{project.name}\".")
        return {'FINISHED'}


classes = (
    THRIXEL_OT_refresh_projects,
    THRIXEL_OT_create_project,
    THRIXEL_OT_update_project,
    THRIXEL_OT_delete_project,
    THRIXEL_OT_show_project,
    THRIXEL_OT_set_project_filter,
    THRIXEL_OT_set_default_project,
)
