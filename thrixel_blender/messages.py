"""Turn any failure into the one message the user reads, the same way in every operator."""

from __future__ import annotations

import logging

from . import logs
from .client import errors

log = logging.getLogger(__name__)


def user_message(error: BaseException, *, action: str) -> str:
    """Return a message for `error`: what failed, on which value, what to do next.

    `action` names what the user was doing, such as "Generate". Known errors keep the client's
    or importer's own wording, which already names the value; anything else is logged with
    its traceback and reported without internals. The result never contains an API key.
    """
    if isinstance(error, errors.ThrixelError):
        text = _sentence(error.message) + _hint(error)
    elif isinstance(error, UserFacingError):
        text = _sentence(str(error))
    else:
        log.error("%s failed unexpectedly", action, exc_info=error)
        text = (
            f"{action} failed because of an unexpected error in the add-on. "
            "The details are in the system console."
        )
    return logs.mask_secrets(text)


class UserFacingError(Exception):
    """A failure whose text is already written for the user (import and settings problems)."""


def _hint(error: errors.ThrixelError) -> str:
    if isinstance(error, errors.RateLimitedError):
        if error.retry_after is not None:
            return f" Try again in {max(1, round(error.retry_after))} seconds."
        return " Try again later."
    if isinstance(error, errors.CancelledError):
        return ""
    if isinstance(error, errors.CertificateError):
        return ""
    if error.transient:
        return " Check your network connection and try again."
    return ""


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return "Something failed without a reason."
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."
