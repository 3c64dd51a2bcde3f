"""Library requests in the background: listings, thumbnails, organising, downloads.

They run on a job runner of their own, so a refresh of the submissions list never waits behind
generation jobs that hold the main runner's workers for minutes. Each call carries callbacks
that `drain()` runs on the main thread, which the pump calls on every tick. A call the service
rate limits waits on its worker and is sent again; `waits()` lists those waits for the panels.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import runtime
from .client.errors import CancelledError, ThrixelError
from .jobs import JobEvent, JobRunner
from .jobs.events import CallFunction
from .limits import format_wait

log = logging.getLogger(__name__)

WORKERS = 3
"""Library calls at once: thumbnails and details trickle in while a download runs."""
SHUTDOWN_TIMEOUT = 2.0

ResultHandler = Callable[[Any], None]
FailureHandler = Callable[[str, ThrixelError | None], None]
WaitHandler = Callable[[float], None]
"""Called with the POSIX time of the next attempt when a call waits out a 429 response."""


@dataclass(frozen=True)
class _Pending:
    key: str | None
    on_result: ResultHandler
    on_failure: FailureHandler | None
    on_wait: WaitHandler | None
    area: str | None
    action: str


@dataclass(frozen=True)
class CallWait:
    """A call that the service rate limited, waiting on its worker to be sent again."""

    call_id: str
    area: str | None
    """The library cache area the call reports to, when it has one."""
    action: str
    """Label of the call in the user's words, such as "Refresh Submissions"."""
    until: float
    """POSIX time of the next attempt."""

    def describe(self, now: float) -> str:
        return f"Rate limited by the service. Sending again in {format_wait(self.until - now)}"


class Background:
    """A runner for library calls and the callbacks waiting on them (main thread only)."""

    def __init__(self) -> None:
        self._runner: JobRunner | None = None
        self._pending: dict[str, _Pending] = {}
        self._keys: dict[str, str] = {}
        self._waits: dict[str, CallWait] = {}

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            self._runner = JobRunner(runtime.get().client_for_workers, max_workers=WORKERS)
        return self._runner

    def call(
        self,
        function: CallFunction,
        on_result: ResultHandler,
        on_failure: FailureHandler | None = None,
        *,
        key: str | None = None,
        on_wait: WaitHandler | None = None,
        area: str | None = None,
        action: str = "A background request",
    ) -> str | None:
        """Run `function(client, cancel)` on a worker; returns the call id.

        With a `key`, a second call with the same key while the first runs is not started and
        None is returned, so a panel button pressed twice sends one request. `area` and
        `action` describe the call while it waits out a rate limit (see `waits()`).
        """
        if key is not None and key in self._keys:
            return None
        call_id = uuid.uuid4().hex
        self._pending[call_id] = _Pending(key, on_result, on_failure, on_wait, area, action)
        if key is not None:
            self._keys[key] = call_id
        try:
            self.runner.start_call(call_id, function)
        except BaseException:
            self._forget(call_id)
            raise
        return call_id

    def is_running(self, key: str) -> bool:
        return key in self._keys

    def waits(self, area: str | None = None) -> list[CallWait]:
        """Return the calls waiting out a 429 response, only those of `area` when given."""
        return [wait for wait in self._waits.values() if area is None or wait.area == area]

    def cancel(self, call_id: str) -> bool:
        """Stop a call; its failure handler then reports it cancelled. False when not running."""
        if call_id not in self._pending or self._runner is None:
            return False
        return self._runner.cancel(call_id)

    def busy(self) -> bool:
        return bool(self._pending)

    def drain(self, budget: float) -> int:
        """Run the callbacks of finished calls until the queue is empty or `budget` runs out."""
        if self._runner is None:
            return 0
        applied = 0
        deadline = time.monotonic() + budget
        while applied == 0 or time.monotonic() < deadline:
            try:
                event = self._runner.events.get_nowait()
            except queue.Empty:
                break
            applied += 1
            self._apply(event)
        return applied

    def _apply(self, event: JobEvent) -> None:
        if event.kind == "queued":
            self._apply_wait(event)
            return
        pending = self._forget(event.job_id)
        if pending is None:
            return
        try:
            if event.kind == "result":
                pending.on_result(event.payload)
            elif event.kind in ("failed", "cancelled") and pending.on_failure is not None:
                error = event.error
                if event.kind == "cancelled":
                    error = CancelledError(f"{pending.action} was cancelled")
                pending.on_failure(event.message, error)
            elif event.kind == "failed":
                log.warning("A background request failed: %s", event.message)
        except Exception:
            # One broken callback must not stop the others or the pump.
            log.exception("Applying the result of a background request failed")

    def _apply_wait(self, event: JobEvent) -> None:
        pending = self._pending.get(event.job_id)
        if pending is None or event.retry_after is None:
            return
        until = time.time() + event.retry_after
        self._waits[event.job_id] = CallWait(event.job_id, pending.area, pending.action, until)
        if pending.on_wait is not None:
            try:
                pending.on_wait(until)
            except Exception:
                log.exception("Showing the wait of a background request failed")

    def _forget(self, call_id: str) -> _Pending | None:
        self._waits.pop(call_id, None)
        pending = self._pending.pop(call_id, None)
        if pending is not None and pending.key is not None:
            self._keys.pop(pending.key, None)
        return pending

    def cancel_all(self) -> None:
        if self._runner is not None:
            for call_id in list(self._pending):
                self._runner.cancel(call_id)
        self._pending.clear()
        self._keys.clear()
        self._waits.clear()

    def shutdown(self) -> None:
        runner, self._runner = self._runner, None
        self._pending.clear()
        self._keys.clear()
        self._waits.clear()
        if runner is not None:
            runner.shutdown(timeout=SHUTDOWN_TIMEOUT)


_background: Background | None = None


def get() -> Background:
    global _background
    if _background is None:
        _background = Background()
    return _background


def shutdown() -> None:
    global _background
    if _background is not None:
        _background.shutdown()
    _background = None


class TrickleQueue:
    """Ids waiting for a background fetch, started a few at a time by `feed()` (main thread).

    Thumbnails and details of hundreds of rows are fetched this way, so they never crowd out
    the requests the user starts by pressing a button.
    """

    def __init__(self, max_in_flight: int, start: Callable[[str], bool]) -> None:
        self.max_in_flight = max_in_flight
        self._start = start
        self._wanted: list[str] = []
        self._queued: set[str] = set()
        self.in_flight: set[str] = set()

    def want(self, ids: list[str]) -> None:
        """Queue `ids` in this order, ahead of what waits already."""
        fresh = [item for item in ids if item not in self._queued and item not in self.in_flight]
        self._wanted[:0] = fresh
        self._queued.update(fresh)

    def feed(self) -> None:
        while self._wanted and len(self.in_flight) < self.max_in_flight:
            item = self._wanted.pop(0)
            self._queued.discard(item)
            if self._start(item):
                self.in_flight.add(item)

    def done(self, item: str) -> None:
        self.in_flight.discard(item)

    def pending(self) -> int:
        return len(self._wanted) + len(self.in_flight)

    def clear(self) -> None:
        self._wanted.clear()
        self._queued.clear()
        self.in_flight.clear()
