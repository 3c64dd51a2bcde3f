"""The submit step of selection jobs against the local server: upload once, then submit, and
check the parent before any work is sent. No bpy data is touched by this code."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_fixture import LocalServer, running_server
from thrixel_blender.client import ClientConfig, ThrixelClient
from thrixel_blender.client._http import RetryPolicy
from thrixel_blender.client.errors import ServerError, ValidationError
from thrixel_blender.detail_submit import SavedRequest, SubmitSelected, UploadPlan

pytestmark = pytest.mark.server

FIXTURES_GLB = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "glb"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with running_server() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_state(server: LocalServer) -> None:
    server.admin.reset()
    server.admin.configure(rate_limits=False)


@pytest.fixture
def client(server: LocalServer) -> Iterator[ThrixelClient]:
    config = ClientConfig(
        base_url=server.base_url,
        api_key=server.api_key,
        retry=RetryPolicy(max_retries=0, initial_delay=0.05, max_delay=0.1),
    )
    with ThrixelClient(config) as instance:
        yield instance


@pytest.fixture
def truck_copy(tmp_path: Path) -> Path:
    source = FIXTURES_GLB / "CesiumMilkTruck.glb"
    if not source.is_file():
        pytest.skip(f"fixture CesiumMilkTruck.glb not found in {FIXTURES_GLB}")
    copy = tmp_path / "selection.glb"
    copy.write_bytes(source.read_bytes())
    return copy


def test_second_attempt_reuses_upload(
    server: LocalServer, client: ThrixelClient, truck_copy: Path
) -> None:
    saved = SavedRequest(
        "detail",
        {"focus_on_node_names": ["Wheels"], "seed": 42},
        UploadPlan(truck_copy, "Blender selection: Wheels"),
    )
    submit = SubmitSelected("record-1", saved)
    server.admin.add_fault("detailer_submit", "status", status=500)

    with pytest.raises(ServerError):
        submit(client, threading.Event())
    result = submit(client, threading.Event())

    uploads = server.admin.requests_log("phase5_submit")
    details = server.admin.requests_log("detailer_submit")
    assert len(uploads) == 1
    assert len(details) == 2
    upload_id = details[-1]["body"]["parent_submission_id"]
    assert details[0]["fault"] == "status"
    assert details[-1]["body"]["focus_on_node_names"] == ["Wheels"]
    assert client.get_info(upload_id).phase == 5
    assert result.submission_id != upload_id
    # The file stays until the result is placed, so a lost upload id can still be recovered.
    assert truck_copy.exists()


def test_known_upload_is_not_sent_again(
    server: LocalServer, client: ThrixelClient, truck_copy: Path
) -> None:
    first = SubmitSelected(
        "record-1", SavedRequest("detail", {}, UploadPlan(truck_copy, "selection"))
    )
    first(client, threading.Event())
    upload_id = server.admin.requests_log("detailer_submit")[0]["body"]["parent_submission_id"]
    server.admin.clear_requests()

    retry = SubmitSelected(
        "record-1", SavedRequest("detail", {}, UploadPlan(truck_copy, "selection")), upload_id
    )
    retry(client, threading.Event())

    assert server.admin.requests_log("phase5_submit") == []
    (detail,) = server.admin.requests_log("detailer_submit")
    assert detail["body"]["parent_submission_id"] == upload_id


def test_remesh_of_upload_is_rejected_before_sending(
    server: LocalServer, client: ThrixelClient, truck_copy: Path
) -> None:
    upload_id = client.upload_glb(truck_copy).submission_id
    server.admin.clear_requests()
    submit = SubmitSelected("record-2", SavedRequest("remesh", {"parent_submission_id": upload_id}))

    with pytest.raises(ValidationError, match="phase 5") as raised:
        submit(client, threading.Event())

    assert raised.value.field == "parent_submission_id"
    assert server.admin.requests_log("detailer_remesh") == []


def test_saved_request_round_trips(tmp_path: Path) -> None:
    saved = SavedRequest(
        "retexture",
        {"parent_submission_id": "abc-123", "apply_to_node_names": ["Wheels ❤.001"]},
        UploadPlan(tmp_path / "x.glb", "task", "project-1"),
    )
    path = tmp_path / "request.json"
    saved.write(path)
    assert SavedRequest.read(path) == saved
