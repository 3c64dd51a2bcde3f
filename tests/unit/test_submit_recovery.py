"""A submit that got no response is found in the submission list instead of being sent twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server_fixture import LocalServer, running_server
from thrixel_blender.client import (
    ClientConfig,
    Phase1Request,
    SubmissionInfo,
    ThrixelClient,
    _http,
    errors,
)
from thrixel_blender.client._http import RetryPolicy
from thrixel_blender.jobs import recovery

pytestmark = pytest.mark.server

FAST_RETRIES = RetryPolicy(max_retries=2, initial_delay=0.05, max_delay=5.0)
PROMPT = "a copper weather vane shaped like a fox"
FIXTURE_GLB = (
    Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "glb" / "Duck.glb"
)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with running_server() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_state(server: LocalServer) -> None:
    server.admin.reset()


@pytest.fixture
def client(server: LocalServer) -> Iterator[ThrixelClient]:
    config = ClientConfig(base_url=server.base_url, api_key=server.api_key, retry=FAST_RETRIES)
    with ThrixelClient(config) as instance:
        yield instance


def submit_once(
    client: ThrixelClient, *, prompt: str = PROMPT, adopt_since: datetime | None = None
) -> str:
    request = Phase1Request(task=prompt)
    result = recovery.submit_once(
        client,
        threading.Event(),
        submit=lambda: client.submit_phase1(request),
        matches=recovery.task_matcher(1, prompt),
        adopt_since=adopt_since,
    )
    return result.submission_id


def created_submissions(server: LocalServer) -> list[dict]:
    """Submit requests that got a 200 response, so each created one submission."""
    return [entry for entry in server.admin.requests_log("phase1_submit") if entry["status"] == 200]


def test_dropped_response_is_found(client: ThrixelClient, server: LocalServer) -> None:
    # The server creates the submission, then the connection drops mid-response.
    server.admin.add_fault("phase1_submit", "drop_during_body")
    submission_id = submit_once(client)

    assert client.get_info(submission_id).input["task"] == PROMPT
    assert len(server.admin.requests_log("phase1_submit")) == 1
    assert len(created_submissions(server)) == 1


def test_drop_before_processing_raises(client: ThrixelClient, server: LocalServer) -> None:
    # The connection drops before the server handles the request: nothing was created.
    server.admin.add_fault("phase1_submit", "drop_before_body")
    with pytest.raises(errors.ThrixelConnectionError):
        submit_once(client)
    assert created_submissions(server) == []
    assert len(server.admin.requests_log("submissions")) == 1, "the list was not checked"


def test_timed_out_submit_is_found(
    client: ThrixelClient, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_http, "READ_TIMEOUT", 0.5)
    # The server creates the submission but responds after the client's read timeout.
    server.admin.add_fault("phase1_submit", "slow_response", seconds=1.5)
    submission_id = submit_once(client)

    assert [row.submission_id for row in client.list_submissions()] == [submission_id]
    assert len(server.admin.requests_log("phase1_submit")) == 1


def test_retry_adopts_earlier_submission(client: ThrixelClient, server: LocalServer) -> None:
    sent = datetime.now(UTC)
    # An earlier attempt created this one, but its response never arrived.
    orphan = client.submit_phase1(Phase1Request(task=PROMPT)).submission_id
    server.admin.clear_requests()

    assert submit_once(client, adopt_since=sent) == orphan
    assert server.admin.requests_log("phase1_submit") == []


def test_other_prompt_is_not_adopted(client: ThrixelClient, server: LocalServer) -> None:
    sent = datetime.now(UTC)
    other = client.submit_phase1(Phase1Request(task="a glass chess knight")).submission_id
    submission_id = submit_once(client, adopt_since=sent)
    assert submission_id != other
    assert len(created_submissions(server)) == 2


def test_known_submission_is_not_adopted(client: ThrixelClient, server: LocalServer) -> None:
    sent = datetime.now(UTC)
    known = client.submit_phase1(Phase1Request(task=PROMPT)).submission_id
    request = Phase1Request(task=PROMPT)
    result = recovery.submit_once(
        client,
        threading.Event(),
        submit=lambda: client.submit_phase1(request),
        matches=recovery.task_matcher(1, PROMPT),
        exclude={known},
        adopt_since=sent,
    )
    assert result.submission_id != known
    assert len(created_submissions(server)) == 2


def test_old_submission_is_not_adopted(client: ThrixelClient, server: LocalServer) -> None:
    old = client.submit_phase1(Phase1Request(task=PROMPT)).submission_id
    later = datetime.now(UTC) + recovery.CLOCK_MARGIN + timedelta(seconds=5)
    assert submit_once(client, adopt_since=later) != old


def test_parse_timestamp_forms() -> None:
    assert recovery.parse_timestamp("2026-04-20T14:32:11Z") == datetime(
        2026, 4, 20, 14, 32, 11, tzinfo=UTC
    )
    assert recovery.parse_timestamp("2026-04-20T14:32:11") is not None
    assert recovery.parse_timestamp("yesterday") is None
    assert recovery.parse_timestamp(None) is None


def phase5_info(**fields: object) -> SubmissionInfo:
    data = {
        "submission_id": "5e1c7a40-0000-4000-8000-000000000001",
        "phase": 5,
        "status": "completed",
        "input": {"task": "Blender selection: Cube"},
        **fields,
    }
    return SubmissionInfo.from_json(data)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"original_filename": "a1b2.glb", "file_size_bytes": 999}, True),
        ({"original_filename": "other.glb", "file_size_bytes": 2048}, False),
        ({"file_size_bytes": 2048}, True),
        ({"file_size_bytes": 999}, False),
        ({}, True),
        ({"input": {"task": "Blender selection: Sphere"}}, False),
        ({"phase": 4, "original_filename": "a1b2.glb"}, False),
    ],
    ids=[
        "same file name",
        "other file name",
        "same label and size",
        "same label other size",
        "same label no size",
        "other label",
        "not an upload",
    ],
)
def test_upload_matcher_cases(fields: dict[str, object], expected: bool) -> None:
    matches = recovery.upload_matcher("a1b2.glb", "Blender selection: Cube", 2048)

    assert matches(phase5_info(**fields)) is expected


def test_uploaded_file_is_found(client: ThrixelClient, tmp_path: Path) -> None:
    if not FIXTURE_GLB.is_file():
        pytest.skip(f"fixture {FIXTURE_GLB} is missing")
    sent_at = datetime.now(UTC)
    path = tmp_path / "e3f4.glb"
    path.write_bytes(FIXTURE_GLB.read_bytes())
    uploaded = client.upload_glb(path, task="Blender selection: Duck")

    found = recovery.find_submitted(
        client,
        since=sent_at,
        matches=recovery.upload_matcher(path.name, "Blender selection: Duck", path.stat().st_size),
    )

    assert found is not None
    assert found.submission_id == uploaded.submission_id
