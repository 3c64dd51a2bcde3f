"""Bearer API-key authentication and the store dependency shared by every router."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from .store import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def require_owner(request: Request, store: Annotated[Store, Depends(get_store)]) -> str:
    """Return the owner name of the request's API key; raise 401 when it is missing or invalid."""
    header = request.headers.get("authorization")
    challenge = {"WWW-Authenticate": "Bearer"}
    if not header:
        raise HTTPException(401, "Missing API key: send 'Authorization: Bearer <key>'.", challenge)
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(
            401, "Malformed Authorization header: expected 'Bearer <key>'.", challenge
        )
    owner = store.owner_for_key(key.strip())
    if owner is None:
        raise HTTPException(401, "Invalid API key.", challenge)
    request.state.owner = owner
    return owner


StoreDep = Annotated[Store, Depends(get_store)]
OwnerDep = Annotated[str, Depends(require_owner)]
