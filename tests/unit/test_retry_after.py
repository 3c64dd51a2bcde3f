"""Reading `Retry-After` and choosing retry delays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from thrixel_blender.client._http import RetryPolicy, backoff_delay, parse_retry_after

NOW = datetime(2026, 4, 20, 14, 0, 0, tzinfo=UTC)


def test_seconds_form() -> None:
    assert parse_retry_after("120", now=NOW) == 120.0


def test_http_date_form() -> None:
    assert parse_retry_after("Mon, 20 Apr 2026 14:01:30 GMT", now=NOW) == 90.0


def test_date_in_past_gives_zero() -> None:
    assert parse_retry_after("Mon, 20 Apr 2026 13:00:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3"])
def test_unreadable_values_give_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, initial_delay=1.0, max_delay=8.0)
    for attempt in range(10):
        delay = backoff_delay(attempt, policy)
        ceiling = min(8.0, 2.0**attempt)
        assert ceiling / 2 <= delay <= ceiling
