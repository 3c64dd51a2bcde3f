"""Build the FastAPI application: every router mounted the same way over one store."""

from __future__ import annotations

import logging

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import compile_path

from .config import ServerConfig
from .gallery_seed import seed_gallery
from .middleware import RawSendCapture, RouteTable, ThrixelMiddleware
from .routes import ADMIN_ROUTERS, API_ROUTERS
from .store import Store

API_PREFIX = "/api/v1"
ADMIN_PREFIX = "/_test"

log = logging.getLogger(__name__)


def create_app(config: ServerConfig | None = None) -> FastAPI:
    config = config or ServerConfig()
    app = FastAPI(
        title="Thrixel local server",
        docs_url="/_docs",
        redoc_url=None,
        openapi_url="/_openapi.json",
    )
    app.state.store = Store(
        config=config,
        startup_config=config.copy(),
        gallery_seed=seed_gallery(),
    )
    app.state.store.reset()
    # Admin routes first: their fixed paths must win over `/{submission_id}/...`.
    for router in ADMIN_ROUTERS:
        app.include_router(router, prefix=ADMIN_PREFIX)
    route_table: RouteTable = []
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
        route_table += named_routes(router, API_PREFIX)
    app.add_middleware(ThrixelMiddleware, fastapi_app=app, route_table=route_table)
    return app


def create_asgi_app(config: ServerConfig | None = None) -> RawSendCapture:
    """Return the application as uvicorn should run it, able to drop connections for faults."""
    return RawSendCapture(create_app(config))


def named_routes(router: APIRouter, prefix: str) -> RouteTable:
    table: RouteTable = []
    for route in router.routes:
        if isinstance(route, APIRoute):
            pattern, _, _ = compile_path(prefix + route.path)
            table.append((pattern, set(route.methods or ()), route.name))
    return table
