"""Connection settings of the client and the checks on the base URL."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ._http import RetryPolicy
from .errors import ValidationError

DEFAULT_BASE_URL = "https://api.thrixel.com/api/v1"

_LOOPBACK_NO_PROXY = "localhost,127.0.0.0/8,::1"


def is_loopback_host(host: str) -> bool:
    """Return whether `host` names this machine: `localhost`, 127.0.0.0/8 or ::1."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise `ValidationError`.

    Plain `http://` is accepted only for loopback hosts, where the key never crosses a network.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError(
            f"Base URL {text!r} is not a web address: use one like {DEFAULT_BASE_URL}",
            field="base_url",
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValidationError(
            f"Base URL {text!r} uses plain http:// for a host that is not this machine, which "
            "would send the API key unencrypted: use https://",
            field="base_url",
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValidationError(
            f"Base URL {text!r} must not contain a query, a fragment or credentials",
            field="base_url",
        )
    return text.rstrip("/")


@dataclass(frozen=True)
class ClientConfig:
    """Everything a client needs, captured on the main thread and handed to workers."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    """Bearer token; kept out of `repr` so it never lands in a log or a traceback."""
    ca_bundle: str | None = None
    """Path of a CA bundle for TLS verification; None uses the system's default bundle."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = "thrixel-blender"
    key_source: str = ""
    """Where the key came from, such as "the THRIXEL_API_KEY environment variable", named in
    the message for a missing or rejected key. Empty when the caller gives no source."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def verify(self) -> bool | str:
        """TLS verification: always on, with the configured CA bundle when there is one."""
        return self.ca_bundle if self.ca_bundle else True

    @property
    def proxies(self) -> dict[str, str]:
        """Per-request proxy settings: the environment's, with loopback always bypassed."""
        environment = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
        merged = ",".join(part for part in (environment, _LOOPBACK_NO_PROXY) if part)
        return {"no_proxy": merged}
