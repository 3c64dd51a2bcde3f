"""HTTP transport: one `send()` that maps every failure into the client's errors and retries.

Runs on whichever thread calls it and keeps no state of its own; the caller passes the
`requests.Session`. Retries wait on the caller's cancel event, so a cancel ends a backoff at
once.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3

from . import errors
from .routes import WORK_ROUTES, Route

log = logging.getLogger(__name__)

# The connect timeout sits just over a multiple of three seconds, as the requests docs advise,
# because TCP retransmits the first packet after three seconds. The read timeout bounds one
# wait for bytes, not a whole download, and leaves room for a busy service.
CONNECT_TIMEOUT = 6.1
READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a call that failed for a transient reason."""

    max_retries: int = 3
    initial_delay: float = 0.5
    """Seconds before the first retry; doubles each attempt."""
    max_delay: float = 30.0
    """Maximum single wait, also the maximum `Retry-After` the client waits out by itself."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Return the delay in seconds that a `Retry-After` header requests.

    The header contains either a number of seconds or an HTTP date. Returns None when the header
    is missing or unreadable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def backoff_delay(attempt: int, policy: RetryPolicy) -> float:
    """Exponential backoff with full jitter for retry number `attempt` (0-based)."""
    ceiling = min(policy.max_delay, policy.initial_delay * (2**attempt))
    return random.uniform(ceiling / 2, ceiling)


API_PATH_SUFFIX = "/api/v1"
"""Path suffix of the documented base URL, named when a response shows the base URL is wrong."""


def error_from_response(
    route: Route, response: requests.Response, *, key_source: str = ""
) -> errors.ThrixelError:
    """Map an error response to the client's error class, with the service's own words.

    `key_source` names where the API key came from, for the message of a 401.
    """
    status = response.status_code
    request_id = response.headers.get("X-Request-ID")
    body = response.text[:2000] if response.content is not None else ""
    detail, field = _read_error_body(response)
    reason = detail or f"HTTP {status}"
    fields: dict[str, Any] = {"status": status, "request_id": request_id, "body": body}
    if response.is_redirect:
        return _redirect_error(route, response, fields)
    if status in (400, 422):
        if field:
            return errors.ValidationError(
                f"The service rejected {field}: {reason}",
                field=field,
                fix=f"Fix {field} and try again",
                **fields,
            )
        return errors.ValidationError(
            f"The service rejected the request to {route.operation}: {reason}",
            fix="Check the values you entered and try again",
            **fields,
        )
    if status == 401:
        source = key_source or "the client settings"
        return errors.AuthError(
            f"The service rejected the API key from {source}: {reason.rstrip('.')}",
            fix=f"Check the key in {source}",
            **fields,
        )
    if status == 403:
        return errors.ForbiddenError(f"This API key may not {route.operation}: {reason}", **fields)
    if status in (404, 405):
        if route.inferred:
            return errors.NotFoundError(
                f"The service does not offer {route.method} {route.path} to {route.operation} "
                f"(HTTP {status}): {reason}",
                fix="The add-on's reading of this call may be out of date: check for an update",
                **fields,
            )
        if status == 405 or not _is_service_error(response):
            status_line = f"HTTP {status} {response.reason or ''}".strip()
            return errors.BaseURLError(
                f"Could not {route.operation}: {_shown_url(response.url)} is not an address of "
                f"the Thrixel API ({status_line})",
                fix=f"Check the base URL: it normally ends in {API_PATH_SUFFIX}",
                **fields,
            )
        return errors.NotFoundError(f"Could not {route.operation}: {reason}", **fields)
    if status == 409:
        return errors.ConflictError(f"Could not {route.operation} yet: {reason}", **fields)
    if status == 410:
        return errors.GoneError(f"Could not {route.operation}: {reason}", **fields)
    if status == 413:
        return errors.PayloadTooLargeError(
            f"The upload is larger than the service accepts: {reason}", **fields
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return errors.RateLimitedError(
            f"Rate limited while trying to {route.operation}: {reason}",
            retry_after=retry_after,
            **fields,
        )
    if status >= 500:
        return errors.ServerError(
            f"The service failed to {route.operation} (HTTP {status}): {reason}", **fields
        )
    return errors.InvalidResponseError(
        f"Unexpected response to {route.operation} (HTTP {status}): {reason}", **fields
    )


def _redirect_error(
    route: Route, response: requests.Response, fields: dict[str, Any]
) -> errors.BaseURLError:
    """Explain a redirect of a call that `send` does not follow (any call but a GET)."""
    location = response.headers.get("Location", "")
    target = _shown_url(urljoin(response.url, location)) if location else "another address"
    return errors.BaseURLError(
        f"The service redirected the request to {route.operation} to {target} "
        f"(HTTP {response.status_code}), so the base URL is probably wrong",
        fix=(
            "Check the base URL: use https:// rather than http:// for a remote service, "
            f"and make sure it ends in {API_PATH_SUFFIX}"
        ),
        **fields,
    )


def _is_service_error(response: requests.Response) -> bool:
    """Whether an error body is the service's own JSON error rather than a generic one.

    A web server, a proxy or a framework that matched no route returns a page or a detail
    that only repeats the status line ("Not Found"). The service's own 404 for an
    unknown id names what it did not find.
    """
    try:
        data = response.json()
    except ValueError:
        return False
    if not isinstance(data, Mapping):
        return False
    for key in ("detail", "error", "message"):
        text = data.get(key)
        if isinstance(text, str) and text.strip():
            generic = {"not found", (response.reason or "").lower()}
            return text.strip().rstrip(".").lower() not in generic
        if key == "detail" and isinstance(text, list):
            return True
    return False


def _shown_url(url: str) -> str:
    """Return `url` without its query and fragment, which may carry tokens."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _read_error_body(response: requests.Response) -> tuple[str, str | None]:
    """Read the error text and the offending field from the body shapes the service may use."""
    try:
        data = response.json()
    except ValueError:
        return _plain_text_excerpt(response), None
    if isinstance(data, Mapping):
        detail = data.get("detail")
        if isinstance(detail, str):
            return detail, None
        if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
            first = detail[0]
            location = first.get("loc")
            field = None
            if isinstance(location, list) and location:
                parts = [str(part) for part in location if part != "body"]
                field = ".".join(parts) or None
            return str(first.get("msg", "invalid value")), field
        for key in ("error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key]), None
    return _plain_text_excerpt(response), None


def _plain_text_excerpt(response: requests.Response) -> str:
    text = response.text.strip()
    if text.lstrip().startswith("<"):
        # A proxy or load balancer error page: name the status instead of showing markup.
        return f"HTTP {response.status_code} {response.reason or ''}".strip()
    return " ".join(text.split())[:200] or f"HTTP {response.status_code}"


def _was_sent(exc: requests.ConnectionError) -> bool:
    """Return whether the request may have reached the server before the connection failed."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    text = repr(exc)
    return not ("NewConnectionError" in text or "Failed to establish" in text)


def map_transport_error(route: Route, url_host: str, exc: requests.RequestException) -> Exception:
    """Turn a `requests` exception into the client's error, without the URL's query."""
    if isinstance(exc, requests.exceptions.SSLError):
        return errors.CertificateError(
            f"The TLS certificate of {url_host} could not be verified. If your network "
            "inspects TLS, set the CA bundle path in the add-on preferences or the "
            "REQUESTS_CA_BUNDLE environment variable"
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        return errors.ThrixelConnectionError(
            f"The proxy refused the connection to {url_host}: check HTTPS_PROXY and NO_PROXY"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return errors.RequestTimeoutError(f"Timed out while trying to {route.operation}")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return errors.ThrixelConnectionError(
            f"The connection dropped while trying to {route.operation}"
        )
    if isinstance(exc, requests.ConnectionError) and _is_read_timeout(exc):
        # requests reports a read timeout during a streamed body as a connection error.
        return errors.RequestTimeoutError(
            f"The service stopped sending data while trying to {route.operation}"
        )
    if isinstance(exc, requests.ConnectionError):
        if _was_sent(exc):
            return errors.ThrixelConnectionError(
                f"The connection to {url_host} dropped while trying to {route.operation}"
            )
        return _NotSentError(f"Could not connect to {url_host}: is the service reachable?")
    return errors.ThrixelConnectionError(f"Could not {route.operation}: {type(exc).__name__}")


def _is_read_timeout(exc: requests.ConnectionError) -> bool:
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, urllib3.exceptions.ReadTimeoutError)


class _NotSentError(errors.ThrixelConnectionError):
    """The connection failed before any byte was sent, so even a submit is safe to retry."""


def send(
    session: requests.Session,
    route: Route,
    url: str,
    *,
    host: str,
    headers: Mapping[str, str],
    proxies: Mapping[str, str],
    verify: bool | str,
    policy: RetryPolicy,
    cancel: threading.Event | None = None,
    stream: bool = False,
    read_timeout: float | None = None,
    key_source: str = "",
    **kwargs: Any,
) -> requests.Response:
    """Send one call with retries and return a successful response.

    Idempotent routes retry on connection failures, timeouts and 5xx; other routes only when the
    request never left the machine. Every route but the submit calls retries a 429. A 429 on a
    submit call, or with a `Retry-After` longer than `policy.max_delay`, is raised at once, so
    the caller can show the wait. `read_timeout`
    defaults to `READ_TIMEOUT`, read at call time. Only GET calls follow redirects, because
    `requests` turns a redirected POST into a GET and drops its body; any other redirect
    raises `BaseURLError`.

    Raises:
        ThrixelError: the mapped failure after the last attempt.
    """
    timeout = (CONNECT_TIMEOUT, READ_TIMEOUT if read_timeout is None else read_timeout)
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            response = session.request(
                route.method,
                url,
                headers=dict(headers),
                proxies=dict(proxies),
                verify=verify,
                stream=stream,
                timeout=timeout,
                allow_redirects=route.method == "GET",
                **kwargs,
            )
        except requests.RequestException as exc:
            failure = map_transport_error(route, host, exc)
        else:
            elapsed_ms = (time.monotonic() - started) * 1000
            log.info(
                "%s %s -> %d in %.0f ms (attempt %d)",
                route.method,
                route.path,
                response.status_code,
                elapsed_ms,
                attempt + 1,
            )
            if response.ok and not response.is_redirect:
                return response
            failure = error_from_response(route, response, key_source=key_source)
            response.close()

        delay = _retry_delay(route, failure, attempt, policy)
        if delay is None:
            if isinstance(failure, _NotSentError):
                raise errors.ThrixelConnectionError(failure.message) from failure
            raise failure
        log.warning(
            "%s %s failed (%s); retry %d of %d in %.1f s",
            route.method,
            route.path,
            failure,
            attempt + 1,
            policy.max_retries,
            delay,
        )
        if cancel is not None and cancel.wait(delay):
            raise errors.CancelledError(f"Cancelled while waiting to {route.operation}")
        if cancel is None:
            time.sleep(delay)
        attempt += 1


def _retry_delay(
    route: Route, failure: Exception, attempt: int, policy: RetryPolicy
) -> float | None:
    if attempt >= policy.max_retries:
        return None
    if isinstance(failure, errors.RateLimitedError):
        # A 429 means the service did nothing, so any call is safe to repeat. Calls that start
        # work are left to the job runner, which shows the wait on the job instead.
        if route in WORK_ROUTES:
            return None
        if failure.retry_after is None:
            return backoff_delay(attempt, policy)
        if failure.retry_after > policy.max_delay:
            return None
        return failure.retry_after
    if isinstance(failure, _NotSentError):
        return backoff_delay(attempt, policy)
    if not route.idempotent:
        return None
    if isinstance(failure, errors.ThrixelError) and failure.transient:
        if isinstance(failure, errors.CertificateError):
            return None
        return backoff_delay(attempt, policy)
    return None


def decode_json(route: Route, response: requests.Response) -> dict[str, Any]:
    """Return the JSON object of a successful response, or raise `InvalidResponseError`."""
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        excerpt = _plain_text_excerpt(response)
        raise errors.InvalidResponseError(
            f"The response to {route.operation} is not JSON: {excerpt}",
            status=response.status_code,
        ) from exc
    if not isinstance(data, dict):
        raise errors.InvalidResponseError(
            f"The response to {route.operation} is not a JSON object", status=response.status_code
        )
    return data
