"""The job runner against the local Thrixel server: follow, fall back, cancel, resume."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from server_fixture import LocalServer, running_server
from thrixel_blender.client import ClientConfig, Phase1Request, ThrixelClient
from thrixel_blender.client._http import RetryPolicy
from thrixel_blender.client.glb import check_glb_header
from thrixel_blender.jobs import JobEvent, JobRunner, JobSpec
from thrixel_blender.jobs import runner as runner_module

pytestmark = pytest.mark.server

TERMINAL = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with running_server() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_state(server: LocalServer) -> None:
    server.admin.reset()


@pytest.fixture
def runner(server: LocalServer) -> Iterator[JobRunner]:
    config = ClientConfig(
        base_url=server.base_url,
        api_key=server.api_key,
        retry=RetryPolicy(max_retries=3, initial_delay=0.05, max_delay=5.0),
    )
    instance = JobRunner(lambda: ThrixelClient(config), max_workers=2)
    yield instance
    assert instance.shutdown(timeout=3.0)


def generate_spec(tmp_path: Path, job_id: str = "job-1", prompt: str = "a clay pot") -> JobSpec:
    request = Phase1Request(task=prompt)
    return JobSpec(
        job_id=job_id,
        kind="generate",
        dest_dir=tmp_path,
        submit=lambda client, _cancel: client.submit_phase1(request),
    )


def events_until_end(runner: JobRunner, job_id: str, timeout: float = 30.0) -> list[JobEvent]:
    events: list[JobEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = runner.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if event.job_id == job_id:
            events.append(event)
            if event.kind in TERMINAL:
                return events
    raise AssertionError(f"job {job_id} did not end; events: {[e.kind for e in events]}")


def wait_for(runner: JobRunner, job_id: str, kind: str) -> JobEvent:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            event = runner.events.get(timeout=0.1)
        except queue.Empty:
            continue
        if event.job_id == job_id and event.kind == kind:
            return event
    raise AssertionError(f"no {kind} event for {job_id}")


def test_generate_job_completes_with_files(runner: JobRunner, tmp_path: Path) -> None:
    runner.start(generate_spec(tmp_path))
    events = events_until_end(runner, "job-1")
    kinds = [event.kind for event in events]
    assert kinds[0] == "queued"
    assert "submitted" in kinds
    assert "progress" in kinds
    assert kinds[-1] == "completed"
    files = events[-1].files
    check_glb_header(Path(files["glb"]))
    assert Path(files["thumbnail"]).read_bytes().startswith(b"\x89PNG")
    assert runner.active_job_ids() == set()


def test_stream_closed_early_falls_back_to_polling(
    runner: JobRunner, server: LocalServer, tmp_path: Path
) -> None:
    server.admin.add_fault("stream", "stream_close_early", events=1, times=3)
    runner.start(generate_spec(tmp_path))
    events = events_until_end(runner, "job-1")
    assert events[-1].kind == "completed"
    assert len(server.admin.requests_log("info")) >= 1


def test_stalled_stream_falls_back_to_polling(
    runner: JobRunner, server: LocalServer, tmp_path: Path
) -> None:
    server.admin.add_fault("stream", "drop_during_body")
    runner.start(generate_spec(tmp_path))
    assert events_until_end(runner, "job-1")[-1].kind == "completed"


def test_failed_submission_reports_service_reason(
    runner: JobRunner, server: LocalServer, tmp_path: Path
) -> None:
    server.admin.fail(error="The prompt could not be understood")
    runner.start(generate_spec(tmp_path))
    last = events_until_end(runner, "job-1")[-1]
    assert last.kind == "failed"
    assert "The prompt could not be understood" in last.message


def test_rejected_request_fails_with_field(runner: JobRunner, tmp_path: Path) -> None:
    request = Phase1Request(images=["data:image/gif;base64,AAAA"])
    spec = JobSpec(
        job_id="bad",
        kind="generate",
        dest_dir=tmp_path,
        submit=lambda client, _cancel: client.submit_phase1(request),
    )
    runner.start(spec)
    last = events_until_end(runner, "bad")[-1]
    assert last.kind == "failed"
    assert "images[0]" in last.message


def test_rate_limited_submit_waits_and_sends_once(
    runner: JobRunner, server: LocalServer, tmp_path: Path
) -> None:
    server.admin.add_fault("phase1_submit", "rate_limit", retry_after="1")
    runner.start(generate_spec(tmp_path))
    events = events_until_end(runner, "job-1")
    waiting = [event for event in events if event.retry_after is not None]
    assert waiting
    assert waiting[0].retry_after == 1.0
    assert "1 s" in waiting[0].message
    assert events[-1].kind == "completed"
    accepted = [e for e in server.admin.requests_log("phase1_submit") if e["status"] == 200]
    assert len(accepted) == 1


def test_cancel_stops_following_within_a_second(
    runner: JobRunner, server: LocalServer, tmp_path: Path
) -> None:
    server.admin.set_pace(paused=True)
    runner.start(generate_spec(tmp_path))
    wait_for(runner, "job-1", "submitted")
    time.sleep(0.3)  # let the worker block inside the stream read

    started = time.monotonic()
    assert runner.cancel("job-1")
    assert wait_for(runner, "job-1", "cancelled").kind == "cancelled"
    while runner.active_job_ids() and time.monotonic() - started < 1.0:
        time.sleep(0.02)
    assert runner.active_job_ids() == set()
    assert time.monotonic() - started < 1.0

    # Nothing more is reported for the cancelled job, even after the service finishes it.
    server.admin.set_pace(paused=False)
    time.sleep(1.0)
    later = [runner.events.get_nowait() for _ in range(runner.events.qsize())]
    assert [event for event in later if event.job_id == "job-1"] == []


def test_resume_follows_existing_submission(
    runner: JobRunner, server: LocalServer, tmp_path: Path
) -> None:
    config = ClientConfig(base_url=server.base_url, api_key=server.api_key)
    with ThrixelClient(config) as client:
        submission_id = client.submit_phase1(Phase1Request(task="a brass key")).submission_id
    server.admin.clear_requests()
    runner.start(
        JobSpec(job_id="resumed", kind="generate", dest_dir=tmp_path, submission_id=submission_id)
    )
    last = events_until_end(runner, "resumed")[-1]
    assert last.kind == "completed"
    assert last.submission_id == submission_id
    assert server.admin.requests_log("phase1_submit") == []


def test_call_reports_result(runner: JobRunner) -> None:
    runner.start_call("check", lambda client, _cancel: client.list_submissions(limit=1))
    event = wait_for(runner, "check", "result")
    assert isinstance(event.payload, list)


def test_rate_limited_call_waits_then_resends(
    runner: JobRunner, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Retry-After above the client's max_delay (5 s here) reaches the runner.
    monkeypatch.setattr(runner_module, "RATE_LIMIT_MAX_WAIT", 0.2)
    server.admin.add_fault("submissions", "rate_limit", retry_after="8")
    runner.start_call("listing", lambda client, _cancel: client.list_submissions(limit=1))

    waiting = wait_for(runner, "listing", "queued")
    result = wait_for(runner, "listing", "result")

    assert waiting.retry_after == 0.2
    assert "Sending again in" in waiting.message
    assert isinstance(result.payload, list)
    assert [entry["status"] for entry in server.admin.requests_log("submissions")] == [429, 200]


def test_cancel_ends_rate_limit_wait(runner: JobRunner, server: LocalServer) -> None:
    server.admin.add_fault("submissions", "rate_limit", retry_after="90")
    runner.start_call("listing", lambda client, _cancel: client.list_submissions(limit=1))
    waiting = wait_for(runner, "listing", "queued")

    started = time.monotonic()
    assert runner.cancel("listing")
    assert wait_for(runner, "listing", "cancelled").kind == "cancelled"
    while runner.active_job_ids() and time.monotonic() - started < 1.0:
        time.sleep(0.02)

    assert waiting.retry_after == 90.0
    assert runner.active_job_ids() == set()
    assert len(server.admin.requests_log("submissions")) == 1


def test_shutdown_joins_blocked_workers(server: LocalServer, tmp_path: Path) -> None:
    config = ClientConfig(base_url=server.base_url, api_key=server.api_key)
    runner = JobRunner(lambda: ThrixelClient(config), max_workers=2)
    server.admin.set_pace(paused=True)
    runner.start(generate_spec(tmp_path, "a"))
    runner.start(generate_spec(tmp_path, "b", prompt="a wooden chair"))
    wait_for(runner, "a", "submitted")
    started = time.monotonic()
    assert runner.shutdown(timeout=3.0)
    assert time.monotonic() - started < 3.0
    names = {thread.name for thread in threading.enumerate()}
    assert not any(name.startswith("thrixel-worker") for name in names)


class _UnknownStatusHandler(BaseHTTPRequestHandler):
    """A service whose stream closes at once and whose /info reports a status nobody knows."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        if self.path.endswith("/stream"):
            self._send(b"", "text/event-stream")
        else:
            body = json.dumps({"submission_id": UNKNOWN_ID, "status": "weird_status", "phase": 1})
            self._send(body.encode(), "application/json")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


UNKNOWN_ID = "0badc0de-0000-4000-8000-000000000000"


def test_unknown_status_is_reported_and_followed(tmp_path: Path) -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _UnknownStatusHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    config = ClientConfig(base_url=f"http://127.0.0.1:{httpd.server_address[1]}/api/v1")
    runner = JobRunner(lambda: ThrixelClient(config), max_workers=1)
    try:
        runner.start(
            JobSpec(job_id="odd", kind="generate", dest_dir=tmp_path, submission_id=UNKNOWN_ID)
        )
        message = wait_for(runner, "odd", "message")
        assert "weird_status" in message.message
        assert "Cancel" in message.message
        assert runner.active_job_ids() == {"odd"}
        assert runner.cancel("odd")
    finally:
        assert runner.shutdown(timeout=3.0)
        httpd.shutdown()
        httpd.server_close()
