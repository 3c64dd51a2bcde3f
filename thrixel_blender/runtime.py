"""Session state of the add-on: the one job runner, the connection check, and which runner job
follows which job record. Nothing here is saved in a .blend file, and no bpy is used, so worker
threads may call `client_for_workers` safely.

Each time a record is followed, the runner gets a fresh run id. A file load forgets every run,
so events from a run cancelled during the load can never update the record a later run follows.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .client import ClientConfig, ThrixelClient
from .client.errors import ThrixelError
from .jobs import JobEvent, JobRunner, JobSpec, SubmitFunction
from .messages import user_message

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 2.0
"""Seconds to wait for worker threads when the add-on is disabled; they stop within one."""
MAX_WORKERS = 3
"""Jobs followed at once; matches the service's default limit of 3 active submissions."""


@dataclass(frozen=True)
class ConnectionStatus:
    """Outcome of the last connection check, shown in the preferences."""

    text: str = ""
    ok: bool = False
    base_url: str = ""
    """The base URL the check was made against, so a result for other settings is not shown."""


class Runtime:
    """The add-on's runner and the mapping from runner jobs to job records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._config: ClientConfig | None = None
        self._runner: JobRunner | None = None
        self._record_of_run: dict[str, str] = {}
        self._checks: list[threading.Thread] = []
        self.check_results: queue.Queue[ConnectionStatus] = queue.Queue()
        self.connection_status = ConnectionStatus()
        self.resume_pending = False
        """Set when job records may need following again (file load, add-on enabled, undo)."""
        self.deferred_imports: dict[str, JobEvent] = {}
        """Finished runs whose import waits for Object Mode, by run id."""
        self.imported_records: set[str] = set()
        """Records whose model the pump imported in this session, so undo can offer Import."""

    # Settings handed over from the main thread.

    def set_config(self, config: ClientConfig) -> None:
        with self._lock:
            self._config = config

    def client_for_workers(self) -> ThrixelClient:
        """Build a client from the last settings the main thread captured (any thread)."""
        with self._lock:
            config = self._config
        if config is None:
            raise ThrixelError("No settings were captured before the job started")
        return ThrixelClient(config)

    # Following jobs.

    @property
    def runner(self) -> JobRunner:
        with self._lock:
            if self._runner is None:
                self._runner = JobRunner(self.client_for_workers, max_workers=MAX_WORKERS)
            return self._runner

    def has_runner(self) -> bool:
        with self._lock:
            return self._runner is not None

    def follow(
        self,
        record_id: str,
        *,
        submit: SubmitFunction | None,
        submission_id: str | None,
        dest_dir: Path,
        downloads: tuple[str, ...] = ("glb",),
    ) -> str:
        """Start following the job of record `record_id`; returns the run id."""
        run_id = uuid.uuid4().hex
        with self._lock:
            self._record_of_run[run_id] = record_id
        spec = JobSpec(
            job_id=run_id,
            kind="generate",
            submit=submit,
            submission_id=submission_id,
            downloads=downloads,
            dest_dir=dest_dir,
        )
        try:
            self.runner.start(spec)
        except BaseException:
            self.forget_run(run_id)
            raise
        return run_id

    def record_of_run(self, run_id: str) -> str | None:
        with self._lock:
            return self._record_of_run.get(run_id)

    def run_of_record(self, record_id: str) -> str | None:
        with self._lock:
            for run_id, followed in self._record_of_run.items():
                if followed == record_id:
                    return run_id
        return None

    def is_following(self, record_id: str) -> bool:
        return self.run_of_record(record_id) is not None

    def forget_run(self, run_id: str) -> None:
        with self._lock:
            self._record_of_run.pop(run_id, None)
        self.deferred_imports.pop(run_id, None)

    def cancel(self, record_id: str) -> bool:
        """Stop following `record_id`; False when no run follows it.

        The runner queues the run's "cancelled" event before this returns.
        """
        run_id = self.run_of_record(record_id)
        if run_id is None or not self.has_runner():
            return False
        return self.runner.cancel(run_id)

    def cancel_all(self) -> None:
        """Cancel every run and forget them all: their events are ignored from now on."""
        with self._lock:
            run_ids = list(self._record_of_run)
            self._record_of_run.clear()
            runner = self._runner
        self.deferred_imports.clear()
        self.imported_records.clear()
        if runner is not None:
            for run_id in run_ids:
                runner.cancel(run_id)

    # The connection check, on a small thread of its own.

    def start_check(self, config: ClientConfig, check: Callable[[ThrixelClient], str]) -> None:
        """Run `check` with a client on a worker thread; its outcome lands in `check_results`."""

        def run() -> None:
            base_url = config.base_url
            try:
                with ThrixelClient(config) as client:
                    status = ConnectionStatus(check(client), ok=True, base_url=base_url)
            except ThrixelError as error:
                text = user_message(error, action="Check Connection")
                status = ConnectionStatus(text, ok=False, base_url=base_url)
            except Exception:
                log.exception("Connection check failed unexpectedly")
                status = ConnectionStatus(
                    "The connection check failed unexpectedly.", ok=False, base_url=base_url
                )
            self.check_results.put(status)

        thread = threading.Thread(target=run, name="thrixel-connection-check", daemon=True)
        with self._lock:
            self._checks = [alive for alive in self._checks if alive.is_alive()]
            self._checks.append(thread)
        thread.start()

    def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Stop the runner and wait for its workers and any connection check."""
        with self._lock:
            runner, self._runner = self._runner, None
            checks, self._checks = self._checks, []
            self._record_of_run.clear()
        self.deferred_imports.clear()
        if runner is not None:
            runner.shutdown(timeout=timeout)
        for thread in checks:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("The connection check did not stop within %.1f s", timeout)


_runtime: Runtime | None = None


def get() -> Runtime:
    """Return the add-on's runtime, created on first use."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime()
    return _runtime


def shutdown() -> None:
    """Shut the runtime down and drop it, so a later enable starts fresh."""
    global _runtime
    if _runtime is not None:
        _runtime.shutdown()
    _runtime = None
