"""The service's per-key limits, as far as this add-on can estimate them, and the local hold.

The service counts submissions (the calls that start work) against three limits: active jobs,
requests per rolling hour and per rolling day. Plans differ per key and the service does not
report them, so the documented defaults (3, 10, 50) are only the starting estimate. Usage comes
from the submissions listing (which includes work started elsewhere) plus the submissions this
add-on sent since.

`gated_submit` wraps a submit function so that, on the worker thread, it waits here while the
active-job estimate is at the limit, and turns a 429 response into a wait and a new attempt
instead of a failure. Everything here is thread-safe and free of bpy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .client import SubmitResult, ThrixelClient
from .client import errors as client_errors

log = logging.getLogger(__name__)

HOUR_SECONDS = 3600.0
DAY_SECONDS = 86400.0
MAX_HOLD_SECONDS = 120.0
"""Longest a submission waits for the active-job estimate to drop before it is sent anyway.
The estimate can be stale (work started elsewhere may have finished), and the service's own
429 response is then the authority."""
RATE_LIMIT_ATTEMPTS = 40
FALLBACK_DELAYS = (15.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds to wait after a 429 without `Retry-After`, growing with each attempt."""
HOLD_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Limits:
    active: int = 3
    hourly: int = 10
    daily: int = 50


DOCUMENTED_DEFAULTS = Limits()


@dataclass(frozen=True)
class Wait:
    """A submission held on this machine, and why."""

    key: str
    reason: str
    """"slot" while the active-job limit is reached, "rate" after a 429 response."""
    until: float | None
    """POSIX time of the next attempt after a 429; None while waiting for a slot."""

    def remaining(self, now: float) -> float | None:
        return None if self.until is None else max(0.0, self.until - now)

    def describe(self, limits: Limits, now: float) -> str:
        remaining = self.remaining(now)
        if remaining is None:
            return (
                f"Waiting here: {limits.active} of {limits.active} jobs are active. "
                "Sending when one finishes"
            )
        return f"Rate limited by the service. Sending again in {format_wait(remaining)}"


@dataclass(frozen=True)
class Usage:
    """Usage figures and waits for the limits panel."""

    active: int
    last_hour: int
    last_day: int
    limits: Limits
    waits: tuple[Wait, ...]
    rate_limited_at: float | None

    @property
    def at_active_limit(self) -> bool:
        return self.active >= self.limits.active


def format_wait(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class UsageTracker:
    """Estimates of the three limits and the submissions held on this machine."""

    def __init__(self, limits: Limits = DOCUMENTED_DEFAULTS) -> None:
        self._lock = threading.Lock()
        self.limits = limits
        self._local_submits: list[float] = []
        self._listed: list[float] = []
        self._listed_at: float | None = None
        self._listed_active = 0
        self._local_active = 0
        self._waits: dict[str, Wait] = {}
        self._rate_limited_at: float | None = None

    # Inputs.

    def note_submit(self, at: float | None = None) -> None:
        """Count one submission this add-on sent."""
        with self._lock:
            self._local_submits.append(time.time() if at is None else at)
            self._local_active += 1
            self._prune(time.time())

    def observe_listing(
        self, created: Iterable[float | None], active: int, at: float | None = None
    ) -> None:
        """Take the creation times and active count of an unfiltered submissions listing."""
        with self._lock:
            self._listed = [moment for moment in created if moment is not None]
            self._listed_at = time.time() if at is None else at
            self._listed_active = active
            self._prune(self._listed_at)

    def set_local_active(self, count: int) -> None:
        """Set how many submissions this add-on follows that are queued or processing."""
        with self._lock:
            self._local_active = count

    # Waits.

    def hold(self, key: str) -> None:
        with self._lock:
            self._waits[key] = Wait(key, "slot", None)

    def wait_for_rate_limit(self, key: str, seconds: float) -> None:
        with self._lock:
            now = time.time()
            self._waits[key] = Wait(key, "rate", now + seconds)
            self._rate_limited_at = now

    def release(self, key: str) -> None:
        with self._lock:
            self._waits.pop(key, None)

    def wait_of(self, key: str) -> Wait | None:
        with self._lock:
            return self._waits.get(key)

    # Outputs.

    def active_estimate(self) -> int:
        with self._lock:
            return self._active()

    def usage(self, now: float | None = None) -> Usage:
        now = time.time() if now is None else now
        with self._lock:
            return Usage(
                active=self._active(),
                last_hour=self._count_since(now - HOUR_SECONDS),
                last_day=self._count_since(now - DAY_SECONDS),
                limits=self.limits,
                waits=tuple(self._waits.values()),
                rate_limited_at=self._rate_limited_at,
            )

    def _active(self) -> int:
        # Work started elsewhere shows only in the listing, and work this add-on started after
        # the listing only in the local count, so the larger of the two is the safer estimate.
        return max(self._listed_active, self._local_active)

    def _count_since(self, start: float) -> int:
        listed = sum(1 for moment in self._listed if moment >= start)
        after = self._listed_at if self._listed_at is not None else float("-inf")
        local = sum(1 for moment in self._local_submits if moment >= start and moment > after)
        return listed + local

    def _prune(self, now: float) -> None:
        start = now - DAY_SECONDS
        self._local_submits = [moment for moment in self._local_submits if moment >= start]


SubmitFunction = Callable[[ThrixelClient, threading.Event], SubmitResult]


def gated_submit(tracker: UsageTracker, key: str, submit: SubmitFunction) -> SubmitFunction:
    """Wrap `submit` so that it waits for a free slot and outlasts 429 responses.

    `key` names the wait in `tracker` (the job record's id), so the main thread can show it.
    Raises CancelledError when `cancel` is set while waiting, and RateLimitedError after
    `RATE_LIMIT_ATTEMPTS` refusals in a row.
    """

    def run(client: ThrixelClient, cancel: threading.Event) -> SubmitResult:
        try:
            _hold_for_slot(tracker, key, cancel)
            for attempt in range(RATE_LIMIT_ATTEMPTS):
                try:
                    result = submit(client, cancel)
                except client_errors.RateLimitedError as error:
                    # The service did not take the request, so sending it again cannot
                    # create a second submission.
                    delay = error.retry_after
                    if delay is None:
                        delay = FALLBACK_DELAYS[min(attempt, len(FALLBACK_DELAYS) - 1)]
                    log.info("Submission %s rate limited; next attempt in %.0f s", key, delay)
                    tracker.wait_for_rate_limit(key, delay)
                    _sleep(cancel, delay)
                    continue
                tracker.note_submit()
                return result
        finally:
            tracker.release(key)
        raise client_errors.RateLimitedError(
            f"The service rejected the request {RATE_LIMIT_ATTEMPTS} times for its rate limit"
        )

    return run


def _hold_for_slot(tracker: UsageTracker, key: str, cancel: threading.Event) -> None:
    deadline = time.monotonic() + MAX_HOLD_SECONDS
    while tracker.active_estimate() >= tracker.limits.active:
        if time.monotonic() >= deadline:
            log.info("Sending %s although the active-job estimate is at the limit", key)
            return
        tracker.hold(key)
        _sleep(cancel, HOLD_POLL_SECONDS)
    tracker.release(key)


def _sleep(cancel: threading.Event, seconds: float) -> None:
    if cancel.wait(seconds):
        raise client_errors.CancelledError("Cancelled while waiting to send")


_tracker: UsageTracker | None = None


def tracker() -> UsageTracker:
    """Return the add-on's tracker, created on first use."""
    global _tracker
    if _tracker is None:
        _tracker = UsageTracker()
    return _tracker


def reset() -> None:
    global _tracker
    _tracker = None
