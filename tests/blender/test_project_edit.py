"""Edit Project through its operator: each combination of name and description, checked against
what the local server received and what the cache shows afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import bpy
import pytest
from conftest import Addon
from library_support import cache, pump_until, reset_library

from server_fixture import LocalServer

OLD_NAME = "Gargoyles"
OLD_DESCRIPTION = "Stone things"


@pytest.fixture
def library(configured: Addon) -> Iterator[Addon]:
    reset_library(configured)
    yield configured
    reset_library(configured)


def settle(addon: Addon) -> None:
    pump_until(
        addon,
        lambda: "projects" not in cache(addon).loading,
        what="the project call",
    )


def make_project(addon: Addon) -> str:
    assert bpy.ops.thrixel.create_project(name=OLD_NAME, project_description=OLD_DESCRIPTION) == {
        'FINISHED'
    }
    settle(addon)
    (project,) = cache(addon).projects.values()
    return str(project.id)


def sent_bodies(server: LocalServer) -> list[dict[str, Any]]:
    return [entry["body"] for entry in server.admin.requests_log("project_update")]


def server_project(server: LocalServer, project_id: str) -> dict[str, Any]:
    import requests

    response = requests.get(
        f"{server.base_url}/projects/{project_id}", headers=server.auth_headers(), timeout=10
    )
    response.raise_for_status()
    return dict(response.json())


@pytest.mark.parametrize(
    ("arguments", "expected_body"),
    [
        ({"project_description": "New words"}, {"description": "New words"}),
        ({"name": "Gargoyle variations"}, {"name": "Gargoyle variations"}),
        (
            {"name": "Gargoyle variations", "project_description": "New words"},
            {"name": "Gargoyle variations", "description": "New words"},
        ),
        ({"project_description": ""}, {"description": ""}),
        (
            {"name": OLD_NAME, "project_description": "New words"},
            {"description": "New words"},
        ),
        (
            {"name": "Gargoyle variations", "project_description": OLD_DESCRIPTION},
            {"name": "Gargoyle variations"},
        ),
    ],
    ids=[
        "description only",
        "name only",
        "name and description",
        "description cleared",
        "same name new description",
        "new name same description",
    ],
)
def test_edit_project_sends_changes(
    library: Addon,
    server: LocalServer,
    arguments: dict[str, str],
    expected_body: dict[str, str],
) -> None:
    project_id = make_project(library)
    server.admin.clear_requests()

    assert bpy.ops.thrixel.update_project(project_id=project_id, **arguments) == {'FINISHED'}
    settle(library)

    assert sent_bodies(server) == [expected_body]
    assert not cache(library).errors, cache(library).errors
    on_server = server_project(server, project_id)
    row = cache(library).projects[project_id]
    expected_name = expected_body.get("name", OLD_NAME)
    expected_description = expected_body.get("description", OLD_DESCRIPTION)
    assert on_server["name"] == expected_name
    assert (on_server["description"] or "") == expected_description
    assert row.name == expected_name
    assert (row.description or "") == expected_description


def test_edit_project_without_changes_sends_nothing(library: Addon, server: LocalServer) -> None:
    project_id = make_project(library)
    server.admin.clear_requests()

    for arguments in ({}, {"name": OLD_NAME, "project_description": OLD_DESCRIPTION}):
        result = bpy.ops.thrixel.update_project(project_id=project_id, **arguments)
        assert result == {'CANCELLED'}, arguments
    settle(library)

    assert sent_bodies(server) == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"project_description": "y" * 2500},
            "2,500 characters long; the service accepts at most 2,000",
        ),
        (
            {"name": "Renamed", "project_description": "y" * 2500},
            "2,500 characters long; the service accepts at most 2,000",
        ),
        ({"name": "x" * 300}, "300 characters long; the service accepts at most 255"),
        ({"name": "   "}, "(?i)name is empty"),
        ({"name": "", "project_description": "New words"}, "(?i)name is empty"),
    ],
    ids=[
        "long description",
        "new name with long description",
        "long name",
        "blank name",
        "empty name with description",
    ],
)
def test_edit_project_rejects_bad_values(
    library: Addon, server: LocalServer, arguments: dict[str, str], message: str
) -> None:
    project_id = make_project(library)
    server.admin.clear_requests()

    with pytest.raises(RuntimeError, match=message):
        bpy.ops.thrixel.update_project(project_id=project_id, **arguments)
    settle(library)

    assert sent_bodies(server) == []
    on_server = server_project(server, project_id)
    assert on_server["name"] == OLD_NAME
    assert on_server["description"] == OLD_DESCRIPTION
