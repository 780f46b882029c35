"""STAC items of a tile search into canonical scene records (static catalogs, STAC APIs).

The exact tile, date, cloud and collection checks run client-side on every item, whatever
the server filtered; an item that cannot serve the products is rejected with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pystac
import requests

from raw2ready.archives.provider import SearchQuery, SearchResult
from raw2ready.errors import ItemError
from raw2ready.scene import SceneRecord
from raw2ready.sentinel2.normalize import normalize_item, tile_id

log = logging.getLogger(__name__)


#: What reading one item of an archive can raise (pystac and JSON errors of a broken item).
ITEM_READ_ERRORS = (OSError, ValueError, KeyError, TypeError, AttributeError, pystac.STACError)


@dataclass(frozen=True)
class UnreadableItem:
    """An item of an archive that could not be read: where it is, and why."""

    where: str
    reason: str


def _matches(item: pystac.Item, query: SearchQuery) -> bool:
    """Collection, tile, date and cloud filters applied client-side (cheap, and exact)."""
    if item.collection_id and item.collection_id != query.collection:
        return False
    if item.datetime is None:
        raise ItemError("no datetime")
    if not query.accepts_date(item.datetime.date()):
        return False
    cloud = item.properties.get("eo:cloud_cover")
    if cloud is not None and float(cloud) > query.max_cloud_cover:
        return False
    try:
        return tile_id(item) == query.tile
    except ItemError:
        return False


def read_bytes(href: str) -> bytes:
    """The bytes behind a local path or URL (SAFE metadata fallbacks of normalization)."""
    parsed = urlparse(href)
    if parsed.scheme in ("http", "https"):
        response = requests.get(href, timeout=60)
        response.raise_for_status()
        return response.content
    return Path(parsed.path if parsed.scheme == "file" else href).read_bytes()


def normalize_all(
    items: Iterable[pystac.Item | UnreadableItem], query: SearchQuery
) -> SearchResult:
    """Normalize the items that match the query; an unreadable or unusable item is rejected
    with its reason (one line in the log) and costs only its scene."""
    records: list[SceneRecord] = []
    rejected: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, UnreadableItem):
            log.warning("skipping %s: %s", item.where, item.reason)
            rejected.append((item.where, item.reason))
            continue
        try:
            if not _matches(item, query):
                continue
            records.append(normalize_item(item, query.bands, read_metadata=read_bytes))
        except (ItemError, *ITEM_READ_ERRORS) as exc:
            reason = str(exc) if isinstance(exc, ItemError) else f"{type(exc).__name__}: {exc}"
            log.warning("skipping %s: %s", item.id, reason)
            rejected.append((item.id, reason))
    ordered = sorted(records, key=lambda r: (r.datetime, r.id))
    return SearchResult(ordered, rejected)
