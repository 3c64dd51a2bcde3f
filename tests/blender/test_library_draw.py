"""The library panels draw from the cache only: no socket, no file, and a bounded number of
cache reads, even with 1,000 cached submissions."""

from __future__ import annotations

import builtins
import io
import socket
from collections.abc import Iterator
from typing import Any

import bpy
import pytest
from conftest import Addon
from layout_recorder import PanelStandIn, RecordingLayout
from library_support import reset_library

SUBMISSION_COUNT = 1000


class LibraryLayout(RecordingLayout):
    """The recorder plus the layout functions the library panels use beyond it."""

    def _child(self) -> LibraryLayout:
        return LibraryLayout(self.calls, open_panels=self.open_panels)

    def template_icon(self, **kwargs: Any) -> None:
        self._record("template_icon", (), kwargs)

    def template_list(self, *args: Any, **kwargs: Any) -> None:
        self._record("template_list", args, kwargs)

    def menu(self, menu: str, **kwargs: Any) -> None:
        assert hasattr(bpy.types, menu), f"menu {menu} is not registered"
        self._record("menu", (menu,), kwargs)


@pytest.fixture
def filled(configured: Addon) -> Iterator[Addon]:
    """The cache holding 1,000 submissions, 10 projects and a 3-level gallery."""
    reset_library(configured)
    library_cache = configured.module("library_cache")
    models = configured.module("client.models")
    cache = library_cache.get()
    projects = [
        models.Project.from_json({"id": f"project-{n}", "name": f"Project {n}"}) for n in range(10)
    ]
    cache.set_projects(projects)
    rows = [
        library_cache.SubmissionRow(
            submission_id=f"submission-{n:04d}",
            phase=1 + n % 5,
            status=("queued", "processing", "completed", "failed")[n % 4],
            nickname=f"Nick {n}" if n % 3 == 0 else None,
            prompt=f"a model number {n}",
            is_pinned=n % 97 == 0,
            project_id=f"project-{n % 10}",
            created_at="2026-04-20T14:32:11Z",
            created=1_776_695_531.0 - n * 60,
            details_loaded=True,
        )
        for n in range(SUBMISSION_COUNT)
    ]
    cache.set_submissions(rows, library_cache.Filters())
    gallery = [
        models.GalleryItem.from_json(
            {
                "id": f"item-{n}",
                "parent_id": f"item-{(n - 1) // 3}" if n else None,
                "name": f"Item {n}",
            }
        )
        for n in range(13)
    ]
    cache.set_gallery(gallery, replace_all=True)
    cache.expanded.update({"item-0", "item-1"})
    cache.lineages["submission-0000"] = ("submission-0001", "submission-0002")
    transfer = library_cache.Transfer("t1", "submission-0000", "Nick 0", "fbx", "/tmp")
    transfer.progress.set("downloading", 0.5)
    cache.transfers["t1"] = transfer
    ui = bpy.context.window_manager.thrixel
    ui.selected_submission = "submission-0000"
    ui.selected_gallery_item = "item-1"
    yield configured
    reset_library(configured)


class NoIO:
    """Make opening files and connecting sockets raise while active, and count attempts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.attempts: list[str] = []
        self._monkeypatch = monkeypatch

    def __enter__(self) -> NoIO:
        def refuse_open(*args: Any, **kwargs: Any) -> Any:
            self.attempts.append(f"open{args[:1]}")
            raise AssertionError(f"draw() opened a file: {args[:1]}")

        def refuse_connect(sock: socket.socket, address: Any) -> None:
            self.attempts.append(f"connect {address}")
            raise AssertionError(f"draw() connected a socket to {address}")

        self._monkeypatch.setattr(builtins, "open", refuse_open)
        self._monkeypatch.setattr(io, "open", refuse_open)
        self._monkeypatch.setattr(socket.socket, "connect", refuse_connect)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._monkeypatch.undo()


def draw(addon: Addon, panel_name: str) -> RecordingLayout:
    panel = getattr(addon.module("panels_library"), panel_name)
    layout = LibraryLayout()
    panel.draw(PanelStandIn(layout, panel), bpy.context)
    return layout


@pytest.mark.parametrize(
    "panel_name",
    [
        "VIEW3D_PT_thrixel_submissions",
        "VIEW3D_PT_thrixel_projects",
        "VIEW3D_PT_thrixel_gallery",
        "VIEW3D_PT_thrixel_transfers",
        "VIEW3D_PT_thrixel_limits",
        "VIEW3D_PT_thrixel_rework",
        "VIEW3D_PT_thrixel_generate_images",
    ],
)
def test_panel_draw_does_no_io(
    filled: Addon, monkeypatch: pytest.MonkeyPatch, panel_name: str
) -> None:
    with NoIO(monkeypatch) as guard:
        layout = draw(filled, panel_name)
    assert guard.attempts == []
    assert layout.calls, f"{panel_name} drew nothing"


def test_submissions_draw_reads_cache_only(filled: Addon, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = filled.module("library_cache").get()
    cache.visible(filled.module("library_ops").current_filters(bpy.context.window_manager.thrixel))
    reads_before = cache.reads
    with NoIO(monkeypatch):
        layout = draw(filled, "VIEW3D_PT_thrixel_submissions")
    reads = cache.reads - reads_before
    page_size = filled.module("panels_library").PAGE_SIZE
    # One sorted view, one icon per visible row, the selected row and its big thumbnail.
    assert 0 < reads <= page_size + 5, reads
    selects = [call for call in layout.operators() if call.args[0] == "thrixel.select_submission"]
    lineage = 2
    assert len(selects) == page_size + lineage
    texts = layout.text()
    assert "Page 1 of 100 (1000)" in texts
    # Pinned first: submission 0 is pinned, its nickname heads the page.
    assert selects[0].kwargs["text"] == "Nick 0"


def test_submissions_draw_is_fast_enough_to_repeat(
    filled: Addon, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = filled.module("library_cache").get()
    with NoIO(monkeypatch):
        draw(filled, "VIEW3D_PT_thrixel_submissions")
        sorted_view = cache._view
        draw(filled, "VIEW3D_PT_thrixel_submissions")
    # The second draw reuses the sorted view instead of sorting 1,000 rows again.
    assert cache._view is sorted_view


def test_submissions_actions_name_real_operators(filled: Addon) -> None:
    layout = draw(filled, "VIEW3D_PT_thrixel_submissions")
    ids = set(layout.operator_ids())
    for expected in (
        "thrixel.import_submission",
        "thrixel.select_scene_objects",
        "thrixel.download_submission",
        "thrixel.open_script",
        "thrixel.load_reference_images",
        "thrixel.refine_model",
        "thrixel.modify_model",
        "thrixel.set_submission_nickname",
        "thrixel.set_submission_pinned",
        "thrixel.set_submission_archived",
        "thrixel.set_submission_visible",
        "thrixel.delete_submission",
        "thrixel.show_lineage",
        "thrixel.change_page",
        "thrixel.refresh_submissions",
    ):
        assert expected in ids, f"the Submissions panel offers no {expected}"
    assert any(call.function == "menu" for call in layout.calls)


def test_gallery_draws_expanded_tree(filled: Addon) -> None:
    layout = draw(filled, "VIEW3D_PT_thrixel_gallery")
    names = [
        call.kwargs.get("text")
        for call in layout.operators()
        if call.args[0] == "thrixel.toggle_gallery_item" and call.kwargs.get("text")
    ]
    # item-0 and item-1 are open: item-0, its children 1..3, and item-1's children 4..6.
    assert names == ["Item 0", "Item 1", "Item 4", "Item 5", "Item 6", "Item 2", "Item 3"]
    assert "thrixel.import_gallery_item" in layout.operator_ids()
    assert "thrixel.load_gallery_subtree" in layout.operator_ids()


def test_panels_offline_say_why(filled: Addon) -> None:
    bpy.context.preferences.system.use_online_access = False
    try:
        layout = draw(filled, "VIEW3D_PT_thrixel_submissions")
    finally:
        bpy.context.preferences.system.use_online_access = True
    assert "Online access is off" in layout.text()
    assert "thrixel.refresh_submissions" not in layout.operator_ids()
