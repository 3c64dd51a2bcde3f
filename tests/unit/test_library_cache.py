"""The library cache: sorting, filters, details kept across listings, the gallery tree."""

from __future__ import annotations

from thrixel_blender.client.models import GalleryItem, SubmissionInfo, SubmissionSummary
from thrixel_blender.library_cache import (
    Filters,
    LibraryCache,
    SubmissionRow,
    format_age,
    parse_timestamp,
)


def summary(n: int, **fields: object) -> SubmissionSummary:
    data = {
        "submission_id": f"sub-{n}",
        "phase": 1,
        "status": "completed",
        "created_at": f"2026-04-20T14:{n:02d}:00Z",
        **fields,
    }
    return SubmissionSummary.from_json(data)


def rows(*summaries: SubmissionSummary) -> list[SubmissionRow]:
    return [SubmissionRow.from_summary(item) for item in summaries]


def test_visible_sorts_pinned_then_newest() -> None:
    cache = LibraryCache()
    cache.set_submissions(rows(summary(1), summary(3), summary(2, is_pinned=True)), Filters())
    assert [row.submission_id for row in cache.visible(Filters())] == ["sub-2", "sub-3", "sub-1"]


def test_filters_status_phase_project_deleted() -> None:
    cache = LibraryCache()
    cache.set_submissions(
        rows(
            summary(1, status="failed"),
            summary(2, phase=4, project_id="proj-1"),
            summary(3, is_deleted=True),
        ),
        Filters(),
    )
    assert [r.submission_id for r in cache.visible(Filters(status="failed"))] == ["sub-1"]
    assert [r.submission_id for r in cache.visible(Filters(phase=4))] == ["sub-2"]
    assert [r.submission_id for r in cache.visible(Filters(project_id="proj-1"))] == ["sub-2"]
    assert "sub-3" not in [r.submission_id for r in cache.visible(Filters())]
    assert "sub-3" in [r.submission_id for r in cache.visible(Filters(include_deleted=True))]


def test_view_is_reused_until_change() -> None:
    cache = LibraryCache()
    cache.set_submissions(rows(summary(1), summary(2)), Filters())
    first = cache.visible(Filters())
    assert cache.visible(Filters()) is first
    cache.update_submission("sub-1", is_pinned=True)
    second = cache.visible(Filters())
    assert second is not first
    assert second[0].submission_id == "sub-1"


def test_details_survive_a_new_listing() -> None:
    cache = LibraryCache()
    cache.set_submissions(rows(summary(1)), Filters())
    info = SubmissionInfo.from_json(
        {
            "submission_id": "sub-1",
            "phase": 3,
            "status": "completed",
            "input": {"task": "a cat", "modification_request": "make it blue"},
            "parent_submission_id": "sub-0",
            "is_archived": True,
        }
    )
    cache.store_info(info)
    cache.set_submissions(rows(summary(1)), Filters())
    row = cache.submissions["sub-1"]
    assert row.prompt == "make it blue"
    assert row.parent_submission_id == "sub-0"
    assert row.is_archived
    assert row.details_loaded


def test_label_prefers_nickname_then_prompt() -> None:
    row = SubmissionRow("abcdef123456", 1, "completed")
    assert row.label == "Submission abcdef12"
    assert SubmissionRow("x", 1, "completed", prompt="a cat").label == "a cat"
    assert SubmissionRow("x", 1, "completed", nickname="Cat", prompt="a cat").label == "Cat"


def test_gallery_tree_with_missing_parent() -> None:
    cache = LibraryCache()
    items = [
        GalleryItem.from_json({"id": "a", "name": "A"}),
        GalleryItem.from_json({"id": "b", "parent_id": "a", "name": "B"}),
        GalleryItem.from_json({"id": "c", "parent_id": "gone", "name": "C"}),
    ]
    cache.set_gallery(items, replace_all=True)
    assert [node.id for node, _ in cache.gallery_rows()] == ["a", "c"]
    cache.expanded.add("a")
    assert [(node.id, depth) for node, depth in cache.gallery_rows()] == [
        ("a", 0),
        ("b", 1),
        ("c", 0),
    ]


def test_remove_project_unlinks_rows() -> None:
    cache = LibraryCache()
    cache.set_submissions(rows(summary(1, project_id="proj-1")), Filters())
    cache.remove_project("proj-1")
    assert cache.submissions["sub-1"].project_id is None


def test_age_and_timestamps() -> None:
    created = parse_timestamp("2026-04-20T14:32:11Z")
    assert created is not None
    assert format_age(created, created + 30) == "just now"
    assert format_age(created, created + 300) == "5 min"
    assert format_age(created, created + 3 * 3600) == "3 h"
    assert format_age(created, created + 12 * 86400) == "12 d"
    assert parse_timestamp("not a time") is None
    assert format_age(None, created) == ""
