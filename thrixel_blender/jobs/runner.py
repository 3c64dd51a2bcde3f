"""The job runner: worker threads that follow remote work to its end.

Threading rule: workers never touch `bpy`; they talk to the service through their own client
and report every state change as a `JobEvent` on `JobRunner.events`, which the main thread
drains. `cancel()` and `shutdown()` may be called from any thread.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..client import StreamEvent, ThrixelClient
from ..client import errors as client_errors
from ..client.durations import format_duration
from .events import CallFunction, JobEvent, JobSpec

log = logging.getLogger(__name__)

POLL_INITIAL_DELAY = 1.0
POLL_MAX_DELAY = 15.0
FOLLOW_GIVE_UP_SECONDS = 600.0
"""How long the runner keeps trying while the service cannot be reached before failing."""
DOWNLOAD_ATTEMPTS = 3
KNOWN_ACTIVE_STATUSES = frozenset({"queued", "processing"})
SUBMIT_RATE_LIMIT_ATTEMPTS = 20
RATE_LIMIT_FALLBACK_DELAY = 15.0
"""Wait after a 429 without Retry-After: this many seconds, then twice, and so on."""
RATE_LIMIT_MAX_WAIT = 3600.0
"""Maximum wait after one 429, in seconds. A longer Retry-After (such as an HTTP date far ahead)
is cut to this, and a further 429 simply starts another wait."""

_EXTENSIONS = {"thumbnail": "png", "reference_image": "png"}


class _Stopped(Exception):
    """The job was cancelled or the runner is shutting down."""


@dataclass
class _Work:
    job_id: str
    spec: JobSpec | None = None
    call: CallFunction | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    client: ThrixelClient | None = None


class JobRunner:
    """Runs jobs on a small pool of worker threads.

    `max_workers` also bounds how many submissions the runner follows at once; further jobs wait
    in a local queue, which keeps the add-on inside the service's active-job limit.
    """

    def __init__(
        self, client_factory: Callable[[], ThrixelClient], *, max_workers: int = 3
    ) -> None:
        self.events: queue.Queue[JobEvent] = queue.Queue()
        self._client_factory = client_factory
        self._pending: queue.Queue[_Work | None] = queue.Queue()
        self._work: dict[str, _Work] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._worker, name=f"thrixel-worker-{n}", daemon=True)
            for n in range(max_workers)
        ]
        for thread in self._threads:
            thread.start()

    # -----------------------------------------------------------------------
    # Public API, any thread

    def start(self, spec: JobSpec) -> None:
        """Queue a job; its first event is "queued"."""
        self._enqueue(_Work(spec.job_id, spec=spec))
        self.events.put(JobEvent(spec.job_id, "queued", submission_id=spec.submission_id))

    def start_call(self, call_id: str, function: CallFunction) -> None:
        """Run one short request on a worker; it ends in a "result" or a "failed" event.

        A 429 response is never the end: the worker emits a "queued" event with `retry_after`,
        waits (until `cancel()`), then runs `function` again from the start, so a function
        must be safe to run twice.
        """
        self._enqueue(_Work(call_id, call=function))

    def cancel(self, job_id: str) -> bool:
        """Stop following a job at once; returns False when the job is not running here.

        The "cancelled" event is queued before this returns, and the worker reports nothing more
        for the job. Remote work that was already submitted keeps running on the service.
        """
        with self._lock:
            work = self._work.pop(job_id, None)
        if work is None:
            return False
        work.cancel.set()
        if work.client is not None:
            work.client.interrupt()
        self.events.put(JobEvent(job_id, "cancelled", message="Cancelled"))
        return True

    def active_job_ids(self) -> set[str]:
        with self._lock:
            return set(self._work)

    def shutdown(self, timeout: float = 2.0) -> bool:
        """Cancel everything and join the workers; returns whether all of them ended in time."""
        self._stopping.set()
        with self._lock:
            work_items = list(self._work.values())
            self._work.clear()
        for work in work_items:
            work.cancel.set()
            if work.client is not None:
                work.client.interrupt()
        for _ in self._threads:
            self._pending.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in self._threads if thread.is_alive()]
        if alive:
            log.warning("Worker threads still running after %.1f s: %s", timeout, alive)
        return not alive

    # -----------------------------------------------------------------------
    # Workers

    def _enqueue(self, work: _Work) -> None:
        if self._stopping.is_set():
            raise RuntimeError("The job runner has been shut down")
        with self._lock:
            if work.job_id in self._work:
                raise ValueError(f"Job {work.job_id} is already running")
            self._work[work.job_id] = work
        self._pending.put(work)

    def _worker(self) -> None:
        while not self._stopping.is_set():
            work = self._pending.get()
            if work is None:
                return
            if work.cancel.is_set():
                continue
            client = self._client_factory()
            work.client = client
            try:
                if work.call is not None:
                    self._run_call(work)
                elif work.spec is not None:
                    self._run_job(work, work.spec)
            except _Stopped:
                pass
            except client_errors.ThrixelError as exc:
                self._fail(work, exc)
            except Exception as exc:  # noqa: BLE001 - a worker must survive any bug in a job
                log.exception("Job %s failed unexpectedly", work.job_id)
                self._fail(work, exc)
            finally:
                client.close()
                with self._lock:
                    if self._work.get(work.job_id) is work:
                        del self._work[work.job_id]

    def _run_call(self, work: _Work) -> None:
        assert work.call is not None and work.client is not None
        attempt = 0
        while True:
            self._check(work)
            try:
                result = work.call(work.client, work.cancel)
            except client_errors.RateLimitedError as exc:
                # The service did nothing for the rejected request, so the call waits and is
                # sent again however long the wait, until it succeeds or is cancelled.
                self._wait_out_rate_limit(work, exc, attempt)
                attempt += 1
                continue
            self._emit_for(work, "result", payload=result)
            return

    def _run_job(self, work: _Work, spec: JobSpec) -> None:
        assert work.client is not None
        submission_id = spec.submission_id
        if submission_id is None:
            submission_id = self._submit(work, spec)
        status = self._follow(work, submission_id)
        if status != "completed":
            return
        files = self._download_results(work, spec, submission_id)
        self._emit_for(
            work, "completed", submission_id=submission_id, status="completed", files=files
        )

    def _submit(self, work: _Work, spec: JobSpec) -> str:
        assert spec.submit is not None and work.client is not None
        for attempt in range(SUBMIT_RATE_LIMIT_ATTEMPTS):
            self._check(work)
            try:
                result = spec.submit(work.client, work.cancel)
            except client_errors.RateLimitedError as exc:
                # The service did not take the request, so sending it again cannot duplicate it.
                self._wait_out_rate_limit(work, exc, attempt)
                continue
            self._emit_for(
                work, "submitted", submission_id=result.submission_id, status=result.status
            )
            return result.submission_id
        raise client_errors.RateLimitedError(
            f"The service still rate limited the request after {SUBMIT_RATE_LIMIT_ATTEMPTS} tries"
        )

    def _follow(self, work: _Work, submission_id: str) -> str:
        """Follow the submission to a terminal status and return it; streams, then polls."""
        assert work.client is not None
        client = work.client
        poll_delay = POLL_INITIAL_DELAY
        last_contact = time.monotonic()
        unknown_reported: set[str] = set()
        streamed_status: str | None = None
        while True:
            self._check(work)
            try:
                for event in client.stream(submission_id, cancel=work.cancel):
                    last_contact = time.monotonic()
                    self._report_stream_event(work, submission_id, event)
                    if event.is_terminal:
                        streamed_status = event.status
                        break
            except client_errors.CancelledError as exc:
                raise _Stopped from exc
            except client_errors.ThrixelError as exc:
                if not exc.transient and not isinstance(exc, client_errors.NotFoundError):
                    raise
                log.info("Stream for %s ended early (%s); polling", submission_id, exc.message)

            # The stream is done or broken: /info is the source of truth either way.
            try:
                info = client.get_info(submission_id, cancel=work.cancel)
            except client_errors.CancelledError as exc:
                raise _Stopped from exc
            except client_errors.ThrixelError as exc:
                if not exc.transient:
                    raise
                if streamed_status == "completed":
                    # The stream already reported the end, and /info only confirms it.
                    log.info("Using the streamed status of %s: %s", submission_id, exc.message)
                    return streamed_status
                if time.monotonic() - last_contact > FOLLOW_GIVE_UP_SECONDS:
                    raise
                self._emit_for(work, "message", message=f"{exc.message}; trying again")
                self._wait(work, poll_delay)
                poll_delay = min(POLL_MAX_DELAY, poll_delay * 2) * random.uniform(0.8, 1.0)
                continue
            last_contact = time.monotonic()
            if info.is_terminal:
                if info.status == "failed":
                    reason = info.error or "no reason given"
                    self._emit_for(
                        work,
                        "failed",
                        submission_id=submission_id,
                        status="failed",
                        message=f"The service could not finish the model: {reason}",
                    )
                return info.status
            self._emit_for(work, "status", submission_id=submission_id, status=info.status)
            if info.status not in KNOWN_ACTIVE_STATUSES and info.status not in unknown_reported:
                # An unknown status is shown as it is and followed on, as a new service state
                # may still end in completed or failed. The user can cancel at any time.
                unknown_reported.add(info.status)
                self._emit_for(
                    work,
                    "message",
                    submission_id=submission_id,
                    message=f'The service reports the status "{info.status}", which this '
                    "add-on does not know. It keeps checking; press Cancel to stop",
                )
            self._wait(work, poll_delay)
            poll_delay = min(POLL_MAX_DELAY, poll_delay * 2)

    def _report_stream_event(self, work: _Work, submission_id: str, event: StreamEvent) -> None:
        if event.type == "progress":
            self._emit_for(
                work,
                "progress",
                submission_id=submission_id,
                progress=event.percent,
                message=event.message or "",
            )
        elif event.type == "status" and event.status is not None:
            self._emit_for(work, "status", submission_id=submission_id, status=event.status)
        elif event.type == "log" and event.message:
            self._emit_for(work, "message", submission_id=submission_id, message=event.message)

    def _download_results(self, work: _Work, spec: JobSpec, submission_id: str) -> dict[str, str]:
        assert work.client is not None
        files: dict[str, str] = {}
        for index, fmt in enumerate(spec.downloads):
            required = index == 0
            extension = _EXTENSIONS.get(fmt, fmt)
            dest = spec.dest_dir / f"{submission_id}.{extension}"
            self._emit_for(
                work, "progress", submission_id=submission_id, message=f"Downloading {fmt}"
            )
            try:
                path = self._download_with_retries(work, submission_id, fmt, dest)
            except client_errors.ThrixelError as exc:
                if required:
                    raise
                log.warning("Optional %s download for %s failed: %s", fmt, submission_id, exc)
                continue
            files[fmt] = str(path)
        return files

    def _download_with_retries(self, work: _Work, submission_id: str, fmt: str, dest: Path) -> Path:
        assert work.client is not None
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                return work.client.download(submission_id, dest, fmt=fmt, cancel=work.cancel)
            except client_errors.CancelledError as exc:
                raise _Stopped from exc
            except client_errors.ThrixelError as exc:
                if not exc.transient or attempt == DOWNLOAD_ATTEMPTS - 1:
                    raise
                log.warning("Download of %s for %s failed (%s); retrying", fmt, submission_id, exc)
                self._wait(work, POLL_INITIAL_DELAY * (2**attempt))
        raise AssertionError("unreachable")

    # -----------------------------------------------------------------------
    # Helpers

    def _wait_out_rate_limit(
        self, work: _Work, error: client_errors.RateLimitedError, attempt: int
    ) -> None:
        """Report a "queued" event with the wait after a 429 response, then wait it out."""
        delay = error.retry_after
        if delay is None:
            delay = RATE_LIMIT_FALLBACK_DELAY * (attempt + 1)
        delay = min(max(delay, 0.0), RATE_LIMIT_MAX_WAIT)
        log.info("%s rate limited; sending again in %.0f s", work.job_id, delay)
        self._emit_for(
            work,
            "queued",
            message=f"Rate limited by the service. Sending again in {format_duration(delay)}",
            retry_after=delay,
        )
        self._wait(work, delay)

    def _check(self, work: _Work) -> None:
        if work.cancel.is_set() or self._stopping.is_set():
            raise _Stopped

    def _wait(self, work: _Work, seconds: float) -> None:
        if work.cancel.wait(seconds) or self._stopping.is_set():
            raise _Stopped

    def _fail(self, work: _Work, exc: Exception) -> None:
        if work.cancel.is_set():
            return
        if isinstance(exc, client_errors.ThrixelError):
            message = exc.message
            error: client_errors.ThrixelError | None = exc
        else:
            message = "Something went wrong inside the add-on; see the system console log"
            error = None
        self._emit_for(work, "failed", message=message, error=error)

    def _emit_for(
        self,
        work: _Work,
        kind: str,
        *,
        submission_id: str | None = None,
        status: str | None = None,
        progress: float | None = None,
        message: str = "",
        files: dict[str, str] | None = None,
        error: client_errors.ThrixelError | None = None,
        retry_after: float | None = None,
        payload: object = None,
    ) -> None:
        """Emit an event unless the job was cancelled, in which case cancel() reported it."""
        if work.cancel.is_set():
            raise _Stopped
        if kind in ("completed", "failed", "result"):
            # The job leaves the active set before its last event is seen.
            with self._lock:
                if self._work.get(work.job_id) is work:
                    del self._work[work.job_id]
        event = JobEvent(
            work.job_id,
            kind,
            submission_id=submission_id,
            status=status,
            progress=progress,
            message=message,
            files=files or {},
            error=error,
            retry_after=retry_after,
            payload=payload,
        )
        self.events.put(event)
