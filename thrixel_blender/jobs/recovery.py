"""Submit without duplicates: find the submission that an unanswered submit may have created.

A submit whose connection dropped after the request was sent, or whose response timed out,
may or may not have created a submission, and the service offers no idempotency key. Sending
it again could start the same paid work twice, so these helpers first look for a matching new
submission in the key's submission list. Runs on worker threads; no `bpy`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from ..client import SubmissionInfo, SubmitResult, ThrixelClient
from ..client import errors as client_errors

log = logging.getLogger(__name__)

CLOCK_MARGIN = timedelta(seconds=120)
"""How much earlier than the local send time a submission may be dated and still match.

The service dates submissions by its own clock, which may run behind this machine's."""
LOOKUP_LIMIT = 20
"""Newest submissions read from the list when looking for an unanswered submit's result."""

Matcher = Callable[[SubmissionInfo], bool]
"""Whether a submission's info shows the request that was sent."""


def maybe_created(error: client_errors.ThrixelError) -> bool:
    """Return whether a submit that failed with `error` may have created a submission.

    True for a dropped connection and a timed-out response. A connection that never opened
    sent nothing but has the same error class as a drop, so it is checked as well (and the
    check then fails the same way). A certificate failure sent nothing.
    """
    if isinstance(error, client_errors.CertificateError):
        return False
    return isinstance(
        error, (client_errors.ThrixelConnectionError, client_errors.RequestTimeoutError)
    )


def parse_timestamp(text: str | None) -> datetime | None:
    """Read an ISO 8601 timestamp such as "2026-04-20T14:32:11Z"; None when unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def find_submitted(
    client: ThrixelClient,
    *,
    since: datetime,
    matches: Matcher,
    exclude: Collection[str] = (),
    cancel: threading.Event | None = None,
) -> SubmitResult | None:
    """Return the newest submission created after `since` whose info `matches`, or None.

    Submissions in `exclude` (those the open file already follows) never match.

    Raises:
        ThrixelError: the list or an info call failed, so the outcome is unknown.
    """
    earliest = since - CLOCK_MARGIN
    for row in client.list_submissions(limit=LOOKUP_LIMIT, cancel=cancel):
        if row.submission_id in exclude:
            continue
        created = parse_timestamp(row.created_at)
        if created is None or created < earliest:
            continue
        info = client.get_info(row.submission_id, cancel=cancel)
        # A failed submission is never taken over: its Retry must make a new one.
        if info.status != "failed" and matches(info):
            return SubmitResult(
                submission_id=info.submission_id,
                status=info.status,
                created_at=info.created_at,
                raw=dict(info.raw),
            )
    return None


def submit_once(
    client: ThrixelClient,
    cancel: threading.Event,
    *,
    submit: Callable[[], SubmitResult],
    matches: Matcher,
    exclude: Collection[str] = (),
    adopt_since: datetime | None = None,
) -> SubmitResult:
    """Run `submit` unless an earlier attempt already created the submission.

    `adopt_since` is when an earlier attempt of the same job was sent (for a Retry). A matching
    submission created after it is taken instead of submitting again. When `submit` fails in a
    way that may have created the submission, the list is checked once more.

    Raises:
        ThrixelError: the submit failed and no submission it may have created was found.
    """
    if adopt_since is not None:
        found = find_submitted(
            client, since=adopt_since, matches=matches, exclude=exclude, cancel=cancel
        )
        if found is not None:
            log.info("Taking over submission %s from an earlier attempt", found.submission_id)
            return found

    sent_at = datetime.now(UTC)
    try:
        return submit()
    except client_errors.ThrixelError as error:
        if not maybe_created(error):
            raise
        log.warning("The submit got no response (%s); checking whether it arrived", error)
        try:
            found = find_submitted(
                client, since=sent_at, matches=matches, exclude=exclude, cancel=cancel
            )
        except client_errors.ThrixelError as lookup_error:
            log.warning("Could not check for the submission: %s", lookup_error)
            raise error from None
        if found is None:
            raise
        log.info("The unanswered submit created submission %s", found.submission_id)
        return found


def parameters_matcher(phase: int, parent_id: str, body: dict[str, Any]) -> Matcher:
    """Return a matcher for a submission of `phase` on `parent_id` made from `body`.

    Every field of `body` that the service echoes in the info's parameters must be equal.
    """

    def matches(info: SubmissionInfo) -> bool:
        if info.phase != phase or info.parent_submission_id != parent_id:
            return False
        parameters = info.raw.get("parameters")
        if not isinstance(parameters, dict):
            return True
        return all(parameters[key] == value for key, value in body.items() if key in parameters)

    return matches


def upload_matcher(file_name: str, task: str | None, size: int | None) -> Matcher:
    """Return a matcher for the phase 5 upload of the file `file_name` labelled `task`.

    The service reports the uploaded file's name and size where it can (the submit response
    has both, and the local server's /info too). The name is unique per export, so it decides
    when present. Otherwise the task label must be equal, and the size too when both are known.
    """

    def matches(info: SubmissionInfo) -> bool:
        if info.phase != 5:
            return False
        reported_name = info.raw.get("original_filename")
        if isinstance(reported_name, str) and reported_name:
            return reported_name == file_name
        if info.input.get("task") != task:
            return False
        reported_size = info.raw.get("file_size_bytes")
        return size is None or not isinstance(reported_size, int) or reported_size == size

    return matches


def task_matcher(phase: int, task: str | None) -> Matcher:
    """Return a matcher for a submission of `phase` whose input contains `task`."""

    def matches(info: SubmissionInfo) -> bool:
        return info.phase == phase and info.input.get("task") == task

    return matches
