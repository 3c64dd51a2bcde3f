"""The published models the gallery starts with: three trees of variations on a prompt."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from .store import GalleryItem

GALLERY_NAMESPACE = uuid.UUID("6f1c2a8e-4b7d-4f3a-9c1e-2d5b8a7e0f41")
"""Namespace for the items' uuid5 ids, so an item keeps its id across server starts."""
FIRST_PUBLISHED = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

# (name, parent name, prompt), parents before their children.
SEED: tuple[tuple[str, str | None, str], ...] = (
    ("Stone Gargoyle", None, "a stone gargoyle holding a lantern"),
    ("Winged Gargoyle", "Stone Gargoyle", "a stone gargoyle with wings holding a lantern"),
    ("Horned Gargoyle", "Winged Gargoyle", "a stone gargoyle with wings and horns"),
    ("Bronze Gargoyle", "Stone Gargoyle", "a bronze gargoyle on a pedestal"),
    ("Clockwork Robot", None, "a steel robot"),
    ("Robot Knight", "Clockwork Robot", "a steel robot with a sword and a shield"),
    ("Golden Robot Knight", "Robot Knight", "a gold robot with a sword and a shield"),
    ("Garden Gnome", None, "a clay gnome with a hat"),
    ("Lamplighter Gnome", "Garden Gnome", "a clay gnome with a hat holding a lantern"),
)


def item_id(name: str) -> str:
    return str(uuid.uuid5(GALLERY_NAMESPACE, name))


def seed_gallery() -> list[GalleryItem]:
    """Return new items for the seed, one hour apart. Their files are made on first download."""
    return [
        GalleryItem(
            id=item_id(name),
            name=name,
            parent_id=item_id(parent) if parent else None,
            prompt=prompt,
            created_at=FIRST_PUBLISHED + timedelta(hours=position),
        )
        for position, (name, parent, prompt) in enumerate(SEED)
    ]
