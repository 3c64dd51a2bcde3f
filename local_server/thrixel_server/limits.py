"""Per-key rate limits on the calls that start work, with the documented defaults.

Three limits apply to each API key: active (queued or processing) submissions, submissions in
the rolling hour and submissions in the rolling 24 hours. Only accepted submissions count, and
only the submit calls check the limits: phase 1, 2, 3 and 5 and the three detailer calls.
A rejected call gets a 429 response with Retry-After in whole seconds.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException

from .auth import OwnerDep, StoreDep
from .store import Store, utc_now

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class Usage:
    active: int
    last_hour: int
    last_day: int


def submit_times(store: Store, owner: str, now: datetime) -> list[datetime]:
    """Return the owner's submit times of the last 24 hours, dropping older ones."""
    times = [t for t in store.submit_times.get(owner, []) if now - t < DAY]
    store.submit_times[owner] = times
    return times


def usage(store: Store, owner: str, now: datetime | None = None) -> Usage:
    now = now or utc_now()
    times = submit_times(store, owner, now)
    active = sum(1 for s in store.submissions.values() if s.owner == owner and not s.is_terminal)
    return Usage(active, sum(1 for t in times if now - t < HOUR), len(times))


def seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def active_wait(store: Store, owner: str, now: datetime) -> int:
    """Estimate the seconds until the oldest active submission ends, from the pace settings."""
    config = store.config
    run_time = timedelta(seconds=config.step_seconds * (max(1, config.progress_steps) + 1))
    started = min(
        (
            s.created_at
            for s in store.submissions.values()
            if s.owner == owner and not s.is_terminal
        ),
        default=now,
    )
    return seconds_until(started + run_time, now)


def broken_limits(store: Store, owner: str, now: datetime) -> list[tuple[int, str]]:
    """Return (seconds to wait, reason) for each limit that one more submission would break."""
    config = store.config
    current = usage(store, owner, now)
    times = submit_times(store, owner, now)
    broken: list[tuple[int, str]] = []
    if current.active >= config.max_active:
        reason = (
            f"{current.active} of {config.max_active} active submissions (queued or processing)"
        )
        broken.append((active_wait(store, owner, now), reason))
    if current.last_hour >= config.per_hour:
        # One more is allowed once all but per_hour - 1 of them have left the window.
        in_hour = [t for t in times if now - t < HOUR]
        oldest = in_hour[len(in_hour) - config.per_hour] if config.per_hour else now
        reason = f"{current.last_hour} of {config.per_hour} submissions in the last hour"
        broken.append((seconds_until(oldest + HOUR, now), reason))
    if current.last_day >= config.per_day:
        oldest = times[len(times) - config.per_day] if config.per_day else now
        reason = f"{current.last_day} of {config.per_day} submissions in the last 24 hours"
        broken.append((seconds_until(oldest + DAY, now), reason))
    return broken


def check_submit_quota(store: Store, owner: str) -> None:
    """Raise 429 when one more submission would break one of the key's limits."""
    if not store.config.rate_limits:
        return
    broken = broken_limits(store, owner, utc_now())
    if not broken:
        return
    wait = max(seconds for seconds, _ in broken)
    reasons = "; ".join(reason for _, reason in broken)
    log.info("Rate limited owner %s: %s", owner, reasons)
    raise HTTPException(
        429,
        f"Rate limit reached for this API key: {reasons}. Retry after {wait} s.",
        headers={"Retry-After": str(wait)},
    )


async def require_submit_quota(owner: OwnerDep, store: StoreDep) -> str:
    """Dependency of the submit routes: the key's owner, once the limits allow one more.

    It is async so that it runs on the event loop with the handlers, not in a worker thread.
    """
    check_submit_quota(store, owner)
    return owner


SubmitOwnerDep = Annotated[str, Depends(require_submit_quota)]
