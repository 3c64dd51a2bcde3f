"""Shared set-up for the tests that run the add-on in real Blender (the `bpy` module).

- Blender's user folders point at a temporary folder, set before `bpy` is first imported.
- `addon` enables the add-on from this source tree through a local extension repository, so
  the module has its real `bl_ext.<repo>.thrixel_blender` name and an extension user folder.
- `server` runs the local Thrixel server on 127.0.0.1 for the whole session.
- The last `pytest_unconfigure` hook ends the process with `os._exit`, because the 4.2 and 4.5
  wheels can crash or hang in Blender's own teardown at interpreter exit.

Tests reach the add-on's submodules through `addon.module("pump")` and friends, never by
importing `thrixel_blender` directly: that would load a second copy with its own state.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_USER_RESOURCES = tempfile.mkdtemp(prefix="thrixel-blender-user-")
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES

import bpy  # noqa: E402

from server_fixture import LocalServer, running_server  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ID = "thrixel_blender"
SOURCE_REPO_MODULE = "thrixel_source_tree"
FIXTURES_GLB = REPO_ROOT.parent / "shared" / "fixtures" / "glb"
PUMP_TIMEOUT_SECONDS = 60.0

_exit_status = 0


# --------------------------------------------------------------------------------------------
# Process exit


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.blender)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the fault suite's table of outcomes when it ran."""
    from fault_matrix import summary_lines

    lines = summary_lines()
    if lines:
        terminalreporter.section("fault suite")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process before Blender's teardown runs, with pytest's own exit status."""
    shutil.rmtree(bpy.app.tempdir, ignore_errors=True)
    shutil.rmtree(_USER_RESOURCES, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)


# --------------------------------------------------------------------------------------------
# The add-on


@dataclass
class Addon:
    """The add-on enabled from the source tree."""

    module_name: str

    def module(self, name: str) -> ModuleType:
        """Return the add-on's submodule `name`, such as "pump" or "runtime"."""
        return importlib.import_module(f"{self.module_name}.{name}")

    @property
    def preferences(self) -> Any:
        return bpy.context.preferences.addons[self.module_name].preferences


def _source_repo_module() -> tuple[str, Callable[[], None]]:
    repos = bpy.context.preferences.extensions.repos
    for repo in repos:
        if repo.use_custom_directory and Path(repo.directory).resolve() == REPO_ROOT:
            return repo.module, lambda: None
    repo = repos.new(
        name="Thrixel source tree",
        module=SOURCE_REPO_MODULE,
        custom_directory=str(REPO_ROOT),
        source='USER',
    )
    return repo.module, lambda: repos.remove(repo)


def enable(module_name: str) -> None:
    import addon_utils

    errors: list[str] = []
    module = addon_utils.enable(
        module_name, default_set=True, handle_error=lambda error: errors.append(repr(error))
    )
    assert module is not None and not errors, f"enabling {module_name} failed: {errors}"


def disable(module_name: str) -> None:
    import addon_utils

    addon_utils.disable(module_name, default_set=True)


@pytest.fixture(scope="session")
def addon() -> Iterator[Addon]:
    repo_module, remove_repo = _source_repo_module()
    module_name = f"bl_ext.{repo_module}.{PACKAGE_ID}"
    enable(module_name)
    try:
        yield Addon(module_name)
    finally:
        if module_name in bpy.context.preferences.addons:
            disable(module_name)
        remove_repo()


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    with running_server(step_seconds=0.05) as running:
        yield running


@pytest.fixture
def configured(
    addon: Addon, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Addon]:
    """The add-on set up for the local server, online access on, and an empty scene."""
    monkeypatch.delenv("THRIXEL_API_KEY", raising=False)
    if addon.module_name not in bpy.context.preferences.addons:
        # Another test module disabled it (the registration cycle does).
        enable(addon.module_name)
    server.admin.reset()
    reset_scene()
    bpy.context.preferences.system.use_online_access = True
    preferences = addon.preferences
    preferences.api_key = server.api_key
    preferences.base_url = server.base_url
    preferences.ca_bundle = ""
    yield addon
    addon.module("runtime").get().cancel_all()
    drain_events(addon)
    reset_scene()


def reset_scene() -> None:
    """Empty the open file: no objects, no extra collections, no job records."""
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    if hasattr(scene, "thrixel"):
        scene.thrixel.jobs.clear()


def drain_events(addon: Addon) -> None:
    """Apply whatever is queued, so one test's events never reach the next test."""
    addon.module("pump").drain(budget=1.0)


def pump_until(
    addon: Addon, condition: Callable[[], bool], *, what: str, timeout: float = PUMP_TIMEOUT_SECONDS
) -> None:
    """Call the pump the way the timer would until `condition()` holds; fail after `timeout`."""
    pump = addon.module("pump")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pump.pump()
        if condition():
            return
        time.sleep(0.02)
    jobs = [
        (record.status, record.progress, record.message)
        for scene in bpy.data.scenes
        for record in scene.thrixel.jobs
    ]
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}; jobs: {jobs}")


def start_held_job(addon: Addon, server: LocalServer, prompt: str) -> None:
    """Generate from `prompt` while the server keeps every job queued; wait for its id."""
    server.admin.set_pace(paused=True)
    bpy.context.scene.thrixel.prompt = prompt
    assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
    pump_until(addon, lambda: bool(only_job().submission_id), what="the submission id")


def only_job() -> Any:
    jobs = bpy.context.scene.thrixel.jobs
    assert len(jobs) == 1, f"expected one job record, found {len(jobs)}"
    return jobs[0]


def id_counts() -> dict[str, int]:
    """Number of datablocks of every type in the open file."""
    return {
        prop.identifier: len(getattr(bpy.data, prop.identifier))
        for prop in bpy.data.bl_rna.properties
        if prop.type == 'COLLECTION'
    }
