"""A submit that got no response is found in the submission list instead of being sent twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from server_fixture import LocalServer, running_server
from thrixel_blender.client import ClientConfig, Phase1Request, ThrixelClient, _http, errors
from thrixel_blender.client._http import RetryPolicy
from thrixel_blender.jobs import recovery

pytestmark = pytest.mark.server

FAST_RETRIES = RetryPolicy(max_retries=2, initial_delay=0.05, max_delay=5.0)
PROMPT = "a copper weather vane shaped like a fox"


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
