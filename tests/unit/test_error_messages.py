"""What the user reads for each kind of failure: the client's mapping and `user_message`.

Real HTTP against the local Thrixel server; `messages` is imported without Blender because it
uses only the client and the log filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server_fixture import LocalServer, running_server
from thrixel_blender.client import ClientConfig, Phase1Request, ThrixelClient, errors
from thrixel_blender.client._http import RetryPolicy
from thrixel_blender.client.durations import format_duration
from thrixel_blender.messages import field_label, user_message

pytestmark = pytest.mark.server

FAST_RETRIES = RetryPolicy(max_retries=2, initial_delay=0.05, max_delay=5.0)
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
PNG_URL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBg"
    "AAAABQABpfZFQAAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with running_server() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_state(server: LocalServer) -> None:
    server.admin.reset()


def make_client(server: LocalServer, **overrides: object) -> ThrixelClient:
    settings: dict[str, object] = {
        "base_url": server.base_url,
        "api_key": server.api_key,
        "retry": FAST_RETRIES,
    }
    settings.update(overrides)
    return ThrixelClient(ClientConfig(**settings))  # type: ignore[arg-type]


def raised_by(call: object) -> errors.ThrixelError:
    with pytest.raises(errors.ThrixelError) as caught:
        call()  # type: ignore[operator]
    return caught.value


# ---------------------------------------------------------------------------
# Wrong base URL and redirects


def test_wrong_base_path_names_base_url(server: LocalServer) -> None:
    root = server.base_url.removesuffix("/api/v1")
    with make_client(server, base_url=f"{root}/nope") as client:
        error = raised_by(lambda: client.submit_phase1(Phase1Request(task="a cup")))
    assert isinstance(error, errors.BaseURLError)
    assert error.status == 404
    text = user_message(error, action="Generate", in_job=True)
    assert f"{root}/nope/phase1/submit" in text
    assert "base URL" in text
    assert "/api/v1" in text
    assert "Not Found." not in text.split(": ", 1)[0]


def test_unknown_id_keeps_not_found_meaning(server: LocalServer) -> None:
    with make_client(server) as client:
        error = raised_by(lambda: client.get_info(UNKNOWN_ID))
    assert isinstance(error, errors.NotFoundError)
    assert not isinstance(error, errors.BaseURLError)
    assert UNKNOWN_ID in error.message
    assert "base URL" not in user_message(error, action="Refresh")


def test_redirected_submit_is_not_followed(server: LocalServer) -> None:
    server.admin.add_fault("phase1_submit", "redirect", target_host="127.0.0.2")
    with make_client(server) as client:
        error = raised_by(lambda: client.submit_phase1(Phase1Request(task="a cup")))
    assert isinstance(error, errors.BaseURLError)
    text = user_message(error, action="Generate", in_job=True)
    assert "redirected" in text
    assert "127.0.0.2" in text
    assert "https://" in text
    assert "/api/v1" in text
    hosts = [entry["host"] for entry in server.admin.requests_log("phase1_submit")]
    assert not any(host.startswith("127.0.0.2") for host in hosts), "the redirect was followed"


# ---------------------------------------------------------------------------
# The API key


@pytest.mark.parametrize(
    "source",
    ["the THRIXEL_API_KEY environment variable", "the add-on preferences"],
)
def test_rejected_key_names_its_source(server: LocalServer, source: str) -> None:
    with make_client(server, api_key="sk-thrixel-not-accepted", key_source=source) as client:
        error = raised_by(lambda: client.list_submissions(limit=1))
    assert isinstance(error, errors.AuthError)
    assert error.status == 401
    text = user_message(error, action="Check Connection")
    assert source in text
    assert "sk-thrixel-not-accepted" not in text


# ---------------------------------------------------------------------------
# Next steps


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_does_not_blame_network(server: LocalServer, status: int) -> None:
    server.admin.add_fault("phase1_submit", "status", status=status)
    with make_client(server) as client:
        error = raised_by(lambda: client.submit_phase1(Phase1Request(task="a cup")))
    assert isinstance(error, errors.ServerError)
    text = user_message(error, action="Generate", in_job=True)
    assert "network" not in text
    assert "service" in text
    assert "press Retry" in text


def test_unreachable_service_mentions_network() -> None:
    config = ClientConfig(base_url="http://127.0.0.1:9/api/v1", retry=FAST_RETRIES)
    with ThrixelClient(config) as client:
        error = raised_by(lambda: client.get_info(UNKNOWN_ID))
    assert "network" in user_message(error, action="Refresh")


def test_server_rejection_names_ui_field(server: LocalServer) -> None:
    with make_client(server) as client:
        error = raised_by(lambda: client._submit("phase1_submit", {"images": [PNG_URL] * 7}))
    assert isinstance(error, errors.ValidationError)
    assert error.field == "images"
    text = user_message(error, action="Generate")
    assert "reference images" in text
    assert text.endswith("Fix the reference images and try again.")


def test_long_prompt_message() -> None:
    request = Phase1Request(task="x" * 100_000)
    error = raised_by(request.validate)
    assert isinstance(error, errors.ValidationError)
    assert error.field == "task"
    assert user_message(error, action="Generate") == (
        "The prompt is 100,000 characters long; the service accepts at most 2,000. Shorten it."
    )


def test_download_not_found_has_next_step(server: LocalServer, tmp_path: Path) -> None:
    with make_client(server) as client:
        error = raised_by(lambda: client.download(UNKNOWN_ID, tmp_path / "model.glb"))
    assert isinstance(error, errors.NotFoundError)
    text = user_message(error, action="Following the job", in_job=True)
    assert text.endswith("then press Retry.")


@pytest.mark.parametrize("fault", ["truncate", "corrupt"])
def test_damaged_download_names_the_model(server: LocalServer, tmp_path: Path, fault: str) -> None:
    with make_client(server) as client:
        submission_id = client.submit_phase1(Phase1Request(task="a cup")).submission_id
        for _event in client.stream(submission_id):
            pass
        server.admin.add_fault("download", fault, times=5)
        error = raised_by(lambda: client.download(submission_id, tmp_path / "model.glb"))
    text = user_message(error, action="Following the job", in_job=True)
    assert ".part" not in text
    assert submission_id not in text
    assert "network" not in text
    assert text.startswith(("The downloaded model", "The download was cut short"))


# ---------------------------------------------------------------------------
# Rate limits


def test_rate_limit_gives_one_instruction() -> None:
    error = errors.RateLimitedError("The service still rate limited the request after 20 tries")
    text = user_message(error, action="Following the job", in_job=True)
    assert text == (
        "The service still rate limited the request after 20 tries. Wait a while, then press Retry."
    )


def test_rate_limit_wait_is_human() -> None:
    error = errors.RateLimitedError("Rate limited while trying to create a model", retry_after=3599)
    text = user_message(error, action="Generate")
    assert text.endswith("Wait 60 minutes, then try again.")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (88.2, "89 seconds"),
        (90, "2 minutes"),
        (3599, "60 minutes"),
        (3600, "60 minutes"),
        (3601, "1 h 1 min"),
        (3900, "1 h 5 min"),
        (7200, "2 h"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("task", "prompt"),
        ("model", "model override"),
        ("images[2]", "reference image 3"),
        ("images.0", "reference image 1"),
        ("parent_submission_id", None),
    ],
)
def test_field_labels(field: str, label: str | None) -> None:
    assert field_label(field) == label


def test_runner_wait_is_human(server: LocalServer, tmp_path: Path) -> None:
    import queue
    import time

    from thrixel_blender.jobs import JobRunner, JobSpec

    server.admin.add_fault("phase1_submit", "rate_limit", retry_after="3599")
    config = ClientConfig(base_url=server.base_url, api_key=server.api_key, retry=FAST_RETRIES)
    runner = JobRunner(lambda: ThrixelClient(config), max_workers=1)
    request = Phase1Request(task="a cup")
    runner.start(
        JobSpec(
            job_id="limited",
            kind="generate",
            dest_dir=tmp_path,
            submit=lambda client, _cancel: client.submit_phase1(request),
        )
    )
    try:
        deadline = time.monotonic() + 20
        queued = None
        while queued is None and time.monotonic() < deadline:
            try:
                event = runner.events.get(timeout=0.1)
            except queue.Empty:
                continue
            # The first "queued" event only reports the start.
            if event.kind == "queued" and event.message:
                queued = event
        assert queued is not None, "the runner reported no wait"
        assert queued.message == "Rate limited by the service. Sending again in 60 minutes"
    finally:
        runner.cancel("limited")
        assert runner.shutdown(timeout=3.0)
