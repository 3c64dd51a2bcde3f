"""Command line: `python -m thrixel_server --port 8765`."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import socket
import sys

import uvicorn

from .app import create_asgi_app
from .config import ServerConfig

log = logging.getLogger("thrixel_server")


def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = ServerConfig()
    parser = argparse.ArgumentParser(prog="thrixel_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    parser.add_argument(
        "--also-host",
        action="append",
        default=None,
        metavar="HOST",
        help="extra loopback address on the same port, the target of redirect "
        "faults (default 127.0.0.2; pass '' for none)",
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=defaults.step_seconds,
        help="seconds per life-cycle step",
    )
    parser.add_argument(
        "--keepalive-seconds",
        type=float,
        default=defaults.keepalive_seconds,
        help="seconds of stream silence before a keep-alive comment",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=None,
        metavar="KEY[=OWNER]",
        help="accepted API key (repeatable); replaces the built-in test keys",
    )
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="do not enforce the active, hourly and daily limits",
    )
    parser.add_argument(
        "--max-active",
        type=int,
        default=defaults.max_active,
        help="queued or processing submissions allowed per API key",
    )
    parser.add_argument(
        "--per-hour",
        type=int,
        default=defaults.per_hour,
        help="submissions allowed per API key in a rolling hour",
    )
    parser.add_argument(
        "--per-day",
        type=int,
        default=defaults.per_day,
        help="submissions allowed per API key in a rolling 24 hours",
    )
    parser.add_argument("--log-level", default="warning")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> ServerConfig:
    config = ServerConfig(
        step_seconds=args.step_seconds,
        keepalive_seconds=args.keepalive_seconds,
        rate_limits=not args.no_rate_limits,
        max_active=args.max_active,
        per_hour=args.per_hour,
        per_day=args.per_day,
    )
    if args.api_key:
        config.api_keys = {}
        for item in args.api_key:
            key, _, owner = item.partition("=")
            config.api_keys[key] = owner or f"owner{len(config.api_keys) + 1}"
    return config


def loopback_sockets(hosts: list[str], port: int) -> list[socket.socket]:
    """Bind every host to one port; the first host decides the port when `port` is 0."""
    sockets: list[socket.socket] = []
    for host in hosts:
        if not ipaddress.ip_address(host).is_loopback:
            raise SystemExit(f"Refusing to listen on {host}: only loopback addresses are allowed.")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            sock.close()
            if not sockets:
                raise
            log.warning("Could not also listen on %s:%d: %s", host, port, error)
            continue
        port = sock.getsockname()[1]
        sockets.append(sock)
    return sockets


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    extra = ["127.0.0.2"] if args.also_host is None else [h for h in args.also_host if h]
    sockets = loopback_sockets([args.host, *extra], args.port)
    port = sockets[0].getsockname()[1]
    hosts = ", ".join(s.getsockname()[0] for s in sockets)
    # The fixture waits for this line to learn the port.
    sys.stdout.write(f"Thrixel local server listening on {hosts} port {port}\n")
    sys.stdout.flush()
    config = uvicorn.Config(
        create_asgi_app(build_config(args)),
        log_level=args.log_level,
        timeout_graceful_shutdown=1,
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
