"""One router per page of the API docs, plus the test hooks; `app.py` mounts them all."""

from fastapi import APIRouter

from . import admin, detail, download, gallery, organize, progress, upload, workflow

API_ROUTERS: tuple[APIRouter, ...] = (
    workflow.router,
    upload.router,
    progress.router,
    detail.router,
    download.router,
    organize.router,
    gallery.router,
)
"""Routers mounted under /api/v1, in docs order."""
ADMIN_ROUTERS: tuple[APIRouter, ...] = (admin.router,)
"""Routers for the test hooks, mounted under /_test."""
