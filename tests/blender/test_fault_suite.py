"""Every fault the local server injects, against every kind of job, in real Blender.

Each case queues one fault on one route, starts the job through its operator and pumps until
the job ends. The outcome is one of:

- recovered: the job finished, the server created one submission, the model is in the scene
  once (or the file or listing is complete);
- failed cleanly: the job failed with a plain message (no traceback, repr, file:line or
  "Error:" prefix), left nothing half-made behind, and after the fault is cleared its Retry
  action finishes it without a second submission;
- other: anything else, including a stuck job or an unexpected exception in the log.

conftest.py prints the table of outcomes at the end of the run. Timeouts and backoff delays
are shortened by patching the modules' constants, so faults resolve in about a second.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy
import pytest
import requests
from conftest import Addon, id_counts
from fault_matrix import FAILED_CLEANLY, OTHER, RECOVERED, Outcome, record
from library_support import cache, created, reset_library
from selection_scene import fixture_path, select

from server_fixture import LocalServer

READ_TIMEOUT = 1.0
"""Read timeout of ordinary requests during the suite (the add-on's default is 30 s)."""
SLOW_SECONDS = 2.5
"""How long a `slow` fault delays a request: longer than READ_TIMEOUT."""
STREAM_SILENCE_SECONDS = 3.0
JOB_TIMEOUT_SECONDS = 45.0
PROMPT = "a small stone gargoyle holding a lantern"
KEY_HOSTS = ("127.0.0.1",)
"""Hosts that may receive the API key; a redirect fault points at 127.0.0.2."""


@dataclass(frozen=True)
class Fault:
    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


PERSISTENT = 1000
REQUEST_FAULTS = (
    Fault("drop-before-body", "drop_before_body"),
    Fault("drop-during-body", "drop_during_body"),
    Fault("http-500", "status", {"status": 500}),
    Fault("http-502", "status", {"status": 502}),
    Fault("http-503-persistent", "status", {"status": 503, "times": PERSISTENT}),
    Fault("429-retry-after", "rate_limit", {"retry_after": "1"}),
    Fault("429-no-retry-after", "rate_limit"),
    Fault("slow-past-timeout", "slow", {"seconds": SLOW_SECONDS}),
    Fault("html-error-page", "html_error", {"status": 502}),
    Fault("not-json", "not_json"),
)
STREAM_FAULTS = (
    Fault("stream-stall", "stream_stall", {"seconds": STREAM_SILENCE_SECONDS}),
    Fault("stream-keepalive-only", "stream_keepalive_only", {"seconds": STREAM_SILENCE_SECONDS}),
    Fault("stream-close-early", "stream_close_early", {"events": 1}),
)
GLB_FAULTS = (
    Fault("truncated-glb", "truncate"),
    Fault("corrupt-glb", "corrupt"),
    Fault("corrupt-glb-persistent", "corrupt", {"times": PERSISTENT}),
    Fault("redirect-other-host", "redirect", {"target_host": "127.0.0.2"}),
)
FILE_FAULTS = (Fault("redirect-other-host", "redirect", {"target_host": "127.0.0.2"}),)
LATE_RESPONSE_FAULTS = (
    Fault("response-after-timeout", "slow_response", {"seconds": SLOW_SECONDS}),
)
FAULT_GROUPS = {
    "request": REQUEST_FAULTS,
    "stream": STREAM_FAULTS,
    "glb": GLB_FAULTS,
    "file": FILE_FAULTS,
    "late": LATE_RESPONSE_FAULTS,
}


# --------------------------------------------------------------------------------------------
# Job kinds: how to start one, see it end, retry it and check what it left behind


class JobKind:
    """One kind of job as the suite drives it. Subclasses fill in the steps."""

    name = ""
    targets: dict[str, tuple[str, ...]] = {}
    """Fault group -> the routes of this kind that the group's faults hit."""

    def __init__(self, addon: Addon, server: LocalServer, tmp_path: Path) -> None:
        self.addon = addon
        self.server = server
        self.tmp_path = tmp_path

    def prepare(self) -> None:
        """Set the scene up before the fault is queued."""

    def start(self) -> None:
        raise NotImplementedError

    def state(self) -> str:
        """running, done or failed."""
        raise NotImplementedError

    def message(self) -> str:
        raise NotImplementedError

    def retry(self) -> bool:
        """Press the job's Retry action; False when it offers none."""
        raise NotImplementedError

    def problems_when_done(self) -> list[str]:
        return []

    def problems_when_failed(self) -> list[str]:
        return []


def submissions(server: LocalServer, phase: int) -> list[dict[str, Any]]:
    response = requests.get(
        f"{server.base_url}/submissions",
        params={"phase": phase, "include_deleted": "true"},
        headers=server.auth_headers(),
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json()["submissions"])


def tagged_objects() -> list[bpy.types.Object]:
    return [obj for obj in bpy.data.objects if "thrixel_submission_id" in obj]


class RecordKind(JobKind):
    """A job with a record in the Jobs panel and a model imported into the scene."""

    phase = 1
    job_id = ""
    ids_before: dict[str, int] = {}

    def record(self) -> Any:
        found = bpy.context.scene.thrixel.find_job(self.job_id)
        assert found is not None, "the job record disappeared"
        return found

    def newest(self) -> None:
        jobs = bpy.context.scene.thrixel.jobs
        self.job_id = jobs[len(jobs) - 1].job_id

    def state(self) -> str:
        record = self.record()
        if record.imported:
            return "done"
        if record.status in ("failed", "cancelled"):
            return "failed"
        return "running"

    def message(self) -> str:
        return str(self.record().message)

    def retry(self) -> bool:
        if not bpy.ops.thrixel.retry_job.poll():
            return False
        assert bpy.ops.thrixel.retry_job(job_id=self.job_id) == {'FINISHED'}
        self.newest()
        return True

    def problems_when_done(self) -> list[str]:
        problems = []
        record = self.record()
        created_here = submissions(self.server, self.phase)
        if len(created_here) != 1:
            problems.append(f"{len(created_here)} phase {self.phase} submissions on the server")
        ours = [
            obj for obj in tagged_objects() if obj["thrixel_submission_id"] == record.submission_id
        ]
        in_collection = set(bpy.data.collections[record.collection_name].all_objects)
        if not ours or set(ours) != in_collection:
            problems.append("the model is not in the scene exactly once")
        return problems

    def problems_when_failed(self) -> list[str]:
        problems = []
        if id_counts() != self.ids_before:
            problems.append("the failed job changed the file's datablocks")
        return problems


class GenerateKind(RecordKind):
    name = "generate"
    targets = {
        "request": ("phase1_submit", "info", "download"),
        "stream": ("stream",),
        "glb": ("download",),
        "late": ("phase1_submit",),
    }

    def prepare(self) -> None:
        self.ids_before = id_counts()

    def start(self) -> None:
        bpy.context.scene.thrixel.prompt = PROMPT
        assert bpy.ops.thrixel.generate_model() == {'FINISHED'}
        self.newest()


class DetailKind(RecordKind):
    name = "detail"
    phase = 4
    targets = {
        "request": ("detailer_submit", "download"),
        "stream": ("stream",),
        "glb": ("download",),
        "late": ("detailer_submit",),
    }

    def prepare(self) -> None:
        before = {obj.session_uid for obj in bpy.data.objects}
        bpy.ops.import_scene.gltf(filepath=str(fixture_path("Duck.glb")))
        duck = next(
            obj for obj in bpy.data.objects if obj.session_uid not in before and obj.type == 'MESH'
        )
        select([duck])
        self.ids_before = id_counts()

    def start(self) -> None:
        assert bpy.ops.thrixel.detail_selected() == {'FINISHED'}
        self.newest()

    def problems_when_done(self) -> list[str]:
        problems = super().problems_when_done()
        uploads = submissions(self.server, 5)
        if len(uploads) != 1:
            problems.append(f"{len(uploads)} uploads of the selection")
        return problems


class ListingKind(JobKind):
    name = "listing"
    targets = {"request": ("submissions",)}
    expected = ""
    fetched_before: object = None

    def prepare(self) -> None:
        reset_library(self.addon)
        self.expected = created(self.server, "a bronze bell")

    def start(self) -> None:
        self.fetched_before = cache(self.addon).fetched_at.get("submissions")
        assert bpy.ops.thrixel.refresh_submissions() == {'FINISHED'}

    def state(self) -> str:
        library = cache(self.addon)
        if library.fetched_at.get("submissions") != self.fetched_before:
            return "done"
        if "submissions" in library.errors and "submissions" not in library.loading:
            return "failed"
        return "running"

    def message(self) -> str:
        return str(cache(self.addon).errors.get("submissions", ""))

    def retry(self) -> bool:
        if not bpy.ops.thrixel.refresh_submissions.poll():
            return False
        self.start()
        return True

    def problems_when_done(self) -> list[str]:
        listed = set(cache(self.addon).submissions)
        problems = [] if self.expected in listed else ["the listing lacks the submission"]
        if len(submissions(self.server, 1)) != 1:
            problems.append("listing created a submission")
        return problems


class FileKind(JobKind):
    """Download a submission's file to a folder, converting it first for non-GLB formats."""

    format = "glb"
    submission_id = ""

    @property
    def folder(self) -> Path:
        return self.tmp_path / "downloads"

    def prepare(self) -> None:
        reset_library(self.addon)
        self.folder.mkdir(exist_ok=True)
        self.submission_id = created(self.server, "a stone well")

    def transfer(self) -> Any:
        transfers = list(cache(self.addon).transfers.values())
        assert len(transfers) == 1, f"expected one transfer, found {len(transfers)}"
        return transfers[0]

    def start(self) -> None:
        cache(self.addon).transfers.clear()
        result = bpy.ops.thrixel.download_submission(
            submission_id=self.submission_id, format=self.format, directory=str(self.folder)
        )
        assert result == {'FINISHED'}

    def state(self) -> str:
        state = self.transfer().state
        return {"done": "done", "failed": "failed"}.get(state, "running")

    def message(self) -> str:
        return str(self.transfer().message)

    def retry(self) -> bool:
        if not bpy.ops.thrixel.download_submission.poll():
            return False
        self.start()
        return True

    def problems_when_done(self) -> list[str]:
        files = sorted(path.name for path in self.folder.iterdir())
        path = Path(self.transfer().path)
        problems = []
        if files != [path.name]:
            problems.append(f"the folder holds {files}, expected only {path.name}")
        if self.format == "glb" and path.read_bytes()[:4] != b"glTF":
            problems.append("the downloaded GLB does not start with glTF")
        if path.stat().st_size == 0:
            problems.append("the downloaded file is empty")
        return problems

    def problems_when_failed(self) -> list[str]:
        leftovers = sorted(path.name for path in self.folder.iterdir())
        return [f"half-written files left behind: {leftovers}"] if leftovers else []


class DownloadKind(FileKind):
    name = "download"
    targets = {"request": ("download",), "glb": ("download",)}


class ConversionKind(FileKind):
    name = "conversion"
    format = "fbx"
    targets = {
        "request": ("convert", "convert_status", "convert_download"),
        "file": ("convert_download",),
    }


KINDS: tuple[type[JobKind], ...] = (
    GenerateKind,
    DetailKind,
    ListingKind,
    DownloadKind,
    ConversionKind,
)


def _cases() -> Iterator[Any]:
    for kind in KINDS:
        for group, routes in kind.targets.items():
            for route in routes:
                for fault in FAULT_GROUPS[group]:
                    yield pytest.param(kind, route, fault, id=f"{kind.name}-{route}-{fault.name}")


# --------------------------------------------------------------------------------------------
# Running one case


class LogWatch(logging.Handler):
    """Keeps the add-on's log records that carry a traceback: each is an unexpected failure."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.unexpected: list[str] = []

    def emit(self, log_record: logging.LogRecord) -> None:
        if log_record.exc_info or "pump failed" in log_record.getMessage():
            self.unexpected.append(log_record.getMessage())


@pytest.fixture
def fault_env(
    configured: Addon, server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LogWatch]:
    """Short timeouts and delays, no service rate limits, and a watch on the add-on's log."""
    api = configured.module("client.api")
    http = configured.module("client._http")
    runner = configured.module("jobs.runner")
    preferences = configured.module("preferences")
    monkeypatch.setattr(http, "READ_TIMEOUT", READ_TIMEOUT)
    monkeypatch.setattr(api, "STREAM_READ_TIMEOUT", READ_TIMEOUT)
    monkeypatch.setattr(api, "STREAM_IDLE_TIMEOUT", 2.0)
    monkeypatch.setattr(runner, "POLL_INITIAL_DELAY", 0.1)
    monkeypatch.setattr(runner, "POLL_MAX_DELAY", 0.5)
    monkeypatch.setattr(runner, "FOLLOW_GIVE_UP_SECONDS", 3.0)
    monkeypatch.setattr(runner, "RATE_LIMIT_FALLBACK_DELAY", 0.2)
    fast = http.RetryPolicy(max_retries=3, initial_delay=0.05, max_delay=5.0)
    real_config = preferences.client_config
    monkeypatch.setattr(
        preferences, "client_config", lambda: dataclasses.replace(real_config(), retry=fast)
    )
    server.admin.configure(rate_limits=False)
    watch = LogWatch()
    logger = logging.getLogger(configured.module_name)
    logger.addHandler(watch)
    yield watch
    logger.removeHandler(watch)
    server.admin.clear_faults()


def wait_for_end(addon: Addon, job: JobKind) -> str:
    pump = addon.module("pump")
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        pump.pump()
        state = job.state()
        if state != "running":
            return state
        time.sleep(0.02)
    return "stuck"


def message_problems(message: str, server: LocalServer) -> list[str]:
    problems = []
    if not message.strip():
        problems.append("no message")
    if "Traceback" in message or 'File "' in message or re.search(r"\w\.py\b:?\d*", message):
        problems.append("a traceback or file:line in the message")
    if message.lower().startswith("error:"):
        problems.append("an \"Error:\" prefix")
    if re.search(r"object at 0x|\w+(Error|Exception)\(", message):
        problems.append("a repr in the message")
    if server.api_key in message:
        problems.append("the API key in the message")
    return problems


def key_leaks(server: LocalServer) -> list[str]:
    return [
        f"the key was sent to {entry['host']}"
        for entry in server.admin.requests_log()
        if entry["authorization_present"] and (entry["host"] or "").split(":")[0] not in KEY_HOSTS
    ]


def run_case(job: JobKind, route: str, fault: Fault, watch: LogWatch) -> tuple[str, str]:
    server = job.server
    job.prepare()
    options = dict(fault.options)
    server.admin.add_fault(route, fault.kind, **options)
    job.start()
    ended = wait_for_end(job.addon, job)
    problems = key_leaks(server)
    if ended == "stuck":
        return OTHER, f"still running after {JOB_TIMEOUT_SECONDS:.0f} s: {job.message()!r}"
    if ended == "done":
        problems += job.problems_when_done() + watch.unexpected
        return (OTHER, "; ".join(problems)) if problems else (RECOVERED, "")

    first_message = job.message()
    problems += message_problems(first_message, server) + job.problems_when_failed()
    server.admin.clear_faults()
    if not job.retry():
        problems.append("no Retry action")
    elif (after_retry := wait_for_end(job.addon, job)) != "done":
        problems.append(f"Retry ended {after_retry}: {job.message()!r}")
    else:
        problems += job.problems_when_done()
    problems += watch.unexpected
    if problems:
        return OTHER, f"{first_message!r}: " + "; ".join(problems)
    return FAILED_CLEANLY, first_message


@pytest.mark.parametrize(("kind", "route", "fault"), list(_cases()))
def test_fault(
    fault_env: LogWatch,
    configured: Addon,
    server: LocalServer,
    tmp_path: Path,
    kind: type[JobKind],
    route: str,
    fault: Fault,
) -> None:
    job = kind(configured, server, tmp_path)
    try:
        outcome, detail = run_case(job, route, fault, fault_env)
    except Exception as error:  # noqa: BLE001 - an error in the case is an "other" outcome
        outcome, detail = OTHER, f"{type(error).__name__}: {error}"
    record(Outcome(kind.name, fault.name, route, outcome, detail))
    assert outcome != OTHER, detail
