"""A generated model lands where the 3D cursor was when Generate was pressed."""

from __future__ import annotations

import bpy
from conftest import Addon, only_job, pump_until, start_held_job
from mathutils import Vector

from server_fixture import LocalServer

START = Vector((1.0, 1.0, 1.0))
MOVED = Vector((-4.0, 0.0, 2.0))


def root_locations(collection_name: str) -> list[Vector]:
    collection = bpy.data.collections[collection_name]
    return [obj.location.copy() for obj in collection.all_objects if obj.parent is None]


def test_cursor_moved_mid_job(configured: Addon, server: LocalServer) -> None:
    bpy.context.scene.cursor.location = START
    # The local server's models have one root node at the origin.
    start_held_job(configured, server, "a clay teapot")
    assert Vector(only_job().placement) == START

    bpy.context.scene.cursor.location = MOVED
    server.admin.set_pace(paused=False)
    pump_until(configured, lambda: only_job().imported, what="the import")

    roots = root_locations(only_job().collection_name)
    assert roots, "the model has no root object"
    for location in roots:
        assert (location - START).length < 1e-6, f"root at {tuple(location)}"
    assert bpy.context.scene.cursor.location == MOVED


def test_retry_keeps_first_placement(configured: Addon, server: LocalServer) -> None:
    bpy.context.scene.cursor.location = START
    server.admin.add_fault("phase1_submit", "status", status=400)
    bpy.context.scene.thrixel.prompt = "a clay teapot"
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(configured, lambda: only_job().status == "failed", what="the job to fail")

    bpy.context.scene.cursor.location = MOVED
    assert bpy.ops.thrixel.retry_job(job_id=only_job().job_id) == {'FINISHED'}
    pump_until(configured, lambda: only_job().imported, what="the retried import")

    for location in root_locations(only_job().collection_name):
        assert (location - START).length < 1e-6, f"root at {tuple(location)}"


def test_old_record_uses_cursor(configured: Addon, server: LocalServer) -> None:
    start_held_job(configured, server, "a clay teapot")
    # A record saved before placements were kept has none, so the cursor of now applies.
    only_job().has_placement = False
    bpy.context.scene.cursor.location = MOVED
    server.admin.set_pace(paused=False)
    pump_until(configured, lambda: only_job().imported, what="the import")

    for location in root_locations(only_job().collection_name):
        assert (location - MOVED).length < 1e-6, f"root at {tuple(location)}"
