"""The add-on's one log handler, with a filter that masks API keys as a safety net.

Code never logs a key on purpose; the filter catches the accident (a key inside an exception
text, a header dump). It masks anything shaped like a Thrixel key or a bearer token, plus the
exact keys the add-on has read from its settings, which may have another shape.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

_KEY_PATTERN = re.compile(r"sk-thrixel-[A-Za-z0-9._~+/=-]+")
_BEARER_PATTERN = re.compile(r"(Bearer\s+)[^\s'\"]+", re.IGNORECASE)
_MASK = "****"

_known_secrets: set[str] = set()
_handler: logging.Handler | None = None
_logger_name: str | None = None


def remember_secret(secret: str) -> None:
    """Add `secret` to the values masked in every log line and user message."""
    if len(secret) >= 4:
        _known_secrets.add(secret)


def mask_secrets(text: str) -> str:
    """Return `text` with API keys and bearer tokens replaced by a mask."""
    for secret in sorted(_known_secrets, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    text = _KEY_PATTERN.sub("sk-thrixel-" + _MASK, text)
    return _BEARER_PATTERN.sub(r"\g<1>" + _MASK, text)


class SecretMaskingFilter(logging.Filter):
    """Rewrite each record's message and exception text with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_secrets(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        return True


def install(logger_name: str, stream: TextIO | None = None) -> logging.Handler:
    """Attach the add-on's handler to `logger_name` (the package's logger) and return it."""
    global _handler, _logger_name
    uninstall()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMaskingFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    # Records stop here, so no handler outside this one receives them unmasked.
    logger.propagate = False
    _handler, _logger_name = handler, logger_name
    return handler


def uninstall() -> None:
    """Detach the handler that `install` attached, if any."""
    global _handler, _logger_name
    if _handler is not None and _logger_name is not None:
        logging.getLogger(_logger_name).removeHandler(_handler)
        _handler.close()
    _handler, _logger_name = None, None


def current_handler() -> logging.Handler | None:
    """Return the installed handler; tests point its stream at a buffer to read the log."""
    return _handler
