"""The client against the local Thrixel server over real HTTP, faults included."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from server_fixture import LocalServer, running_server
from thrixel_blender.client import ClientConfig, Phase1Request, ThrixelClient, api, errors
from thrixel_blender.client._http import RetryPolicy
from thrixel_blender.client.glb import check_glb_header, read_glb_json

pytestmark = pytest.mark.server

FAST_RETRIES = RetryPolicy(max_retries=3, initial_delay=0.05, max_delay=5.0)
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "glb"


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


def follow_to_end(client: ThrixelClient, submission_id: str) -> list[str]:
    return [event.type for event in client.stream(submission_id)]


def completed_submission(client: ThrixelClient, prompt: str = "a stone lantern") -> str:
    submission_id = client.submit_phase1(Phase1Request(task=prompt)).submission_id
    follow_to_end(client, submission_id)
    assert client.get_info(submission_id).status == "completed"
    return submission_id


# ---------------------------------------------------------------------------
# The documented flow


def test_submit_stream_info_download(client: ThrixelClient, tmp_path: Path) -> None:
    result = client.submit_phase1(Phase1Request(task="a small stone gargoyle"))
    assert result.status == "queued"

    events = list(client.stream(result.submission_id))
    assert any(event.type == "progress" for event in events)
    assert events[-1].is_terminal
    percents = [event.percent for event in events if event.percent is not None]
    assert all(0.0 <= value <= 1.0 for value in percents)

    info = client.get_info(result.submission_id)
    assert info.status == "completed"
    assert info.phase == 1
    assert info.input["task"] == "a small stone gargoyle"

    glb = client.download(result.submission_id, tmp_path / "model.glb")
    check_glb_header(glb)
    assert len(read_glb_json(glb)["nodes"]) >= 2
    thumbnail = client.download(result.submission_id, tmp_path / "t.png", fmt="thumbnail")
    assert thumbnail.read_bytes().startswith(b"\x89PNG")
    script = client.download(result.submission_id, tmp_path / "model.py", fmt="py")
    assert "bpy" in script.read_text(encoding="utf-8")


def test_submit_sends_every_field(client: ThrixelClient, server: LocalServer) -> None:
    request = Phase1Request(task="a teapot", model="thrixel+", adaptive_thinking=True)
    client.submit_phase1(request)
    [entry] = server.admin.requests_log("phase1_submit")
    assert entry["body"] == {"task": "a teapot", "model": "thrixel+", "adaptive_thinking": True}
    assert entry["authorization_present"]


# ---------------------------------------------------------------------------
# Validation before sending


PNG_URL = "data:image/png;base64,iVBORw0KGgo="


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (Phase1Request(), "task"),
        (Phase1Request(task="   "), "task"),
        (Phase1Request(image=PNG_URL, images=[PNG_URL]), "images"),
        (Phase1Request(images=[PNG_URL] * 7), "images"),
        (Phase1Request(images=[]), "task"),
        (Phase1Request(image="http://example.invalid/a.png"), "image"),
        (Phase1Request(image="data:image/gif;base64,R0lGOD=="), "image"),
        (Phase1Request(image="data:image/png;base64,not base64!"), "image"),
        (Phase1Request(task="x", project_id="../etc"), "project_id"),
    ],
)
def test_invalid_request_is_not_sent(
    client: ThrixelClient, server: LocalServer, request_: Phase1Request, field: str
) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        client.submit_phase1(request_)
    assert caught.value.field == field
    assert server.admin.requests_log("phase1_submit") == []


def test_server_validation_names_field(client: ThrixelClient) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        client._submit("phase1_submit", {"images": [PNG_URL] * 7})
    assert caught.value.status == 422
    assert caught.value.field == "images"


@pytest.mark.parametrize("bad_id", ["../info", "a/b", "x?y=1", "%2e%2e", "", "a b"])
def test_ids_cannot_change_the_path(
    client: ThrixelClient, server: LocalServer, bad_id: str
) -> None:
    with pytest.raises(errors.ValidationError):
        client.get_info(bad_id)
    assert server.admin.requests_log() == []


@pytest.mark.parametrize(
    "url", ["http://api.thrixel.com/api/v1", "ftp://127.0.0.1/", "https://user:pw@host/api"]
)
def test_unsafe_base_urls_are_rejected(url: str) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        ClientConfig(base_url=url)
    assert caught.value.field == "base_url"


def test_loopback_http_is_accepted() -> None:
    for url in ("http://localhost:1/api/v1/", "http://127.0.0.5/x", "http://[::1]:8/api"):
        assert ClientConfig(base_url=url).base_url == url.rstrip("/")


# ---------------------------------------------------------------------------
# Errors


def test_wrong_key_is_auth_error_without_the_key(server: LocalServer) -> None:
    marker = "sk-thrixel-MARKER-wrong-key-123"
    config = ClientConfig(base_url=server.base_url, api_key=marker, retry=FAST_RETRIES)
    with ThrixelClient(config) as client, pytest.raises(errors.AuthError) as caught:
        client.submit_phase1(Phase1Request(task="a cup"))
    assert caught.value.status == 401
    assert marker not in str(caught.value)
    assert marker not in repr(config)


def test_missing_key_fails_before_sending(server: LocalServer) -> None:
    config = ClientConfig(base_url=server.base_url, api_key="")
    with ThrixelClient(config) as client, pytest.raises(errors.AuthError):
        client.submit_phase1(Phase1Request(task="a cup"))
    assert server.admin.requests_log() == []


def test_unknown_id_is_not_found(client: ThrixelClient) -> None:
    with pytest.raises(errors.NotFoundError):
        client.get_info("00000000-0000-4000-8000-000000000000")


def test_body_that_is_not_json(client: ThrixelClient, server: LocalServer) -> None:
    submission_id = completed_submission(client)
    server.admin.add_fault("info", "not_json", times=10)
    with pytest.raises(errors.InvalidResponseError) as caught:
        client.get_info(submission_id)
    assert "not JSON" in caught.value.message


def test_html_error_page_is_shown_as_status(client: ThrixelClient, server: LocalServer) -> None:
    submission_id = completed_submission(client)
    server.admin.add_fault("info", "html_error", status=502, times=10)
    with pytest.raises(errors.ServerError) as caught:
        client.get_info(submission_id)
    assert "<" not in caught.value.message
    assert "502" in caught.value.message


# ---------------------------------------------------------------------------
# Retries


def test_idempotent_call_retries_5xx(client: ThrixelClient, server: LocalServer) -> None:
    submission_id = completed_submission(client)
    server.admin.clear_requests()
    server.admin.add_fault("info", "status", status=503, times=2)
    assert client.get_info(submission_id).status == "completed"
    assert len(server.admin.requests_log("info")) == 3


def test_submit_is_not_retried_on_5xx(client: ThrixelClient, server: LocalServer) -> None:
    server.admin.add_fault("phase1_submit", "status", status=500)
    with pytest.raises(errors.ServerError):
        client.submit_phase1(Phase1Request(task="a cup"))
    assert len(server.admin.requests_log("phase1_submit")) == 1


def test_submit_not_retried_after_connection_drop(
    client: ThrixelClient, server: LocalServer
) -> None:
    server.admin.add_fault("phase1_submit", "drop_before_body")
    with pytest.raises(errors.ThrixelConnectionError):
        client.submit_phase1(Phase1Request(task="a cup"))
    assert len(server.admin.requests_log("phase1_submit")) == 1


def test_retry_after_seconds_is_honoured(client: ThrixelClient, server: LocalServer) -> None:
    submission_id = completed_submission(client)
    server.admin.add_fault("info", "rate_limit", retry_after="1")
    started = time.monotonic()
    assert client.get_info(submission_id).status == "completed"
    assert time.monotonic() - started >= 0.9


def test_retry_after_http_date_is_honoured(client: ThrixelClient, server: LocalServer) -> None:
    submission_id = completed_submission(client)
    when = datetime.now(UTC) + timedelta(seconds=2)
    server.admin.add_fault("info", "rate_limit", retry_after=format_datetime(when, usegmt=True))
    started = time.monotonic()
    assert client.get_info(submission_id).status == "completed"
    # HTTP dates have whole seconds, so the wait is between one and two seconds.
    assert time.monotonic() - started >= 0.9


def test_rate_limited_submit_raises_with_delay(client: ThrixelClient, server: LocalServer) -> None:
    server.admin.add_fault("phase1_submit", "rate_limit", retry_after="7")
    with pytest.raises(errors.RateLimitedError) as caught:
        client.submit_phase1(Phase1Request(task="a cup"))
    assert caught.value.retry_after == 7.0
    assert len(server.admin.requests_log("phase1_submit")) == 1


def test_long_retry_after_is_raised_not_waited(client: ThrixelClient, server: LocalServer) -> None:
    submission_id = completed_submission(client)
    server.admin.add_fault("info", "rate_limit", retry_after="3600")
    started = time.monotonic()
    with pytest.raises(errors.RateLimitedError) as caught:
        client.get_info(submission_id)
    assert caught.value.retry_after == 3600.0
    assert time.monotonic() - started < 2


def test_cancel_interrupts_backoff(client: ThrixelClient, server: LocalServer) -> None:
    submission_id = completed_submission(client)
    server.admin.add_fault("info", "rate_limit", retry_after="4", times=5)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(errors.CancelledError):
        client.get_info(submission_id, cancel=cancel)
    assert time.monotonic() - started < 2


# ---------------------------------------------------------------------------
# Downloads


def test_truncated_download_leaves_nothing(
    client: ThrixelClient, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = completed_submission(client)
    dest = tmp_path / "model.glb"
    dest.write_bytes(b"previous file")
    server.admin.add_fault("download", "truncate")
    with pytest.raises(errors.InvalidResponseError):
        client.download(submission_id, dest)
    assert dest.read_bytes() == b"previous file"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.glb"]

    client.download(submission_id, dest)
    check_glb_header(dest)


def test_corrupt_glb_is_rejected(
    client: ThrixelClient, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = completed_submission(client)
    server.admin.add_fault("download", "corrupt")
    with pytest.raises(errors.InvalidResponseError):
        client.download(submission_id, tmp_path / "model.glb")
    assert list(tmp_path.iterdir()) == []


def test_dropped_download_is_retried(
    client: ThrixelClient, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = completed_submission(client)
    server.admin.add_fault("download", "drop_before_body")
    check_glb_header(client.download(submission_id, tmp_path / "model.glb"))


def test_redirect_to_other_host_is_followed_without_key(
    client: ThrixelClient, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = completed_submission(client)
    server.admin.clear_requests()
    server.admin.add_fault("download", "redirect", target_host="127.0.0.2")
    check_glb_header(client.download(submission_id, tmp_path / "model.glb"))
    hosts = [entry["host"] for entry in server.admin.requests_log("download")]
    assert any(host.startswith("127.0.0.2") for host in hosts)
    assert not any(entry["authorization_present"] for entry in server.admin.requests_log())


def test_invalid_download_arguments(client: ThrixelClient, tmp_path: Path) -> None:
    with pytest.raises(errors.ValidationError):
        client.download("abc", tmp_path / "x", fmt="blend")
    with pytest.raises(errors.ValidationError):
        client.download("abc", tmp_path / "x", fmt="reference_image", index=6)
    with pytest.raises(errors.ValidationError):
        client.download("abc", tmp_path / "x", fmt="glb", index=0)


# ---------------------------------------------------------------------------
# Streams


def test_stream_of_keepalives_times_out(client: ThrixelClient, server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    submission_id = client.submit_phase1(Phase1Request(task="a cup")).submission_id
    server.admin.add_fault("stream", "stream_keepalive_only", seconds=30)
    with pytest.raises(errors.RequestTimeoutError):
        for _ in client.stream(submission_id, idle_timeout=1.5):
            pass


def test_stream_closed_early_ends_without_terminal(
    client: ThrixelClient, server: LocalServer
) -> None:
    server.admin.set_pace(0.5)
    submission_id = client.submit_phase1(Phase1Request(task="a cup")).submission_id
    server.admin.add_fault("stream", "stream_close_early", events=1)
    # The stream ends cleanly after the snapshot and one event: no terminal status, no error.
    events = list(client.stream(submission_id))
    assert events
    assert not any(event.is_terminal for event in events)


def test_interrupt_cuts_a_silent_stream(client: ThrixelClient, server: LocalServer) -> None:
    server.admin.set_pace(paused=True)
    submission_id = client.submit_phase1(Phase1Request(task="a cup")).submission_id
    server.admin.add_fault("stream", "stream_stall", seconds=30)
    threading.Timer(0.5, client.interrupt).start()
    started = time.monotonic()
    with pytest.raises(errors.CancelledError):
        for _ in client.stream(submission_id):
            pass
    assert time.monotonic() - started < 1.5


# ---------------------------------------------------------------------------
# Transport settings


def test_proxy_variables_do_not_capture_loopback(
    client: ThrixelClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy on a closed port: a request sent through it would fail at once.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "")
    assert client.submit_phase1(Phase1Request(task="a cup")).status == "queued"


def test_ca_bundle_turns_into_verify_path(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    assert ClientConfig(ca_bundle=str(bundle)).verify == str(bundle)
    assert ClientConfig().verify is True


# ---------------------------------------------------------------------------
# Upload


def test_upload_streams_file_and_round_trips(client: ThrixelClient, tmp_path: Path) -> None:
    source = FIXTURES / "Duck.glb"
    if not source.exists():
        pytest.skip(f"GLB fixtures not found at {FIXTURES}")
    seen: list[int] = []
    result = client.upload_glb(source, task="a duck", progress=lambda done, _: seen.append(done))
    assert result.status == "completed"
    assert seen[-1] > source.stat().st_size
    stored = client.download(result.submission_id, tmp_path / "stored.glb")
    assert stored.read_bytes() == source.read_bytes()


def test_upload_over_limit_is_not_sent(
    client: ThrixelClient, server: LocalServer, tmp_path: Path
) -> None:
    big = tmp_path / "big.glb"
    with big.open("wb") as handle:
        handle.truncate(100 * 1024**2 + 1)
    with pytest.raises(errors.ValidationError) as caught:
        client.upload_glb(big)
    assert caught.value.field == "glb_file"
    assert "100 MB" in caught.value.message
    assert server.admin.requests_log("phase5_submit") == []


def test_rate_limited_post_that_starts_no_work_is_retried(
    client: ThrixelClient, server: LocalServer
) -> None:
    server.admin.add_fault("project_create", "rate_limit", retry_after="1")
    project = client.create_project("Gargoyles")
    assert project.name == "Gargoyles"
    statuses = [entry["status"] for entry in server.admin.requests_log("project_create")]
    assert statuses == [429, 200]


def test_stream_silent_mid_body_is_a_timeout(
    client: ThrixelClient, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "STREAM_READ_TIMEOUT", 1.0)
    server.admin.set_pace(paused=True)
    submission_id = client.submit_phase1(Phase1Request(task="a cup")).submission_id
    server.admin.add_fault("stream", "stream_stall", seconds=30)
    with pytest.raises(errors.RequestTimeoutError) as caught:
        for _ in client.stream(submission_id):
            pass
    assert "stopped sending" in caught.value.message


def test_thumbnail_that_is_not_an_image_is_refused(
    client: ThrixelClient, server: LocalServer, tmp_path: Path
) -> None:
    submission_id = completed_submission(client)
    server.admin.add_fault("download", "not_json", times=10)
    with pytest.raises(errors.InvalidResponseError) as caught:
        client.download(submission_id, tmp_path / "thumb.png", fmt="thumbnail")
    assert "PNG or JPEG" in caught.value.message
    assert list(tmp_path.iterdir()) == []
